package contract

// Third-party images nano runs beside its own services, pinned, one
// definition each: the Compose host (components/composefiles) and the
// Kubernetes platform (components/kubeobjects) deploy these exact versions.
const (
	ClickHouseImage       = "clickhouse/clickhouse-server:25.8"
	KeeperImage           = "clickhouse/clickhouse-keeper:25.8"
	PrometheusImage       = "prom/prometheus:v3.5.0"
	PostgresExporterImage = "quay.io/prometheuscommunity/postgres-exporter:v0.17.1"
	CaddyImage            = "caddy:2.10.0"
	// PostgresImage is the official image the Compose host runs;
	// CNPGPostgresImage is CloudNativePG's operand image of the same version.
	PostgresImage     = "postgres:17.6"
	CNPGPostgresImage = "ghcr.io/cloudnative-pg/postgresql:17.6"
)
