package events

import (
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// blockEvents are n events with 0 to 9 attributes each (enough to move the
// block's attribute storage to new memory several times).
func blockEvents(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		var attrs Attrs // out of order, and k9 twice (the later value wins)
		for j := 0; j < i%10; j++ {
			attrs = append(attrs, Attr{fmt.Sprintf("k%d", 9-j), fmt.Sprintf("v%d-%d", i, j)})
		}
		if len(attrs) > 1 {
			attrs = append(attrs, Attr{"k9", fmt.Sprintf("last-%d", i)})
		}
		evs[i] = Event{Time: time.Date(2026, 11, 23, 10, 0, i%60, i*1000+7, time.UTC), Tenant: "acme", Feed: "http",
			Severity: Severities[i%len(Severities)], Service: fmt.Sprintf("svc-%d", i%3), Host: "web-1",
			Message: fmt.Sprintf("message %d", i), Attributes: attrs, Raw: fmt.Sprintf(`{"n":%d}`, i)}
	}
	return evs
}

// Events inserted column by column through a reused Block are stored
// exactly as Row describes them.
func TestBlockInsertsWhatRowDescribes(t *testing.T) {
	harness.Servers(t)
	ctx, conn, version := connect(t)
	e := Engine{Version: version, Database: "nano_block"}
	if err := Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	evs := blockEvents(3000)
	var b Block
	for _, part := range [][]Event{evs[:2500], evs[2500:]} { // the second reuses the first's memory
		for i := range part {
			b.Add(&part[i])
		}
		batch, err := conn.PrepareBatch(ctx, InsertSQL(e.Table()))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AppendTo(batch); err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
		b.Reset()
		if b.Len() != 0 {
			t.Fatalf("Reset left %d events", b.Len())
		}
	}
	rows, err := conn.Query(ctx, "SELECT "+strings.Join(Columns, ", ")+" FROM nano_block.events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i, seen := 0, map[int]bool{}
	for ; rows.Next(); i++ {
		var (
			ts                                                  time.Time
			nanos                                               uint32
			tenant, feed, severity, service, host, message, raw string
			keys, values                                        []string
		)
		if err := rows.Scan(&ts, &nanos, &tenant, &feed, &severity, &service, &host, &message, &keys, &values, &raw); err != nil {
			t.Fatal(err)
		}
		var n int
		if _, err := fmt.Sscanf(raw, `{"n":%d}`, &n); err != nil || n < 0 || n >= len(evs) {
			t.Fatalf("stored raw %q is none of the events", raw)
		}
		if seen[n] {
			t.Fatalf("event %d stored twice", n)
		}
		seen[n] = true
		want := evs[n].Row()
		got := []any{ts.UTC(), nanos, tenant, feed, severity, service, host, message, keys, values, raw}
		for c := range want {
			if w, g := fmt.Sprint(want[c]), fmt.Sprint(got[c]); w != g {
				t.Fatalf("event %d column %s: stored %s, Row says %s", n, Columns[c], g, w)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(evs) {
		t.Fatalf("%d events stored, want %d", i, len(evs))
	}
}

// The driver's columns for every engine's column types (LowCardinality and
// codecs on modern servers) take the block's columns.
func TestBlockColumnsFitEveryEngine(t *testing.T) {
	evs := blockEvents(50)
	var b Block
	for i := range evs {
		b.Add(&evs[i])
	}
	for _, version := range [][3]int{{18, 16, 1}, {26, 7, 3}} {
		types := Engine{Version: version, Database: "nano"}.columnTypes()
		for i, data := range b.columns() {
			name, typ := types[i][0], types[i][1]
			if j := strings.Index(typ, " CODEC("); j >= 0 {
				typ = typ[:j]
			}
			if name != Columns[i] {
				t.Fatalf("column %d is %s in the DDL and %s in Columns", i, name, Columns[i])
			}
			col, err := column.Type(typ).Column(name, &column.ServerContext{})
			if err != nil {
				t.Fatalf("%v %s %s: %v", version, name, typ, err)
			}
			if err := b.appendColumn(columnAppender{col}, col.Type(), data); err != nil {
				t.Fatalf("%v: column %s %s does not take %T: %v", version, name, typ, data, err)
			}
			if col.Rows() != len(evs) {
				t.Errorf("%v: column %s has %d rows, want %d", version, name, col.Rows(), len(evs))
			}
		}
	}
	if got := reflect.ValueOf(b.columns()[8]).Index(9).Interface(); fmt.Sprint(got) != "[k1 k2 k3 k4 k5 k6 k7 k8 k9]" {
		t.Errorf("attribute keys of event 9 are %v, want them sorted", got)
	}
}

// columnAppender appends to a column as a batch's column does.
type columnAppender struct{ column.Interface }

func (c columnAppender) Append(v any) error {
	_, err := c.Interface.Append(v)
	return err
}

// BenchmarkBlock adds 1000 events of the bench-ingest shape (7 attributes)
// to a block and appends it to a batch of the real server's columns (the
// batch's preparation not counted).
func BenchmarkBlock(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := ch.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	version, err := DetectVersion(ctx, conn)
	if err != nil {
		b.Fatal(err)
	}
	e := Engine{Version: version, Database: "nano_block_bench"}
	if err := Migrate(ctx, conn, e); err != nil {
		b.Fatal(err)
	}
	evs := make([]Event, 1000)
	for i := range evs {
		evs[i] = Event{Time: time.Now(), Tenant: "acme", Feed: "http", Severity: "info", Service: "checkout", Host: "web-1",
			Message: strings.Repeat("m", 330), Raw: strings.Repeat("r", 750), Attributes: Attrs{
				{"http.method", "GET"}, {"http.path", "/api/v1/orders"}, {"http.status", "200"}, {"pad", strings.Repeat("x", 207)},
				{"region", "eu-central-1"}, {"user.id", fmt.Sprintf("u-%d", i)}, {"user.tier", "gold"}}}
	}
	var blk Block
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // preparing and aborting are round trips to the server
		batch, err := conn.PrepareBatch(ctx, InsertSQL(e.Table()))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := range evs {
			blk.Add(&evs[j])
		}
		if err := blk.AppendTo(batch); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := batch.Abort(); err != nil {
			b.Fatal(err)
		}
		blk.Reset()
		b.StartTimer()
	}
}
