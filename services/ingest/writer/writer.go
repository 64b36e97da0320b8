// Package writer is the one path by which every ingest protocol writes
// events to ClickHouse: requests are queued (bounded), batched by size,
// time and the days (partitions) they touch, inserted with retries that
// carry the batch's deduplication token, and acknowledged only once
// ClickHouse has committed them. A batch ClickHouse refuses because of
// some request's rows is split until the refused requests stand alone:
// they get the refusal, every other request of the batch is committed.
package writer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/telemetry"
)

// ErrOverloaded means the queue is full: answer 503 with Retry-After.
var ErrOverloaded = errors.New("ingest queue is full")

// ErrClosed means the writer is shutting down.
var ErrClosed = errors.New("ingest writer is shutting down")

// RefusedError is ClickHouse's refusal of one request's events (answer the
// client 4xx: sending them again gets the same answer); the other requests
// of its batch were committed without them.
type RefusedError struct {
	// Err is ClickHouse's error (a *clickhouse.Exception), or what the
	// writer found wrong before sending.
	Err error
}

func (e *RefusedError) Error() string {
	var ex *clickhouse.Exception
	if errors.As(e.Err, &ex) {
		msg, _, _ := strings.Cut(ex.Message, "\n")
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return fmt.Sprintf("ClickHouse refused these events (code %d): %s", ex.Code, msg)
	}
	return "these events cannot be stored: " + e.Err.Error()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Inserter prepares insert batches (a clickhouse-go connection).
type Inserter interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// Config tunes the writer; zero values take the defaults.
type Config struct {
	// Table receives the events (events.Engine.InsertTable()).
	Table string
	// MaxBatchEvents flushes a batch at this many events (10 000).
	MaxBatchEvents int
	// FlushInterval flushes a non-empty batch this long after its first
	// request arrived (1 s).
	FlushInterval time.Duration
	// MaxQueuedEvents bounds the events waiting for commit (200 000);
	// MaxQueuedBytes their size, counted as the events' raw text (64 MiB),
	// which bounds the service's memory.
	MaxQueuedEvents int
	MaxQueuedBytes  int
	// MaxAttempts inserts a batch at most this often (5), backing off from
	// RetryBackoff (200 ms), doubling.
	MaxAttempts  int
	RetryBackoff time.Duration
	// Settings are an insert's settings given the batch's deduplication
	// token, which every attempt of the batch shares
	// (events.Engine.InsertSettings); nil sends none.
	Settings func(token string) clickhouse.Settings
	// Inserters is how many batches may be inserting at once (2): the
	// next batch is prepared and sent while ClickHouse commits one.
	Inserters int
	// MaxBatchDays bounds the distinct days (partitions, toYYYYMMDD(ts))
	// of one insert (90): ClickHouse refuses an insert block touching more
	// than max_partitions_per_insert_block (100 by default) of them. A
	// request that would pass it waits for the next batch; one whose own
	// events span more days is refused at Enqueue.
	MaxBatchDays int
}

func (c *Config) defaults() {
	if c.MaxBatchEvents <= 0 {
		c.MaxBatchEvents = 10_000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.MaxQueuedEvents <= 0 {
		c.MaxQueuedEvents = 200_000
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 64 << 20
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.Inserters <= 0 {
		c.Inserters = 2
	}
	if c.MaxBatchDays <= 0 {
		c.MaxBatchDays = DefaultMaxBatchDays
	}
}

// DefaultMaxBatchDays is MaxBatchDays's default: below ClickHouse's
// default max_partitions_per_insert_block (100).
const DefaultMaxBatchDays = 90

// request is one caller's events and how to tell it the outcome.
type request struct {
	events   []events.Event
	bytes    int
	protocol string
	done     func(error)
	// days are the distinct days of the events, sorted.
	days []uint32
}

// Writer batches and inserts events.
type Writer struct {
	conn    Inserter
	cfg     Config
	metrics *telemetry.Metrics
	log     *slog.Logger

	mu     sync.Mutex
	queued int // events accepted and not yet committed
	// queuedBytes is their raw text's size.
	queuedBytes int
	closed      bool
	pending     []request
	// pendingN is the number of events in pending (not yet taken).
	pendingN int
	wake     chan struct{}

	stateMu   sync.Mutex
	lastError error
}

// New returns a writer; call Run to start it.
func New(conn Inserter, cfg Config, m *telemetry.Metrics, log *slog.Logger) (*Writer, error) {
	cfg.defaults()
	if cfg.Table == "" {
		return nil, errors.New("writer: table is required")
	}
	return &Writer{conn: conn, cfg: cfg, metrics: m, log: log, wake: make(chan struct{}, 1)}, nil
}

// Enqueue queues evs for commit without waiting; done is called exactly once
// with nil after ClickHouse committed them, or with the error (a
// *RefusedError when ClickHouse refused these events). It returns
// ErrOverloaded (done not called) when the queue cannot take them, and a
// *RefusedError when their days could never fit one insert.
func (w *Writer) Enqueue(protocol string, evs []events.Event, done func(error)) error {
	if len(evs) == 0 {
		done(nil)
		return nil
	}
	size := 0
	for i := range evs {
		size += len(evs[i].Raw)
	}
	days := Days(evs)
	if len(days) > w.cfg.MaxBatchDays {
		w.metrics.Rejected.WithLabelValues(protocol, telemetry.ReasonRefused).Add(float64(len(evs)))
		return &RefusedError{Err: fmt.Errorf("the events fall on %d distinct days; one insert may hold at most %d", len(days), w.cfg.MaxBatchDays)}
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	// One request larger than the byte bound still goes through an empty
	// queue (the request limits bound it).
	if w.queued+len(evs) > w.cfg.MaxQueuedEvents || (w.queuedBytes > 0 && w.queuedBytes+size > w.cfg.MaxQueuedBytes) {
		w.mu.Unlock()
		return ErrOverloaded
	}
	w.queued += len(evs)
	w.queuedBytes += size
	w.pending = append(w.pending, request{events: evs, bytes: size, protocol: protocol, done: done, days: days})
	w.pendingN += len(evs)
	w.metrics.QueueDepth.Set(float64(w.queued))
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Write queues evs and waits until they are committed or ctx ends. When ctx
// ends first the events may still be committed later.
func (w *Writer) Write(ctx context.Context, protocol string, evs []events.Event) error {
	result := make(chan error, 1)
	if err := w.Enqueue(protocol, evs, func(err error) { result <- err }); err != nil {
		return err
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("cannot wait for the commit: %w", ctx.Err())
	}
}

// QueueDepth is the number of events waiting for commit.
func (w *Writer) QueueDepth() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

// Saturated reports whether the queue is at least 90% full (events or
// bytes).
func (w *Writer) Saturated() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued*10 >= w.cfg.MaxQueuedEvents*9 || w.queuedBytes*10 >= w.cfg.MaxQueuedBytes*9
}

// LastError is the error of the last failed batch, nil after a success
// (a batch whose only failures were refused requests succeeded).
func (w *Writer) LastError() error {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	return w.lastError
}

// Run batches and inserts until ctx ends; it then refuses new events,
// commits what is queued (with a fresh 30 s budget) and returns.
func (w *Writer) Run(ctx context.Context) {
	batches := make(chan []request)
	var wg sync.WaitGroup
	for i := 0; i < w.cfg.Inserters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var block events.Block // reused from batch to batch
			for batch := range batches {
				w.flush(context.WithoutCancel(ctx), batch, &block)
			}
		}()
	}
	for {
		// While every inserter is busy, requests keep queueing and the
		// next batch grows (up to MaxBatchEvents).
		batch, more := w.nextBatch(ctx)
		if len(batch) > 0 {
			batches <- batch
		}
		if !more {
			break
		}
	}
	close(batches)
	wg.Wait()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var block events.Block
	for {
		batch := w.take()
		if len(batch) == 0 {
			return
		}
		w.flush(drain, batch, &block)
	}
}

// nextBatch waits until a batch is full or its first request is
// FlushInterval old, and takes it; more is false once ctx ended.
func (w *Writer) nextBatch(ctx context.Context) (batch []request, more bool) {
	var timer <-chan time.Time
	for {
		w.mu.Lock()
		n := w.pendingN
		w.mu.Unlock()
		if n >= w.cfg.MaxBatchEvents {
			return w.take(), true
		}
		if n > 0 && timer == nil {
			timer = time.After(w.cfg.FlushInterval)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-w.wake:
		case <-timer:
			return w.take(), true
		}
	}
}

// take removes up to MaxBatchEvents events' worth of requests (at least
// one request) from the queue, in their order, touching at most
// MaxBatchDays distinct days: the first request that would pass either
// bound starts the next batch.
func (w *Writer) take() []request {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, i := 0, 0
	var days []uint32
	for i < len(w.pending) {
		r := &w.pending[i]
		if i > 0 && n+len(r.events) > w.cfg.MaxBatchEvents {
			break
		}
		union := mergeDays(days, r.days)
		if i > 0 && len(union) > w.cfg.MaxBatchDays {
			break
		}
		days = union
		n += len(r.events)
		i++
	}
	batch := w.pending[:i:i]
	w.pending = w.pending[i:]
	w.pendingN -= n
	return batch
}

// Days are the distinct days (Day) of evs, sorted.
func Days(evs []events.Event) []uint32 {
	var days []uint32
	last := uint32(0)
	for i := range evs {
		d := events.Day(evs[i].Time)
		if d == last {
			continue // most events share their neighbour's day
		}
		last = d
		if j, found := slices.BinarySearch(days, d); !found {
			days = slices.Insert(days, j, d)
		}
	}
	return days
}

// mergeDays is the sorted union of two sorted day lists.
func mergeDays(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			out, a = append(out, a[0]), a[1:]
		case b[0] < a[0]:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// flush commits the batch (see commit) and tells every request its
// outcome.
func (w *Writer) flush(ctx context.Context, batch []request, block *events.Block) {
	start := time.Now()
	n, size := 0, 0
	for _, r := range batch {
		n += len(r.events)
		size += r.bytes
	}
	results := make([]error, len(batch))
	w.commit(ctx, batch, results, newToken(), block)
	// A request ClickHouse refused on its own is refused for its rows
	// when the others of its batch went in, or when ClickHouse's error is
	// about the data; otherwise ClickHouse refused everything (a server
	// problem: 503, the client retries).
	committed := 0
	for _, err := range results {
		if err == nil {
			committed++
		}
	}
	for i, err := range results {
		if err != nil && isRefusal(err) && (committed > 0 || dataError(err)) {
			results[i] = &RefusedError{Err: err}
		}
	}
	w.metrics.FlushSeconds.Observe(time.Since(start).Seconds())
	var last error // a failure of ClickHouse's, not a refusal of rows
	for _, err := range results {
		if refused := (*RefusedError)(nil); err != nil && !errors.As(err, &refused) {
			last = err
		}
	}
	w.stateMu.Lock()
	w.lastError = last
	w.stateMu.Unlock()
	w.mu.Lock()
	w.queued -= n
	w.queuedBytes -= size
	w.metrics.QueueDepth.Set(float64(w.queued))
	w.mu.Unlock()
	if committed > 0 {
		w.metrics.BatchEvents.Observe(float64(n))
	}
	for i, r := range batch {
		err := results[i]
		var refused *RefusedError
		switch {
		case err == nil:
			w.metrics.Accepted.WithLabelValues(r.protocol).Add(float64(len(r.events)))
		case errors.As(err, &refused):
			w.metrics.Rejected.WithLabelValues(r.protocol, telemetry.ReasonRefused).Add(float64(len(r.events)))
			w.log.Warn("ClickHouse refused one request's events; the rest of its batch is committed", "tenant", r.events[0].Tenant,
				"feed", r.events[0].Feed, "protocol", r.protocol, "events", len(r.events), "days", len(r.days), "error", refused.Err)
		default:
			w.metrics.Rejected.WithLabelValues(r.protocol, telemetry.ReasonWriteFailed).Add(float64(len(r.events)))
			err = fmt.Errorf("cannot commit %d events to ClickHouse: %w", len(r.events), err)
		}
		r.done(err)
	}
}

// commit inserts batch with token, retrying what may pass on a later try
// (the network, a busy or read-only server). When ClickHouse refuses a
// batch of several requests (an error that retrying does not change), it
// splits the batch in halves and commits each on its own with a token of
// its own, down to single requests: a request's rows cannot fail the
// others'. ClickHouse checks an insert before it writes any part (the
// partition limit, types, a failing expression), so a refused insert
// committed nothing and its halves are not stored twice. results[i] is
// request i's error.
func (w *Writer) commit(ctx context.Context, batch []request, results []error, token string, block *events.Block) {
	err := w.insertRetrying(ctx, batch, block, token)
	if err == nil || len(batch) == 1 || !isRefusal(err) {
		for i := range results {
			results[i] = err
		}
		return
	}
	w.metrics.BatchSplits.Inc()
	w.log.Info("ClickHouse refused a batch: committing its halves apart", "requests", len(batch), "error", err)
	mid := len(batch) / 2
	w.commit(ctx, batch[:mid], results[:mid], token+"a", block)
	w.commit(ctx, batch[mid:], results[mid:], token+"b", block)
}

// insertRetrying inserts batch with token, up to MaxAttempts times with
// backoff while the failure may be passing; a refusal returns at once.
func (w *Writer) insertRetrying(ctx context.Context, batch []request, block *events.Block, token string) error {
	n := 0
	for _, r := range batch {
		n += len(r.events)
	}
	block.Reset()
	defer block.Reset()
	var err error
	backoff := w.cfg.RetryBackoff
	for attempt := 1; attempt <= w.cfg.MaxAttempts; attempt++ {
		if err = w.insert(ctx, batch, block, token); err == nil {
			return nil
		}
		w.metrics.CHErrors.Inc()
		w.log.Warn("cannot insert batch", "events", n, "requests", len(batch), "attempt", attempt, "token", token, "error", err)
		if isRefusal(err) || attempt == w.cfg.MaxAttempts || ctx.Err() != nil {
			break
		}
		w.metrics.FlushRetries.Inc()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	return err
}

func (w *Writer) insert(ctx context.Context, batch []request, block *events.Block, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if w.cfg.Settings != nil {
		if s := w.cfg.Settings(token); len(s) > 0 {
			ctx = clickhouse.Context(ctx, clickhouse.WithSettings(s))
		}
	}
	b, err := w.conn.PrepareBatch(ctx, events.InsertSQL(w.cfg.Table))
	if err != nil {
		return err
	}
	defer b.Abort()
	// The block is built on the first attempt and kept for retries.
	if block.Len() == 0 {
		for _, r := range batch {
			for i := range r.events {
				block.Add(&r.events[i])
			}
		}
	}
	if err := block.AppendTo(b); err != nil {
		return err
	}
	return b.Send()
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
