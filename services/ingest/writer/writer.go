// Package writer is the one path by which every ingest protocol writes
// events to ClickHouse: requests are queued (bounded), batched by size and
// time, inserted with retries that carry the batch's deduplication token,
// and acknowledged only once ClickHouse has committed them.
package writer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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
}

// request is one caller's events and how to tell it the outcome.
type request struct {
	events   []events.Event
	bytes    int
	protocol string
	done     func(error)
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
// with nil after ClickHouse committed them, or with the error. It returns
// ErrOverloaded (done not called) when the queue cannot take them.
func (w *Writer) Enqueue(protocol string, evs []events.Event, done func(error)) error {
	if len(evs) == 0 {
		done(nil)
		return nil
	}
	size := 0
	for i := range evs {
		size += len(evs[i].Raw)
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
	w.pending = append(w.pending, request{events: evs, bytes: size, protocol: protocol, done: done})
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

// LastError is the error of the last failed batch, nil after a success.
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
// one request) from the queue.
func (w *Writer) take() []request {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, i := 0, 0
	for i < len(w.pending) && (i == 0 || n+len(w.pending[i].events) <= w.cfg.MaxBatchEvents) {
		n += len(w.pending[i].events)
		i++
	}
	batch := w.pending[:i:i]
	w.pending = w.pending[i:]
	w.pendingN -= n
	return batch
}

// flush inserts the batch's events, retrying with one deduplication token,
// and tells every request the outcome.
func (w *Writer) flush(ctx context.Context, batch []request, block *events.Block) {
	start := time.Now()
	n, size := 0, 0
	for _, r := range batch {
		n += len(r.events)
		size += r.bytes
	}
	token := newToken()
	var err error
	backoff := w.cfg.RetryBackoff
	for attempt := 1; attempt <= w.cfg.MaxAttempts; attempt++ {
		if err = w.insert(ctx, batch, block, token); err == nil {
			break
		}
		w.metrics.CHErrors.Inc()
		w.log.Warn("cannot insert batch", "events", n, "attempt", attempt, "token", token, "error", err)
		if attempt == w.cfg.MaxAttempts || ctx.Err() != nil {
			break
		}
		w.metrics.FlushRetries.Inc()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff *= 2
	}
	block.Reset()
	w.metrics.FlushSeconds.Observe(time.Since(start).Seconds())
	w.stateMu.Lock()
	w.lastError = err
	w.stateMu.Unlock()
	w.mu.Lock()
	w.queued -= n
	w.queuedBytes -= size
	w.metrics.QueueDepth.Set(float64(w.queued))
	w.mu.Unlock()
	if err == nil {
		w.metrics.BatchEvents.Observe(float64(n))
	} else {
		err = fmt.Errorf("cannot commit %d events to ClickHouse: %w", n, err)
	}
	for _, r := range batch {
		if err == nil {
			w.metrics.Accepted.WithLabelValues(r.protocol).Add(float64(len(r.events)))
		} else {
			w.metrics.Rejected.WithLabelValues(r.protocol, telemetry.ReasonWriteFailed).Add(float64(len(r.events)))
		}
		r.done(err)
	}
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
