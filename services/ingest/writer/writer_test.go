package writer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/tests/harness"
)

var ch *harness.ClickHouse

func TestMain(m *testing.M) {
	harness.MainWithClickHouse(m, &ch)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// setup migrates a fresh database and returns a connection and its table.
func setup(t *testing.T, db string) (driver.Conn, string) {
	harness.Servers(t)
	t.Helper()
	ctx := context.Background()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: db}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	return conn, e.Table()
}

func count(t *testing.T, conn driver.Conn, table string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func batchOf(n int, tag string) []events.Event {
	out := make([]events.Event, n)
	for i := range out {
		out[i] = events.Event{Time: time.Now(), Tenant: "t", Feed: "test", Message: fmt.Sprintf("%s %d", tag, i)}
	}
	return out
}

// Concurrent writers: every Write returns only after its events are in
// ClickHouse, batches respect the size bound, nothing is lost.
func TestWritesAreCommittedBeforeTheyReturn(t *testing.T) {
	harness.Servers(t)
	conn, table := setup(t, "w_commit")
	m := telemetry.New()
	w, err := New(conn, Config{Table: table, MaxBatchEvents: 500, FlushInterval: 20 * time.Millisecond}, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	var wg sync.WaitGroup
	var committed atomic.Int64
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 10; r++ {
				evs := batchOf(37, fmt.Sprintf("g%d-r%d", g, r))
				if err := w.Write(ctx, "http", evs); err != nil {
					t.Error(err)
					return
				}
				committed.Add(int64(len(evs)))
				// What Write acknowledged is in ClickHouse now.
				acked := committed.Load()
				if n := count(t, conn, table); n < uint64(acked) {
					t.Errorf("acknowledged %d events, ClickHouse has %d", acked, n)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := count(t, conn, table); n != 20*10*37 {
		t.Errorf("ClickHouse has %d events, want %d", n, 20*10*37)
	}
	if d := w.QueueDepth(); d != 0 {
		t.Errorf("queue depth %d after all commits", d)
	}
}

// flaky fails the first failures inserts before they reach the server.
type flaky struct {
	conn     driver.Conn
	failures atomic.Int32
}

func (f *flaky) PrepareBatch(ctx context.Context, q string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, errors.New("simulated: connection refused")
	}
	return f.conn.PrepareBatch(ctx, q, opts...)
}

// While ClickHouse is down the bounded queue fills and further events are
// refused with ErrOverloaded (503) instead of piling up; queued requests
// fail with an error once retries are spent; the writer recovers by itself
// when ClickHouse answers again.
func TestBackpressureAndRecovery(t *testing.T) {
	harness.Servers(t)
	conn, table := setup(t, "w_backpressure")
	f := &flaky{conn: conn}
	f.failures.Store(1 << 20)
	w, err := New(f, Config{Table: table, MaxBatchEvents: 100, FlushInterval: 10 * time.Millisecond,
		MaxQueuedEvents: 250, MaxAttempts: 3, RetryBackoff: 20 * time.Millisecond}, telemetry.New(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	results := make(chan error, 3)
	for i := 0; i < 2; i++ {
		if err := w.Enqueue("http", batchOf(100, "down"), func(err error) { results <- err }); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	if err := w.Enqueue("http", batchOf(100, "overflow"), func(error) { t.Error("done called for a refused request") }); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("a full queue answered %v, want ErrOverloaded", err)
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-results:
			if err == nil {
				t.Error("a write to a dead ClickHouse reported success")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a write to a dead ClickHouse never finished")
		}
	}
	if w.LastError() == nil {
		t.Error("LastError is nil after failed batches")
	}
	// ClickHouse is back after two more failed attempts: retries carry the
	// batch through.
	f.failures.Store(2)
	if err := w.Write(ctx, "http", batchOf(50, "back")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if n := count(t, conn, table); n != 50 {
		t.Errorf("ClickHouse has %d events, want the 50 written after recovery", n)
	}
	if w.LastError() != nil || w.QueueDepth() != 0 {
		t.Errorf("after recovery: last error %v, queue %d", w.LastError(), w.QueueDepth())
	}
}

// The queue is bounded by the events' size too: with ClickHouse down, a
// request that would pass the byte bound is refused (a request alone in
// the queue is not); once committed, the bytes are free again.
func TestQueueBytesBound(t *testing.T) {
	harness.Servers(t)
	conn, table := setup(t, "w_bytes")
	f := &flaky{conn: conn}
	f.failures.Store(1 << 20)
	w, err := New(f, Config{Table: table, MaxBatchEvents: 1000, FlushInterval: time.Hour, MaxQueuedBytes: 1500,
		MaxAttempts: 1}, telemetry.New(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	sized := func(n int) []events.Event {
		evs := batchOf(n, "sized")
		for i := range evs {
			evs[i].Raw = strings.Repeat("r", 100)
		}
		return evs
	}
	results := make(chan error, 2)
	if err := w.Enqueue("http", sized(20), func(err error) { results <- err }); err != nil {
		t.Fatalf("a 2000-byte request into an empty queue: %v", err)
	}
	if err := w.Enqueue("http", sized(1), func(error) { t.Error("done called for a refused request") }); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("over the byte bound: %v, want ErrOverloaded", err)
	}
	if !w.Saturated() {
		t.Error("a queue past its byte bound is not saturated")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.failures.Store(0)
	go w.Run(ctx)
	cancel() // Run drains the queue and returns
	if err := <-results; err != nil {
		t.Fatalf("queued request: %v", err)
	}
	if n := count(t, conn, table); n != 20 {
		t.Errorf("ClickHouse has %d events, want 20", n)
	}
	if w.Saturated() {
		t.Error("the queue is still saturated after its events were committed")
	}
}

// Shutting down commits what was queued before refusing new events.
func TestShutdownDrainsTheQueue(t *testing.T) {
	harness.Servers(t)
	conn, table := setup(t, "w_drain")
	w, err := New(conn, Config{Table: table, FlushInterval: time.Hour}, telemetry.New(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	done := make(chan error, 1)
	if err := w.Enqueue("hec", batchOf(42, "drain"), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-stopped
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, table); n != 42 {
		t.Errorf("ClickHouse has %d events after shutdown, want 42", n)
	}
	if err := w.Enqueue("hec", batchOf(1, "late"), func(error) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("enqueue after shutdown: %v, want ErrClosed", err)
	}
}

// ClickHouse is killed mid-load and restarted: writes during the outage
// fail (the callers retry, as clients do on 503), the writer reconnects by
// itself, and every acknowledged event is in ClickHouse afterwards.
func TestClickHouseStoppedMidLoad(t *testing.T) {
	harness.Servers(t)
	own, err := harness.StartClickHouse()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Stop()
	ctx := context.Background()
	conn, err := own.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: "w_outage"}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	w, err := New(conn, Config{Table: e.Table(), MaxBatchEvents: 200, FlushInterval: 10 * time.Millisecond,
		MaxAttempts: 2, RetryBackoff: 50 * time.Millisecond}, telemetry.New(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.Run(runCtx)

	var acked, failures atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				evs := batchOf(50, fmt.Sprintf("outage g%d b%d", g, i))
				for {
					wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
					err := w.Write(wctx, "http", evs)
					wcancel()
					if err == nil {
						acked.Add(int64(len(evs)))
						break
					}
					failures.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(g)
	}
	waitFor := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for acked.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d events acknowledged, waiting for %d", acked.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(2000)
	if err := own.Crash(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	atCrash := acked.Load()
	if err := own.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(atCrash + 2000)
	close(stop)
	wg.Wait()
	var n uint64
	check, err := own.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	if err := check.QueryRow(ctx, "SELECT count() FROM "+e.Table()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < uint64(acked.Load()) {
		t.Errorf("%d events acknowledged, ClickHouse holds %d", acked.Load(), n)
	}
	if failures.Load() == 0 {
		t.Error("no write failed while ClickHouse was down")
	}
	t.Logf("acknowledged %d (at crash %d), stored %d, failed attempts during the outage %d", acked.Load(), atCrash, n, failures.Load())
}
