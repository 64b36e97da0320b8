package backups

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// defaultRetry is how long a schedule waits after a failed backup.
const defaultRetry = 10 * time.Minute

// Taken is a finished backup as a schedule sees it.
type Taken struct {
	Name              string
	Started, Finished time.Time
	// Bytes is what the backup stored in the bucket.
	Bytes int64
	// Kind says what it was (logged), e.g. "full" or "incremental".
	Kind string
}

// Job is what a schedule runs: Newest reads the bucket's newest finished
// backup (ok false: none), Take takes one. A Take that took its backup
// but failed afterwards (e.g. pruning) returns it with its error.
type Job interface {
	Newest(ctx context.Context) (b Taken, ok bool, err error)
	Take(ctx context.Context) (Taken, error)
}

// MetricNames are the four metrics of a system's schedule
// (nano_<system>_backup_...): the staleness alert reads LastSuccess and
// Interval.
func MetricNames(system string) (lastSuccess, lastBytes, lastDuration, interval string) {
	p := "nano_" + system + "_backup_"
	return p + "last_success_timestamp_seconds", p + "last_size_bytes", p + "last_duration_seconds", p + "interval_seconds"
}

// Metrics are a schedule's: when the newest backup started (0: none
// yet), what it stored and how long it took, and the interval.
type Metrics struct {
	LastSuccess, LastBytes, LastDuration, Interval prometheus.Gauge
}

// NewMetrics registers the metrics of what's schedule (what: e.g.
// "ClickHouse"; system: its metric names' part, e.g. "clickhouse") on reg.
func NewMetrics(reg prometheus.Registerer, what, system string) *Metrics {
	last, size, took, every := MetricNames(system)
	m := &Metrics{
		LastSuccess:  prometheus.NewGauge(prometheus.GaugeOpts{Name: last, Help: "When the newest finished " + what + " backup started (0: none yet)."}),
		LastBytes:    prometheus.NewGauge(prometheus.GaugeOpts{Name: size, Help: "What the newest " + what + " backup stored in the bucket."}),
		LastDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: took, Help: "How long the newest " + what + " backup took."}),
		Interval:     prometheus.NewGauge(prometheus.GaugeOpts{Name: every, Help: "How often " + what + " is backed up."}),
	}
	reg.MustRegister(m.LastSuccess, m.LastBytes, m.LastDuration, m.Interval)
	return m
}

func (m *Metrics) observe(b Taken) {
	m.LastSuccess.Set(float64(b.Started.UnixNano()) / 1e9)
	m.LastBytes.Set(float64(b.Bytes))
	m.LastDuration.Set(b.Finished.Sub(b.Started).Seconds())
}

// Schedule takes a backup when the newest one is Interval old: Tick runs
// often (the scheduler's task), reads the bucket once per leadership and
// backs up when due, so a new leader or a restarted api neither repeats
// a recent backup nor waits a whole interval after an old one. After a
// failure it tries again after Retry (default 10 minutes), not every tick.
type Schedule struct {
	Job      Job
	What     string // e.g. "ClickHouse", in errors and the log
	Interval time.Duration
	Retry    time.Duration
	Metrics  *Metrics
	Log      *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	read    bool
	newest  time.Time
	retryAt time.Time
}

// Reset forgets what the schedule read from the bucket (a new term reads
// it again: another replica may have backed up meanwhile).
func (s *Schedule) Reset() { s.read = false }

func (s *Schedule) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Tick backs up if a backup is due; it returns the run's error.
func (s *Schedule) Tick(ctx context.Context) error {
	s.Metrics.Interval.Set(s.Interval.Seconds())
	now := s.now()
	if now.Before(s.retryAt) {
		return nil
	}
	if !s.read {
		newest, ok, err := s.Job.Newest(ctx)
		if err != nil {
			return s.failed(now, err)
		}
		if ok {
			s.newest = newest.Started
			s.Metrics.observe(newest)
		}
		s.read = true
	}
	if !s.newest.IsZero() && now.Sub(s.newest) < s.Interval {
		return nil
	}
	b, err := s.Job.Take(ctx)
	if b.Name != "" { // taken (perhaps with a later step failing): it counts
		s.newest = b.Started
		s.Metrics.observe(b)
	}
	if err != nil {
		return s.failed(now, err)
	}
	s.Log.Info(s.What+" backed up", "backup", b.Name, "kind", b.Kind, "bytes", b.Bytes,
		"seconds", b.Finished.Sub(b.Started).Seconds())
	return nil
}

func (s *Schedule) failed(now time.Time, err error) error {
	retry := s.Retry
	if retry <= 0 {
		retry = defaultRetry
	}
	s.retryAt = now.Add(retry)
	return fmt.Errorf("%s backup (next try in %s): %w", s.What, retry, err)
}

// ListJob is the Job of a kind of backup T that is listed oldest first
// (list), taken by run (a zero T when nothing was taken) and described by
// taken.
func ListJob[T any](list func(context.Context) ([]T, error), run func(context.Context) (T, error), taken func(T) Taken) Job {
	return listJob[T]{list, run, taken}
}

type listJob[T any] struct {
	list  func(context.Context) ([]T, error)
	run   func(context.Context) (T, error)
	taken func(T) Taken
}

func (j listJob[T]) Newest(ctx context.Context) (Taken, bool, error) {
	all, err := j.list(ctx)
	if err != nil || len(all) == 0 {
		return Taken{}, false, err
	}
	return j.taken(all[len(all)-1]), true, nil
}

func (j listJob[T]) Take(ctx context.Context) (Taken, error) {
	b, err := j.run(ctx)
	return j.taken(b), err
}
