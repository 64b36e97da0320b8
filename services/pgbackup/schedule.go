package pgbackup

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/backups"
)

// system is the part of the schedule's metric names
// (nano_postgres_backup_..., as contract's alerts read them).
const system = "postgres"

// NewMetrics registers the metrics of PostgreSQL's scheduled base backups
// on reg.
func NewMetrics(reg prometheus.Registerer) *backups.Metrics {
	return backups.NewMetrics(reg, "PostgreSQL", system)
}

// NewSchedule takes a base backup with b every interval on the api
// leader's scheduler.
func NewSchedule(b *Backups, interval time.Duration, m *backups.Metrics, log *slog.Logger) *backups.Schedule {
	return &backups.Schedule{Job: backups.ListJob(b.List, b.Run, taken), What: "PostgreSQL", Interval: interval, Metrics: m, Log: log, Now: b.now}
}

func taken(bk Backup) backups.Taken {
	if bk.Name == "" {
		return backups.Taken{}
	}
	return backups.Taken{Name: bk.Name, Started: bk.Started, Finished: bk.Finished, Bytes: bk.Bytes, Kind: "base from " + bk.StartWAL}
}
