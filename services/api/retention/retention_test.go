package retention

import (
	"context"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
)

var ch *harness.ClickHouse

func TestMain(m *testing.M) { harness.MainWithClickHouse(m, &ch) }

// On a server without TTL, days past the retention are dropped whole and
// newer ones kept; modern servers are left to their TTL.
func TestRollOffDropsOldDays(t *testing.T) {
	ctx := context.Background()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: "retention_test", RetentionDays: 30}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b, err := conn.PrepareBatch(ctx, events.InsertSQL(e.Table()))
	if err != nil {
		t.Fatal(err)
	}
	for _, age := range []int{0, 1, 29, 30, 31, 45, 400} {
		ev := events.Event{Time: now.AddDate(0, 0, -age), Tenant: "acme", Message: "m"}
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	dropped, err := RollOff(ctx, conn, e, now)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	conn.QueryRow(ctx, "SELECT count() FROM retention_test.events").Scan(&n)
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
