// Package scheduler runs the api's background tasks on the elected leader:
// each task on its own interval, each run recorded in task_runs under the
// leader's fencing epoch, all of them stopped when the term ends.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/api/leader"
)

// Task is one background job.
type Task struct {
	Name     string
	Interval time.Duration
	// Run does one round; epoch is the term's fencing epoch, for writes
	// through leader.Fence.
	Run func(ctx context.Context, epoch int64) error
}

// Metrics are the scheduler's health metrics.
type Metrics struct {
	IsLeader prometheus.Gauge
	Epoch    prometheus.Gauge
	LastRun  *prometheus.GaugeVec
	Runs     *prometheus.CounterVec
	Failures *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		IsLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_api_scheduler_leader", Help: "1 while this replica leads the scheduler."}),
		Epoch:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_api_scheduler_epoch", Help: "The fencing epoch of this replica's current or last term."}),
		LastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nano_api_task_last_run_timestamp_seconds",
			Help: "When each task last finished a run on this replica."}, []string{"task"}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_api_task_runs_total", Help: "Task runs on this replica."}, []string{"task"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_api_task_failures_total",
			Help: "Task runs that failed on this replica."}, []string{"task"}),
	}
	reg.MustRegister(m.IsLeader, m.Epoch, m.LastRun, m.Runs, m.Failures)
	return m
}

// Scheduler runs tasks during leadership terms.
type Scheduler struct {
	DB      *pgxpool.Pool
	ID      string
	Tasks   []Task
	Metrics *Metrics
	Log     *slog.Logger
}

// Lead runs every task until the term ends (leader.Run's lead function).
func (s *Scheduler) Lead(term leader.Term) {
	s.Metrics.IsLeader.Set(1)
	s.Metrics.Epoch.Set(float64(term.Epoch))
	defer s.Metrics.IsLeader.Set(0)
	var wg sync.WaitGroup
	for _, t := range s.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(term, t)
		}()
	}
	wg.Wait()
}

func (s *Scheduler) loop(term leader.Term, t Task) {
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		s.once(term, t)
		select {
		case <-term.Ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// once runs t and records the run; a run of a deposed term is not recorded.
func (s *Scheduler) once(term leader.Term, t Task) {
	if term.Ctx.Err() != nil {
		return
	}
	start := time.Now()
	err := t.Run(term.Ctx, term.Epoch)
	if term.Ctx.Err() != nil && err != nil {
		return // stopped by the end of the term
	}
	s.Metrics.Runs.WithLabelValues(t.Name).Inc()
	msg := ""
	if err != nil {
		msg = err.Error()
		s.Metrics.Failures.WithLabelValues(t.Name).Inc()
		s.Log.Warn("task failed", "task", t.Name, "error", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(term.Ctx), 5*time.Second)
	defer cancel()
	rerr := leader.Fence(ctx, s.DB, term.Epoch, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO task_runs (task, epoch, holder, started_at, finished_at, error) VALUES ($1, $2, $3, $4, $5, $6)`,
			t.Name, term.Epoch, s.ID, start, time.Now(), msg)
		return err
	})
	if rerr != nil && !errors.Is(rerr, leader.ErrFenced) {
		s.Log.Warn("cannot record a task run", "task", t.Name, "error", rerr)
	}
	s.Metrics.LastRun.WithLabelValues(t.Name).SetToCurrentTime()
}
