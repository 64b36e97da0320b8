package enrich

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
)

// On a real cluster (2 shards x 2 replicas, ZooKeeper) every server holds
// the whole dataset after a load and after the next version swaps in; with
// a server down a load fails and every server keeps the old table.
func TestSyncOnCluster(t *testing.T) {
	harness.Servers(t)
	c, conn := harness.StartClusterFor(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: "enrich_cl", Cluster: harness.ClusterName, DDLTimeout: 3 * time.Second}
	if err := conn.Exec(ctx, "CREATE DATABASE enrich_cl ON CLUSTER "+harness.ClusterName); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Syncer{Conn: conn, Engine: e, Dir: dir}
	file := filepath.Join(dir, "ip.csv")
	everywhere := func(want uint64) {
		t.Helper()
		for _, n := range c.Nodes() {
			got, err := n.Count(ctx, "SELECT count() FROM enrich_cl.enrich_7")
			if err != nil || got != want {
				t.Errorf("shard %d replica %d holds %d rows (%v), want %d", n.Shard, n.Replica, got, err, want)
			}
		}
	}
	v1 := "start_ip,end_ip,country\n1.0.0.0,1.0.0.255,AU\n8.8.8.0,8.8.8.255,US\n"
	if err := os.WriteFile(file, []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	d := Dataset{ID: 7, Name: "ipinfo", Source: file, Format: "csv"}
	if rows, _, err := s.Sync(ctx, d); err != nil || rows != 2 {
		t.Fatalf("first load: %d %v", rows, err)
	}
	everywhere(2)
	if err := os.WriteFile(file, []byte(v1+"9.9.9.0,9.9.9.255,CH\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rows, _, err := s.Sync(ctx, d); err != nil || rows != 3 {
		t.Fatalf("second version: %d %v", rows, err)
	}
	everywhere(3)

	down := c.Shards[1][1]
	if err := down.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Sync(ctx, d); err == nil {
		t.Error("a load with a server down succeeded")
	}
	if err := down.Restart(); err != nil {
		t.Fatal(err)
	}
	everywhere(3)
}
