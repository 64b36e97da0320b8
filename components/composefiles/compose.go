package composefiles

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Paths on the host.
const (
	ProjectDir = "/opt/nano"
	DataDir    = "/mnt/nano-data"
)

// Database names and users on the host: dbUser is PostgreSQL's superuser
// (the image's POSTGRES_USER: the postgres-roles service and an operator's
// psql log in as it, no service does) and ClickHouse's owner (the api's
// user); the services' own logins are the roles below.
const (
	database         = "nano"
	dbUser           = "nano"
	clickhouseNative = 9000
	clickhouseProm   = 9363
	postgresPort     = 5432
	// The uids the official images run as; data directories belong to them.
	clickhouseUID = 101
	postgresUID   = 999
	nobodyUID     = 65534
)

// Params are the non-secret inputs of a Compose host's files.
type Params struct {
	Deployment string
	Tier       tier.Spec
	Images     settings.Images
	// Host is the public name of the deployment: the domain when one is
	// configured, else the public IPv4 address.
	Host string
	// PublicTLS is true when Host is a domain: Caddy then obtains a publicly
	// trusted certificate (TLS-ALPN challenge on 443); otherwise it issues
	// one from its internal CA.
	PublicTLS bool
	// VolumeDevice is the block device of the data volume.
	VolumeDevice string
	// Backup is where the api backs ClickHouse up (nil: no backups); its
	// keys are Secrets'.
	Backup *Backup
	// SignIn is the identity provider (nil: API tokens only); its client
	// secret is Secrets.OIDCClientSecret, never read from here.
	SignIn *settings.SignIn
}

// Backup is where, in an S3-compatible bucket, the api backs up: each URL
// is path-style and ends in "/" (the deployment's
// <bucket>/<deployment>/clickhouse-backups/ and .../postgres-backups/).
// Either URL may be empty: that database is then not backed up.
type Backup struct{ ClickHouseURL, PostgresURL, Region string }

// PostgreSQL's WAL spool with backups: a directory under DataDir that the
// server's archive_command fills and the api empties into the bucket.
const (
	walSpoolDir        = "postgres-wal"
	postgresSpoolMount = "/var/lib/postgresql/wal-spool"
	apiSpoolMount      = "/var/lib/nano/wal-spool"
	// hbaMount is where the server reads nano's pg_hba.conf (PostgresHBA).
	hbaMount = "/etc/nano/postgres/pg_hba.conf"
	// archiveTimeout bounds the WAL not yet archived (the RPO) on a quiet
	// server: a segment is switched and archived at least this often.
	archiveTimeout = "300"
)

// PostgreSQL roles the postgres-roles service creates (docs/security/database-roles.md):
// the api's, which owns the database and runs the migrations, and the
// metrics exporter's (pg_monitor); ingest's and search's are
// contract.IngestDBUser and contract.SearchDBUser, which the api grants
// their rights.
const (
	apiRole     = "nano_api"
	monitorRole = "nano_monitor"
)

// Secrets are generated once per deployment and held as Pulumi secrets.
type Secrets struct {
	// PostgresPassword is the superuser's (dbUser); ClickHousePassword the
	// ClickHouse owner's, the api's.
	PostgresPassword   string
	ClickHousePassword string
	// Each service's own logins: PostgreSQL's nano_api, nano_ingest,
	// nano_search and nano_monitor (the exporter), ClickHouse's
	// nano_ingest and nano_search.
	APIPostgresPassword, IngestPostgresPassword, SearchPostgresPassword, MonitorPostgresPassword string
	IngestClickHousePassword, SearchClickHousePassword                                           string
	IngestToken                                                                                  string
	HECToken                                                                                     string
	// PEM files of the Vector-native port's mutual TLS.
	NativeCACert, NativeServerCert, NativeServerKey string
	// APICredentialsKey seals the api's stored credentials (base64 of 32
	// bytes); kept for the deployment's life.
	APICredentialsKey string
	// AdminToken is the api's first admin token (contract.APIAdminToken).
	AdminToken string
	// The backup bucket's keys, with Params.Backup only.
	BackupAccessKeyID, BackupSecretAccessKey string
	// AlertmanagerConfig is nano:alertmanagerConfig ("": alerts go
	// nowhere, amconfig.Unconfigured).
	AlertmanagerConfig string
	// OIDCClientSecret is the identity provider's client secret, with
	// Params.SignIn only.
	OIDCClientSecret string
}

