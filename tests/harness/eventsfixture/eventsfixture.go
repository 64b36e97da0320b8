// Package eventsfixture writes events into a deployment's ClickHouse the
// way ingest does and counts what a deployment holds: what the tier
// upgrade tests (services/tiermove, the provisioning endpoint's upgrade)
// share. (It is not part of package harness, which services/events' own
// tests import.)
package eventsfixture

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
)

// Writer inserts batches of events into one deployment the way ingest
// does (InsertTable, InsertSettings) and keeps the events whose insert was
// acknowledged. Each event's raw text is unique to its Prefix and number.
type Writer struct {
	Conn   driver.Conn
	Engine events.Engine
	Prefix string
	// N is the number of the last event written: lower it to write the
	// same events again.
	N int

	mu    sync.Mutex
	acked []string // raw of every acknowledged event
}

// Batch writes size events from at on, a millisecond apart.
func (w *Writer) Batch(ctx context.Context, at time.Time, size int) error {
	b, err := w.Conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(w.Engine.InsertSettings(""))), events.InsertSQL(w.Engine.InsertTable()))
	if err != nil {
		return err
	}
	var block events.Block
	var raws []string
	for i := 0; i < size; i++ {
		w.N++
		raw := fmt.Sprintf(`{"src":%q,"n":%d}`, w.Prefix, w.N)
		ev := events.Event{Time: at.Add(time.Duration(i) * time.Millisecond), Tenant: "acme", Feed: "http", Severity: "info",
			Host: fmt.Sprintf("web-%d", w.N%7), Message: fmt.Sprintf("GET /item/%d", w.N), Raw: raw,
			Attributes: events.Attrs{{Key: "http.status", Value: fmt.Sprint(200 + w.N%5)}, {Key: "src", Value: w.Prefix}}}
		block.Add(&ev)
		raws = append(raws, raw)
	}
	if err := block.AppendTo(b); err != nil {
		return err
	}
	if err := b.Send(); err != nil {
		return err
	}
	w.mu.Lock()
	w.acked = append(w.acked, raws...)
	w.mu.Unlock()
	return nil
}

// Run writes batches of 200, a second of event time apart, until stop is
// closed (at most max batches).
func (w *Writer) Run(ctx context.Context, stop <-chan struct{}, at time.Time, max int) error {
	for i := 0; i < max; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := w.Batch(ctx, at.Add(time.Duration(i)*time.Second), 200); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Acked are the raw texts of the events whose insert was acknowledged.
func (w *Writer) Acked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

// RawCounts counts a table's events by raw text.
func RawCounts(ctx context.Context, t testing.TB, conn driver.Conn, table string) map[string]uint64 {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT raw, count() FROM "+table+" GROUP BY raw")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var raw string
		var n uint64
		if err := rows.Scan(&raw, &n); err != nil {
			t.Fatal(err)
		}
		out[raw] = n
	}
	return out
}

// CheckMoved checks a move's outcome from the counts of the source (src)
// and the target (dst): every event the moved writers had acknowledged is
// in the target as often as in the source, the target's own writer's
// events are there once each, and the target holds nothing else.
func CheckMoved(t testing.TB, src, dst map[string]uint64, moved []*Writer, own *Writer) {
	t.Helper()
	for _, w := range moved {
		for _, raw := range w.Acked() {
			if dst[raw] != src[raw] || dst[raw] == 0 {
				t.Fatalf("event %s: %d in the source, %d in the target", raw, src[raw], dst[raw])
			}
		}
	}
	for _, raw := range own.Acked() {
		if dst[raw] != 1 {
			t.Fatalf("the target's own event %s is there %d times", raw, dst[raw])
		}
	}
	var srcTotal, dstTotal uint64
	for _, n := range src {
		srcTotal += n
	}
	for _, n := range dst {
		dstTotal += n
	}
	if dstTotal != srcTotal+uint64(len(own.Acked())) {
		t.Errorf("the target holds %d events, the source %d plus %d of its own", dstTotal, srcTotal, len(own.Acked()))
	}
}
