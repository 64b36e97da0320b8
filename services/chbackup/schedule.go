package chbackup

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/contract"
)

// The metrics of scheduled backups beside contract's (registered only
// where backups are configured).
const (
	lastBytesMetric     = "nano_clickhouse_backup_last_size_bytes"
	lastDurationMetric  = "nano_clickhouse_backup_last_duration_seconds"
	defaultRetryBackoff = 10 * time.Minute
)

// Metrics are a schedule's: when the newest backup started (0: none
// yet), what it stored and how long it took, and the interval (for the
// staleness alert).
type Metrics struct {
	LastSuccess, LastBytes, LastDuration, Interval prometheus.Gauge
}

// NewMetrics registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: contract.BackupLastSuccessMetric,
			Help: "When the newest finished ClickHouse backup started (0: none yet)."}),
		LastBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: lastBytesMetric,
			Help: "What the newest ClickHouse backup stored in the bucket (an increment: only what its base lacks)."}),
		LastDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: lastDurationMetric,
			Help: "How long the newest ClickHouse backup took."}),
		Interval: prometheus.NewGauge(prometheus.GaugeOpts{Name: contract.BackupIntervalMetric,
			Help: "How often ClickHouse is backed up (NANO_BACKUP_INTERVAL)."}),
	}
	reg.MustRegister(m.LastSuccess, m.LastBytes, m.LastDuration, m.Interval)
	return m
}

func (m *Metrics) observe(b Backup) {
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
	Backups  *Backups
	Interval time.Duration
	Retry    time.Duration
	Metrics  *Metrics
	Log      *slog.Logger

	read    bool
	newest  time.Time
	retryAt time.Time
}

// Reset forgets what the schedule read from the bucket (a new term reads
// it again: another replica may have backed up meanwhile).
func (s *Schedule) Reset() { s.read = false }

// Tick backs up if a backup is due; it returns the run's error.
func (s *Schedule) Tick(ctx context.Context) error {
	s.Metrics.Interval.Set(s.Interval.Seconds())
	now := s.Backups.now()
	if now.Before(s.retryAt) {
		return nil
	}
	if !s.read {
		all, err := s.Backups.List(ctx)
		if err != nil {
			return s.failed(now, err)
		}
		if len(all) > 0 {
			s.newest = all[len(all)-1].Started
			s.Metrics.observe(all[len(all)-1])
		}
		s.read = true
	}
	if !s.newest.IsZero() && now.Sub(s.newest) < s.Interval {
		return nil
	}
	bk, err := s.Backups.Run(ctx)
	if err != nil {
		if bk.Name != "" { // taken, but pruning failed: it counts
			s.newest = bk.Started
			s.Metrics.observe(bk)
		}
		return s.failed(now, err)
	}
	s.newest = bk.Started
	s.Metrics.observe(bk)
	kind := "incremental"
	if bk.Full() {
		kind = "full"
	}
	s.Log.Info("ClickHouse backed up", "backup", bk.Name, "kind", kind, "base", bk.Base, "bytes", bk.Bytes,
		"seconds", bk.Finished.Sub(bk.Started).Seconds())
	return nil
}

func (s *Schedule) failed(now time.Time, err error) error {
	retry := s.Retry
	if retry <= 0 {
		retry = defaultRetryBackoff
	}
	s.retryAt = now.Add(retry)
	return fmt.Errorf("ClickHouse backup (next try in %s): %w", retry, err)
}