// Env variable names of the .env file.
const (
	envPostgresPassword   = "POSTGRES_PASSWORD"
	envClickHousePassword = "CLICKHOUSE_PASSWORD"
	envIngestToken        = "INGEST_TOKEN"
	envHECToken           = "HEC_TOKEN"
	envAPICredentialsKey  = "API_CREDENTIALS_KEY"
	envAdminToken         = "API_ADMIN_TOKEN"
	envBackupKeyID        = "BACKUP_ACCESS_KEY_ID"
	envBackupSecretKey    = "BACKUP_SECRET_ACCESS_KEY"
	// The roles' passwords, for the postgres-roles service only.
	envAPIPostgresPassword     = "API_POSTGRES_PASSWORD"
	envIngestPostgresPassword  = "INGEST_POSTGRES_PASSWORD"
	envSearchPostgresPassword  = "SEARCH_POSTGRES_PASSWORD"
	envMonitorPostgresPassword = "MONITOR_POSTGRES_PASSWORD"
)

// Where a service finds its own database logins: a directory of the
// project (written by cloud-init, owned by the service's uid, mode 0400)
// mounted read-only; each service mounts its own only.
const (
	secretsDir      = "secrets"
	secretsMount    = "/run/secrets/nano"
	secretPGURL     = "postgres-url"
	secretCHPass    = "clickhouse-password"
	secretPGPass    = "postgres-password"
	rolesScriptPath = "/etc/nano/postgres/roles.sql"
	chUsersPath     = "/etc/clickhouse-server/users.d/nano-services.xml"
)

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Restart     string            `yaml:"restart"`
	Command     []string          `yaml:"command,omitempty"`
	User        string            `yaml:"user,omitempty"`
	Environment map[string]string `yaml:"environment,omitempty"`
	Ports       []string          `yaml:"ports,omitempty"`
	Expose      []string          `yaml:"expose,omitempty"`
	Volumes     []string          `yaml:"volumes,omitempty"`
	DependsOn   map[string]dep    `yaml:"depends_on,omitempty"`
	Healthcheck *healthcheck      `yaml:"healthcheck,omitempty"`
	Ulimits     map[string]limit  `yaml:"ulimits,omitempty"`
	ReadOnly    bool              `yaml:"read_only,omitempty"`
	SecurityOpt []string          `yaml:"security_opt,omitempty"`
	CapDrop     []string          `yaml:"cap_drop,omitempty"`
	Logging     *logging          `yaml:"logging,omitempty"`
}

type dep struct {
	Condition string `yaml:"condition"`
}

type healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

type limit struct {
	Soft int `yaml:"soft"`
	Hard int `yaml:"hard"`
}

type logging struct {
	Driver  string            `yaml:"driver"`
	Options map[string]string `yaml:"options"`
}

func port(n int) string { return strconv.Itoa(n) }

// Compose returns the Docker Compose project (compose.yaml): one service
// per container (services.go), the api and PostgreSQL extended for backups
// where the deployment has a bucket.
func Compose(p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	f := composeFile{
		Name: "nano",
		Services: map[string]composeService{
			"clickhouse":        clickhouseService(),
			"postgres":          postgresService(),
			"postgres-roles":    postgresRolesService(),
			"postgres-exporter": postgresExporterService(),
			"api":               apiService(p),
			"search":            appService(p, "search", p.Images.Search, contract.Ports.Search, contract.SearchDBUser, nil, nil),
			"web":               webService(p),
			"ingest":            ingestService(p),
			"prometheus":        prometheusService(),
			"alertmanager":      alertmanagerService(),
			"caddy":             caddyService(),
		},
	}
	if p.Backup != nil {
		withBackups(f.Services, *p.Backup)
	}
	return marshal(f)
}

// PostgresHBA is the server's pg_hba.conf with backups: the official
// image's own (trust on the socket and loopback, scram-sha-256 from the
// network) and a replication line for the api's role, whose base backups
// the api takes from its container.
const PostgresHBA = `# nano: PostgreSQL client authentication, generated by Pulumi.
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
host    all             all             all                     scram-sha-256
host    replication     ` + apiRole + `        all                     scram-sha-256
`

