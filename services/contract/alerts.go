package contract

import "fmt"

// The free share of ClickHouse's disk as the api's disk task reads it
// (the metric the components' Prometheus alerts on) and the share below
// which the warning fires. Ingest refuses new events below its own
// threshold (IngestMinDiskFreePct, default DefaultIngestMinDiskFreePct);
// nothing stored is deleted for room unless the operator chose so
// (DiskDropOldestBelowPct, off by default), and then every dropped day
// counts in DiskDaysDroppedMetric.
const (
	DiskFreeMetric              = "nano_clickhouse_disk_free_ratio"
	DiskFreeAlertMin            = 0.15
	DefaultIngestMinDiskFreePct = 10
	DiskDaysDroppedMetric       = "nano_clickhouse_disk_days_dropped_total"
	// IngestDiskRefusingMetric is 1 while an ingest replica refuses events
	// because ClickHouse's disk is nearly full.
	IngestDiskRefusingMetric = "nano_ingest_disk_refusing"
	// IngestQuotaRefusalsMetric counts the events refused (429) because
	// their tenant was over a quota, by tenant and quota.
	IngestQuotaRefusalsMetric = "nano_ingest_quota_refused_events_total"
	// IngestRejectedMetric counts events ingest did not take, by protocol
	// and reason (IngestReasonRefused: ClickHouse refused that request's
	// rows; the rest of its batch was committed).
	IngestRejectedMetric = "nano_ingest_rejected_events_total"
	IngestReasonRefused  = "refused"
)

// ClickHouse backups: the api scheduler's task and the metrics the alerts
// read (present only where backups are configured).
const (
	BackupTask              = "clickhouse-backup"
	BackupLastSuccessMetric = "nano_clickhouse_backup_last_success_timestamp_seconds"
	BackupIntervalMetric    = "nano_clickhouse_backup_interval_seconds"
)

// PostgreSQL backups on the Compose tiers (the clusters' are
// CloudNativePG's): the api scheduler's tasks and the metrics the alerts
// read (present only where they are configured).
const (
	PostgresBackupTask              = "postgres-backup"
	PostgresWALArchiveTask          = "postgres-wal-archive"
	PostgresBackupLastSuccessMetric = "nano_postgres_backup_last_success_timestamp_seconds"
	PostgresBackupIntervalMetric    = "nano_postgres_backup_interval_seconds"
)

// AlertRulesFile is where Prometheus reads nano's alert rules, beside its
// configuration.
const AlertRulesFile = "/etc/prometheus/alerts.yml"

