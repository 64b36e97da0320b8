package events

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/nanosiem/nano/tests/harness"
)

// The schema on a real cluster (2 shards x 2 replicas of ClickHouse 18.16
// with ZooKeeper): migrations twice, every object on every replica; rows
// inserted through InsertTable reach their shard's replicas, a retried
// block is stored once; a replica that is down while migrations run gets
// the schema when it is back.
func TestSchemaOnCluster(t *testing.T) {
	harness.Servers(t)
	c, conn := harness.StartClusterFor(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	version, err := DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := Engine{Version: version, Database: "nano_cl", Cluster: harness.ClusterName, RetentionDays: 90}
	for i := 0; i < 2; i++ {
		if err := Migrate(ctx, conn, e); err != nil {
			t.Fatalf("migrate run %d: %v", i+1, err)
		}
	}
	for _, n := range c.Nodes() {
		got, err := n.Count(ctx, "SELECT count() FROM system.tables WHERE database = 'nano_cl' AND name IN ('events_local', 'events', 'events_ingest')")
		if err != nil || got != 3 {
			t.Errorf("shard %d replica %d has %d of nano's 3 event tables (%v)", n.Shard, n.Replica, got, err)
		}
	}

	// 1000 events through the insert table, then the same block again (a
	// retry after a lost answer): stored once, spread over both shards,
	// the same on both replicas of each.
	insert := func() error {
		ictx := clickhouse.Context(ctx, clickhouse.WithSettings(e.InsertSettings("batch-1")))
		b, err := conn.PrepareBatch(ictx, InsertSQL(e.InsertTable()))
		if err != nil {
			return err
		}
		var block Block
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		for i := 0; i < 1000; i++ {
			ev := Event{Time: at.Add(time.Duration(i) * time.Millisecond), Tenant: "acme", Feed: "http", Message: fmt.Sprintf("event %d", i), Raw: fmt.Sprintf(`{"n":%d}`, i)}
			block.Add(&ev)
		}
		if err := block.AppendTo(b); err != nil {
			return err
		}
		return b.Send()
	}
	for i := 0; i < 2; i++ {
		if err := insert(); err != nil {
			t.Fatalf("insert %d: %v", i+1, err)
		}
	}
	if err := c.SyncReplicas(ctx, "nano_cl.events_local"); err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, shard := range c.Shards {
		var counts []uint64
		for _, n := range shard {
			got, err := n.Count(ctx, "SELECT count() FROM nano_cl.events_local")
			if err != nil {
				t.Fatal(err)
			}
			counts = append(counts, got)
		}
		if counts[0] != counts[1] || counts[0] == 0 {
			t.Errorf("shard %d replicas hold %v events: want the same, more than 0", shard[0].Shard, counts)
		}
		total += counts[0]
	}
	if total != 1000 {
		t.Errorf("the shards hold %d events after a block and its retry, want 1000", total)
	}
	if got, err := c.Shards[1][1].Count(ctx, "SELECT count() FROM nano_cl.events"); err != nil || got != 1000 {
		t.Errorf("the Distributed table reads %d events (%v), want 1000", got, err)
	}

	// A replica down while the schema of a new database is migrated: the
	// migration finishes where servers answer and says what is queued; the
	// replica has every table once it is back.
	down := c.Shards[1][1]
	if err := down.Crash(); err != nil {
		t.Fatal(err)
	}
	e2 := e
	e2.Database, e2.DDLTimeout = "nano_late", 2*time.Second
	err = Migrate(ctx, conn, e2)
	var pending *PendingError
	if !errors.As(err, &pending) || len(pending.Statements) == 0 {
		t.Fatalf("migrating with a replica down: %v, want a PendingError", err)
	}
	if err := down.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := down.Count(ctx, "SELECT count() FROM system.tables WHERE database = 'nano_late' AND name IN ('events_local', 'events', 'events_ingest')")
		if err == nil && got == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the returned replica has %d of the 3 tables after 60 s (%v)", got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := Migrate(ctx, conn, e2); err != nil {
		t.Errorf("migrating again with every replica up: %v", err)
	}
}
