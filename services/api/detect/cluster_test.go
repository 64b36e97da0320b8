package detect

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
)

// A signal rule on a real cluster (2 shards x 2 replicas, ZooKeeper): its
// view, counts and read table exist on every replica, it counts events
// inserted on any shard once, and pruning drops its objects everywhere.
func TestSignalRuleOnCluster(t *testing.T) {
	harness.Servers(t)
	c, conn := harness.StartClusterFor(t, 2, 2)
	f := setupOn(t, "detect_cluster", conn, harness.ClusterName)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.rule(t, Rule{Name: "signal", Query: `level:error "boom"`, Schedule: "@every 1m", Window: 30 * time.Minute, Op: ">", Threshold: 4, Signal: true})
	if err := f.d.EnsureSignal(ctx, r); err != nil {
		t.Fatal(err)
	}
	objects := func() uint64 {
		var least uint64 = 1 << 62
		for _, n := range c.Nodes() {
			got, err := n.Count(ctx, "SELECT count() FROM system.tables WHERE database = 'detect_cluster' AND startsWith(name, 'signal_')")
			if err != nil {
				t.Fatal(err)
			}
			least = min(least, got)
		}
		return least
	}
	if got := objects(); got != 3 {
		t.Fatalf("a replica has %d of the signal's 3 objects (counts, view, read table)", got)
	}
	// 40 events from different hosts spread over both shards; 12 match.
	var evs []events.Event
	for i := 0; i < 40; i++ {
		sev := "info"
		if i%10 < 3 {
			sev = "error"
		}
		evs = append(evs, events.Event{Time: f.now.Add(-time.Duration(i+1) * time.Second), Tenant: "acme", Severity: sev,
			Host: fmt.Sprintf("h%d", i), Message: "boom", Raw: fmt.Sprintf(`{"n":%d}`, i)})
	}
	f.insert(t, evs...)
	if err := c.SyncReplicas(ctx, "detect_cluster.events_local"); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Shards {
		if got, err := n[0].Count(ctx, "SELECT count() FROM detect_cluster.events_local"); err != nil || got == 0 {
			t.Fatalf("shard %d holds %d events (%v): the test needs both", n[0].Shard, got, err)
		}
	}
	if err := c.SyncReplicas(ctx, "detect_cluster."+signalStem(r)+"_local"); err != nil {
		t.Fatal(err)
	}
	if err := f.d.RunDue(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	var value float64
	if err := f.db.QueryRow(ctx, `SELECT value FROM rule_runs WHERE rule_id = $1`, r.ID).Scan(&value); err != nil {
		t.Fatal(err)
	}
	if value != 12 {
		t.Errorf("the signal counted %v events on the cluster, want 12", value)
	}
	if _, err := f.db.Exec(ctx, `DELETE FROM detection_rules WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.d.PruneSignals(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	if got := objects(); got != 0 {
		t.Errorf("after pruning a replica still has %d signal objects", got)
	}
}
