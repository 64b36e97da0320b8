package retention

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
)

var ch *harness.ClickHouse

func TestMain(m *testing.M) { harness.MainWithClickHouse(m, &ch) }

// On a server without TTL, days past the retention are dropped whole and
// newer ones kept; modern servers are left to their TTL.
func TestRollOffDropsOldDays(t *testing.T) {
	harness.Servers(t)
	conn, v := open(t)
	checkRollOff(t, conn, events.Engine{Version: v, Database: "retention_test", RetentionDays: 30}, func() {})
}

// open connects to the test server (closed with the test) and reads its
// version.
func open(t *testing.T) (driver.Conn, [3]int) {
	harness.Servers(t)
	t.Helper()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	v, err := events.DetectVersion(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	return conn, v
}

// now is the tests' clock; insertAged inserts one event per age (days
// before now) through e's insert table, after migrating e.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func insertAged(t *testing.T, conn driver.Conn, e events.Engine, ages ...int) {
	t.Helper()
	ctx := context.Background()
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(e.InsertSettings(""))), events.InsertSQL(e.InsertTable()))
	if err != nil {
		t.Fatal(err)
	}
	for _, age := range ages {
		ev := events.Event{Time: now.AddDate(0, 0, -age), Tenant: "acme", Message: "m", Raw: fmt.Sprint(age)}
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// The same on a real cluster (2 shards x 2 replicas, ZooKeeper): every
// shard drops its part of the old days, the replicas follow.
func TestRollOffOnCluster(t *testing.T) {
	harness.Servers(t)
	c, conn := harness.StartClusterFor(t, 2, 2)
	v, err := events.DetectVersion(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: "retention_cl", Cluster: harness.ClusterName, RetentionDays: 30}
	// Roll-off lists the days through the Distributed table, which reads
	// either replica: once both have the rows (a later pass would catch
	// what a lagging one had not fetched).
	checkRollOff(t, conn, e, func() {
		if err := c.SyncReplicas(context.Background(), e.LocalTable()); err != nil {
			t.Fatal(err)
		}
	})
	if err := c.SyncReplicas(context.Background(), e.LocalTable()); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if old, err := n.Count(context.Background(), "SELECT count() FROM retention_cl.events_local WHERE ts < toDateTime('2026-10-24 00:00:00')"); err != nil || old != 0 {
			t.Errorf("shard %d replica %d keeps %d expired events (%v)", n.Shard, n.Replica, old, err)
		}
	}
}

// checkRollOff inserts events of several ages through e's insert table,
// calls settled, and rolls off: the 31, 45 and 400 day old days go, the
// rest stays.
func checkRollOff(t *testing.T, conn driver.Conn, e events.Engine, settled func()) {
	t.Helper()
	ctx := context.Background()
	insertAged(t, conn, e, 0, 1, 29, 30, 31, 45, 400)
	settled()
	dropped, err := RollOff(ctx, conn, e, now)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+e.Table()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 3 || n != 4 {
		t.Errorf("dropped %v, %d events left; want the 31, 45 and 400 day old days gone and 4 left", dropped, n)
	}
	if again, err := RollOff(ctx, conn, e, now); err != nil || len(again) != 0 {
		t.Errorf("second pass: %v %v", again, err)
	}
	modern := e
	modern.Version = [3]int{24, 8, 0}
	if d, err := RollOff(ctx, conn, modern, now.AddDate(1, 0, 0)); err != nil || d != nil {
		t.Errorf("a modern server's TTL is left alone: %v %v", d, err)
	}
}

// On the real server: a filling disk gives up its oldest day, one per
// pass, never the last day left.
func TestDropOldestDay(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	conn, v := open(t)
	e := events.Engine{Version: v, Database: "guard_test"}
	insertAged(t, conn, e, 0, 1, 2)
	var dropped []string
	for i := 0; i < 3; i++ {
		day, err := DropOldestDay(ctx, conn, e)
		if err != nil {
			t.Fatal(err)
		}
		dropped = append(dropped, day)
	}
	if strings.Join(dropped, ",") != "20261121,20261122," {
		t.Errorf("three passes dropped %q, want the two oldest days and then nothing", dropped)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM guard_test.events").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d events left (%v), want the newest day's 1", n, err)
	}
}