// AlertRules are nano's Prometheus alert rules (a rules file's content);
// apiPostgresBackups adds those of the api's PostgreSQL backups (the
// Compose tiers': the clusters' are CloudNativePG's).
func AlertRules(apiPostgresBackups bool) map[string]any {
	rules := []any{map[string]any{
		"alert":  "NanoClickHouseDiskFilling",
		"expr":   fmt.Sprintf("%s < %g", DiskFreeMetric, DiskFreeAlertMin),
		"for":    "10m",
		"labels": map[string]any{"severity": "warning"},
		"annotations": map[string]any{
			"summary": "ClickHouse's disk is {{ $value | humanizePercentage }} free",
			"description": fmt.Sprintf("Below %d%% free ingest refuses new events (503) so that nothing stored is deleted. ", DefaultIngestMinDiskFreePct) +
				"Grow the volume (nano:hotStorageGB), shorten nano:retentionDays or lower a tenant's quota (docs/operate/limits-and-quotas.md).",
		},
	}, map[string]any{
		// Ingest stopped taking events: every shipper is getting 503s.
		"alert":  "NanoIngestRefusingDiskFull",
		"expr":   fmt.Sprintf("max(%s) > 0", IngestDiskRefusingMetric),
		"labels": map[string]any{"severity": "critical"},
		"annotations": map[string]any{
			"summary": "Ingest refuses new events: ClickHouse's disk is nearly full",
			"description": "Shippers get 503 and keep their events queued; nothing stored is deleted. " +
				"Grow the volume (nano:hotStorageGB) or shorten nano:retentionDays; see docs/operate/limits-and-quotas.md.",
		},
	}, map[string]any{
		// The operator's policy deleted history to make room.
		"alert":  "NanoEventsDeletedForDisk",
		"expr":   fmt.Sprintf("increase(%s[1h]) > 0", DiskDaysDroppedMetric),
		"labels": map[string]any{"severity": "critical"},
		"annotations": map[string]any{
			"summary":     "Days of events were deleted before their retention to free ClickHouse's disk",
			"description": "nano:diskDropOldestBelowPct is on; the api leader's log names each day deleted.",
		},
	}, map[string]any{
		"alert":  "NanoIngestTenantOverQuota",
		"expr":   fmt.Sprintf("sum by (tenant, quota) (increase(%s[10m])) > 0", IngestQuotaRefusalsMetric),
		"labels": map[string]any{"severity": "warning"},
		"annotations": map[string]any{
			"summary":     "Tenant {{ $labels.tenant }} is over its ingest quota ({{ $labels.quota }}): its events get 429",
			"description": "Raise nano:ingestTenantEps or nano:ingestTenantGBPerDay if the volume is expected (docs/operate/limits-and-quotas.md).",
		},
	}, map[string]any{
		"alert":  "NanoIngestEventsRefusedByClickHouse",
		"expr":   fmt.Sprintf(`sum by (protocol) (increase(%s{reason=%q}[10m])) > 0`, IngestRejectedMetric, IngestReasonRefused),
		"labels": map[string]any{"severity": "warning"},
		"annotations": map[string]any{
			"summary":     "ClickHouse refused some requests' events (422 to those clients; their batches' other requests were committed)",
			"description": "Ingest's log names the tenant, feed and ClickHouse's error.",
		},
	}, map[string]any{
		// Every failed attempt (the api retries after 10 minutes).
		"alert":  "NanoClickHouseBackupFailing",
		"expr":   fmt.Sprintf(`increase(nano_api_task_failures_total{task=%q}[1h]) > 0`, BackupTask),
		"labels": map[string]any{"severity": "warning"},
		"annotations": map[string]any{
			"summary":     "ClickHouse backups are failing",
			"description": "The api leader's log says why (task " + BackupTask + "): the bucket's keys, the network to it, or ClickHouse.",
		},
	}, map[string]any{
		// The newest backup is two intervals old (the gauge is 0 until the
		// first one: a deployment whose first backup never finishes
		// fires too). max(): only the leader has taken or read one.
		"alert":  "NanoClickHouseBackupStale",
		"expr":   fmt.Sprintf("time() - max(%s) > 2 * max(%s)", BackupLastSuccessMetric, BackupIntervalMetric),
		"for":    "30m",
		"labels": map[string]any{"severity": "critical"},
		"annotations": map[string]any{
			"summary":     "The newest ClickHouse backup is {{ $value | humanizeDuration }} old",
			"description": "Restores would lose everything since; see NanoClickHouseBackupFailing and the api leader's log.",
		},
	}}
	if apiPostgresBackups {
		rules = append(rules, postgresBackupRules()...)
	}
	return map[string]any{"groups": []any{map[string]any{"name": "nano", "rules": rules}}}
}

// postgresBackupRules alert on the api's PostgreSQL backups.
func postgresBackupRules() []any {
	return []any{map[string]any{
		"alert":  "NanoPostgresBackupFailing",
		"expr":   fmt.Sprintf(`increase(nano_api_task_failures_total{task=~"%s|%s"}[1h]) > 0`, PostgresBackupTask, PostgresWALArchiveTask),
		"labels": map[string]any{"severity": "warning"},
		"annotations": map[string]any{
			"summary": "PostgreSQL base backups or WAL archiving are failing (task {{ $labels.task }})",
			"description": "The api leader's log says why: the bucket's keys, the network to it, or PostgreSQL's replication connection. " +
				"While WAL archiving fails, WAL waits in the spool directory on the host's disk.",
		},
	}, map[string]any{
		"alert":  "NanoPostgresBackupStale",
		"expr":   fmt.Sprintf("time() - max(%s) > 2 * max(%s)", PostgresBackupLastSuccessMetric, PostgresBackupIntervalMetric),
		"for":    "30m",
		"labels": map[string]any{"severity": "critical"},
		"annotations": map[string]any{
			"summary":     "The newest PostgreSQL base backup is {{ $value | humanizeDuration }} old",
			"description": "A restore replays all the WAL since it (slow, and lost if WAL archiving fails too); see NanoPostgresBackupFailing.",
		},
	}}
}
