package chbackup

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/backups"
)

// system is the part of the schedule's metric names
// (nano_clickhouse_backup_..., as contract's alerts read them).
const system = "clickhouse"

// NewMetrics registers the metrics of ClickHouse's scheduled backups on reg.
func NewMetrics(reg prometheus.Registerer) *backups.Metrics {
	return backups.NewMetrics(reg, "ClickHouse", system)
}

// NewSchedule runs b every interval on the api leader's scheduler.
func NewSchedule(b *Backups, interval time.Duration, m *backups.Metrics, log *slog.Logger) *backups.Schedule {
	return &backups.Schedule{Job: job{b}, What: "ClickHouse", Interval: interval, Metrics: m, Log: log, Now: b.now}
}

// job is Backups as a schedule's job.
type job struct{ b *Backups }

func (j job) Newest(ctx context.Context) (backups.Taken, bool, error) {
	all, err := j.b.List(ctx)
	if err != nil || len(all) == 0 {
		return backups.Taken{}, false, err
	}
	return taken(all[len(all)-1]), true, nil
}

func (j job) Take(ctx context.Context) (backups.Taken, error) {
	bk, err := j.b.Run(ctx)
	if bk.Name == "" {
		return backups.Taken{}, err
	}
	return taken(bk), err
}

func taken(bk Backup) backups.Taken {
	kind := "full"
	if !bk.Full() {
		kind = "incremental on " + bk.Base
	}
	return backups.Taken{Name: bk.Name, Started: bk.Started, Finished: bk.Finished, Bytes: bk.Bytes, Kind: kind}
}
