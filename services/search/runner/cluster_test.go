package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
)

// On a real cluster (2 shards x 2 replicas, ZooKeeper) a search over the
// Distributed table reads every shard from its first replica, the one the
// clickhouse-search Service selects, and finds every event; without
// SearchReplicas ClickHouse spreads the reads over both replicas.
func TestSearchReadsTheSearchReplicas(t *testing.T) {
	harness.Servers(t)
	c, _ := harness.StartClusterFor(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Search connects to the search replica of shard 1.
	conn, err := c.Shards[0][0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: "nano", Cluster: harness.ClusterName}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(e.InsertSettings(""))), events.InsertSQL(e.InsertTable()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		ev := events.Event{Time: base.Add(time.Duration(i) * time.Second), Tenant: "acme", Severity: "error", Message: "boom", Raw: fmt.Sprint(i)}
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncReplicas(ctx, e.LocalTable()); err != nil {
		t.Fatal(err)
	}
	// reads counts, per server, the shard queries it served for searches.
	reads := func() map[[2]int]uint64 {
		out := map[[2]int]uint64{}
		for _, n := range c.Nodes() {
			nc, err := n.Open()
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
				t.Fatal(err)
			}
			nc.Close()
			got, err := n.Count(ctx, "SELECT count() FROM system.query_log WHERE type = 2 AND is_initial_query = 0 AND query LIKE '%events_local%' AND query NOT LIKE '%system.query_log%'")
			if err != nil {
				t.Fatal(err)
			}
			out[[2]int{n.Shard, n.Replica}] = got
		}
		return out
	}
	search := func(r *Runner) {
		for i := 0; i < 20; i++ {
			var rows int
			if _, err := r.Run(ctx, compile(t, "level:error", 1000), func([]any) error { rows++; return nil }); err != nil {
				t.Fatal(err)
			}
			if rows != 200 {
				t.Fatalf("search found %d of 200 events", rows)
			}
		}
	}
	r, err := New(ctx, conn, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	before := reads()
	r.SearchReplicas = true
	search(r)
	after := reads()
	// Shard 1 is read where the search runs (its search replica); shard 2
	// only on its first replica.
	if got := after[[2]int{2, 1}] - before[[2]int{2, 1}]; got != 20 {
		t.Errorf("shard 2's search replica served %d of 20 reads", got)
	}
	if got := after[[2]int{2, 2}] - before[[2]int{2, 2}]; got != 0 {
		t.Errorf("shard 2's other replica served %d reads", got)
	}
	// The control: without the setting the reads spread.
	r.SearchReplicas = false
	search(r)
	spread := reads()
	if spread[[2]int{2, 2}]-after[[2]int{2, 2}] == 0 {
		t.Errorf("without SearchReplicas no read went to shard 2's second replica (%v): the check cannot tell", spread)
	}
}