// Env returns the .env file that holds the Compose project's secrets.
func Env(s Secrets) ([]byte, error) {
	vals := [][2]string{
		{envAdminToken, s.AdminToken},
		{envAPICredentialsKey, s.APICredentialsKey},
		{envAPIPostgresPassword, s.APIPostgresPassword},
		{envClickHousePassword, s.ClickHousePassword},
		{envHECToken, s.HECToken},
		{envIngestPostgresPassword, s.IngestPostgresPassword},
		{envIngestToken, s.IngestToken},
		{envMonitorPostgresPassword, s.MonitorPostgresPassword},
		{envPostgresPassword, s.PostgresPassword},
		{envSearchPostgresPassword, s.SearchPostgresPassword},
	}
	if s.BackupAccessKeyID != "" || s.BackupSecretAccessKey != "" {
		vals = append(vals, [2]string{envBackupKeyID, s.BackupAccessKeyID}, [2]string{envBackupSecretKey, s.BackupSecretAccessKey})
	}
	var b bytes.Buffer
	b.WriteString("# nano secrets, generated by Pulumi. Mode 0600; do not copy.\n")
	for _, kv := range vals {
		if kv[1] == "" {
			return nil, fmt.Errorf("cannot write .env: %s is empty", kv[0])
		}
		if strings.ContainsAny(kv[1], "\n\r\"'$\\ #") {
			return nil, fmt.Errorf("cannot write .env: %s holds a character .env cannot carry unquoted", kv[0])
		}
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return b.Bytes(), nil
}

// HSTS is the Strict-Transport-Security value of every HTTPS answer: a
// year, as the Kubernetes tiers' Traefik middleware sends.
const HSTS = "max-age=31536000"

// opsPaths are the services' operational endpoints (servicemain.Ops).
var opsPaths = []string{"/metrics", contract.ReadyPath, contract.HealthPath, "/version"}

// Caddyfile returns the HTTPS entry: /api and /search on 443, every other
// path the web UI, and TLS in front of the ingest HTTP and HEC ports.
func Caddyfile(p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	// Port 80 only redirects to HTTPS on 443 (and answers ACME HTTP-01
	// challenges, which Caddy serves there whatever the routes); every
	// HTTPS answer carries HSTS. The redirect is written out: Caddy's own
	// picks one of the host's HTTPS sites, which with the ingest ports on
	// the same host need not be 443.
	b.WriteString("# nano HTTPS entry, generated by Pulumi.\n{\n\tadmin off\n\tauto_https disable_redirects\n")
	tls := ""
	if !p.PublicTLS {
		tls = "\ttls internal\n"
		// Clients send no SNI to an IP address, and behind Docker's port
		// forwarding Caddy sees its container's address: without a
		// default name it has no certificate to offer.
		fmt.Fprintf(&b, "\t# Clients of an IP address send no server name: use the host's.\n\tdefault_sni %s\n", p.Host)
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(&b, "http://%s {\n\tredir https://{host}{uri} 308\n}\n\n", p.Host)
	tls += "\theader Strict-Transport-Security \"" + HSTS + "\"\n"
	fmt.Fprintf(&b, "https://%s {\n%s", p.Host, tls)
	// The prefix is kept (handle, not handle_path): under it api and search
	// answer their API alone, never /metrics, /readyz or /version
	// (servicemain.Prefixed), which Prometheus reads inside the network.
	fmt.Fprintf(&b, "\thandle %s/* {\n\t\treverse_proxy api:%d\n\t}\n", contract.APIPrefix, contract.Ports.API)
	fmt.Fprintf(&b, "\thandle %s/* {\n\t\treverse_proxy search:%d\n\t}\n", contract.SearchPrefix, contract.Ports.Search)
	// The web UI serves its operational endpoints on a port of their own
	// (Prometheus reads it inside the project); their paths are refused
	// here as well, so no other service's could show through either.
	for _, op := range opsPaths {
		fmt.Fprintf(&b, "\thandle %s {\n\t\trespond 404\n\t}\n", op)
	}
	fmt.Fprintf(&b, "\thandle {\n\t\treverse_proxy web:%d\n\t}\n}\n", contract.Ports.Web)
	for _, port := range []int{contract.Ports.IngestHTTP, contract.Ports.IngestHEC} {
		fmt.Fprintf(&b, "\nhttps://%s:%d {\n%s\treverse_proxy ingest:%d\n}\n", p.Host, port, tls, port)
	}
	// OTLP/gRPC: HTTP/2 to ingest's plain gRPC port.
	fmt.Fprintf(&b, "\nhttps://%s:%d {\n%s\treverse_proxy h2c://ingest:%d\n}\n", p.Host, contract.Ports.IngestOTLP, tls, contract.Ports.IngestOTLP)
	return b.Bytes(), nil
}

// Prometheus returns prometheus.yml: every seed endpoint (and ClickHouse) at
// the catalog's scrape interval.
func Prometheus(p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	interval := fmt.Sprintf("%ds", int(tier.ScrapeInterval.Seconds()))
	type static struct {
		Targets []string          `yaml:"targets"`
		Labels  map[string]string `yaml:"labels"`
	}
	type job struct {
		JobName       string   `yaml:"job_name"`
		MetricsPath   string   `yaml:"metrics_path"`
		StaticConfigs []static `yaml:"static_configs"`
	}
	labels := map[string]string{"nano_deployment": p.Deployment, "nano_tier": string(p.Tier.Name)}
	jobs := []job{
		{"api", "/metrics", []static{{[]string{"api:" + port(contract.Ports.API)}, labels}}},
		{"search", "/metrics", []static{{[]string{"search:" + port(contract.Ports.Search)}, labels}}},
		{"web", "/metrics", []static{{[]string{"web:" + port(contract.Ports.WebOps)}, labels}}},
		{"ingest", "/metrics", []static{{[]string{"ingest:" + port(contract.Ports.IngestMetrics)}, labels}}},
		{"postgres", "/metrics", []static{{[]string{"postgres-exporter:" + port(contract.Ports.PostgresExporter)}, labels}}},
		{"clickhouse", "/metrics", []static{{[]string{"clickhouse:" + port(clickhouseProm)}, labels}}},
		{"alertmanager", "/metrics", []static{{[]string{"alertmanager:" + port(contract.AlertmanagerPort)}, labels}}},
	}
	return marshal(map[string]any{
		"global":         map[string]string{"scrape_interval": interval, "evaluation_interval": interval},
		"scrape_configs": jobs,
		"rule_files":     []string{contract.AlertRulesFile},
		"alerting":       contract.PrometheusAlerting([]string{"alertmanager:" + port(contract.AlertmanagerPort)}),
	})
}

// ClickHouseConfig returns config.d/nano.xml for the single-node server.
// Memory is capped below the host's RAM since PostgreSQL and the services
// share the machine. It sets no listen_host: the image's own
// docker_related_config.xml listens on every IPv4 and IPv6 address, and
// one more listen_host would merge over the image's (no IPv6 listener) or
// bind twice.
func ClickHouseConfig(p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("<!-- nano single-node ClickHouse, generated by Pulumi. -->\n<clickhouse>\n")
	b.WriteString("    <logger>\n        <level>warning</level>\n        <console>1</console>\n    </logger>\n")
	b.WriteString("    <max_server_memory_usage_to_ram_ratio>0.5</max_server_memory_usage_to_ram_ratio>\n")
	fmt.Fprintf(&b, "    <prometheus>\n        <endpoint>/metrics</endpoint>\n        <port>%d</port>\n", clickhouseProm)
	b.WriteString("        <metrics>true</metrics>\n        <events>true</events>\n        <asynchronous_metrics>true</asynchronous_metrics>\n    </prometheus>\n")
	b.WriteString("</clickhouse>\n")
	return b.Bytes(), nil
}

func (p Params) check() error {
	var missing []string
	for name, v := range map[string]string{
		"deployment": p.Deployment, "host": p.Host, "volume device": p.VolumeDevice,
		"api image": p.Images.API, "search image": p.Images.Search, "ingest image": p.Images.Ingest, "web image": p.Images.Web,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if p.Tier.Name == "" || p.Tier.Retention.Days <= 0 {
		missing = append(missing, "tier")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("cannot build compose host files: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cannot encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cannot encode YAML: %w", err)
	}
	return b.Bytes(), nil
}
