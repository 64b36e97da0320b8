package contract

// Metrics the components' Prometheus alerts on: the free share of
// ClickHouse's disk as the api's disk guard reads it, and the threshold
// below which an operator should look (the guard drops the oldest day at
// 0.10).
const (
	DiskFreeMetric   = "nano_clickhouse_disk_free_ratio"
	DiskFreeAlertMin = 0.15
)

// AlertRulesFile is where Prometheus reads nano's alert rules, beside its
// configuration.
const AlertRulesFile = "/etc/prometheus/alerts.yml"

// AlertRules are nano's Prometheus alert rules (a rules file's content).
func AlertRules() map[string]any {
	return map[string]any{"groups": []any{map[string]any{
		"name": "nano",
		"rules": []any{map[string]any{
			"alert":  "NanoClickHouseDiskFilling",
			"expr":   DiskFreeMetric + " < 0.15",
			"for":    "10m",
			"labels": map[string]any{"severity": "warning"},
			"annotations": map[string]any{
				"summary": "ClickHouse's disk is {{ $value | humanizePercentage }} free",
				"description": "Below 10% free the api drops the oldest day of events before its retention. " +
					"Grow the volume (nano:hotStorageGB) or shorten nano:retentionDays.",
			},
		}},
	}}}
}
