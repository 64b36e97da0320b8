package contract

import "fmt"

// The free share of ClickHouse's disk as the api's disk guard reads it
// (the metric the components' Prometheus alerts on), the share below which
// the alert fires, and the share below which the guard drops the oldest
// day of events.
const (
	DiskFreeMetric   = "nano_clickhouse_disk_free_ratio"
	DiskFreeAlertMin = 0.15
	DiskFreeGuardMin = 0.10
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
			"expr":   fmt.Sprintf("%s < %g", DiskFreeMetric, DiskFreeAlertMin),
			"for":    "10m",
			"labels": map[string]any{"severity": "warning"},
			"annotations": map[string]any{
				"summary": "ClickHouse's disk is {{ $value | humanizePercentage }} free",
				"description": fmt.Sprintf("Below %g%% free the api drops the oldest day of events before its retention. ", DiskFreeGuardMin*100) +
					"Grow the volume (nano:hotStorageGB) or shorten nano:retentionDays.",
			},
		}},
	}}}
}
