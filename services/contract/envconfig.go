package contract

// Shared by every service.
const (
	// Deployment is the deployment name (metrics label, logs).
	Deployment = "NANO_DEPLOYMENT"
	// PostgresURL is a libpq URL of the metadata database.
	PostgresURL = "NANO_POSTGRES_URL"
	// ClickHouseAddr is host:port of ClickHouse's native protocol.
	ClickHouseAddr = "NANO_CLICKHOUSE_ADDR"
	// ClickHouseDatabase, ClickHouseUser and ClickHousePassword authenticate to it.
	ClickHouseDatabase = "NANO_CLICKHOUSE_DATABASE"
	ClickHouseUser     = "NANO_CLICKHOUSE_USER"
	ClickHousePassword = "NANO_CLICKHOUSE_PASSWORD"
	// ClickHouseTLS ("true") speaks the native protocol over TLS (ClickHouse
	// Cloud's 9440), verifying the server against the system's roots, or
	// against the PEM bundle ClickHouseCAFile names.
	ClickHouseTLS    = "NANO_CLICKHOUSE_TLS"
	ClickHouseCAFile = "NANO_CLICKHOUSE_CA_FILE"
	// ClickHouseCluster names the ClickHouse cluster for replicated DDL; empty
	// on single-node tiers.
	ClickHouseCluster = "NANO_CLICKHOUSE_CLUSTER"
	// RetentionDays is how long events are kept before roll-off.
	RetentionDays = "NANO_RETENTION_DAYS"
	// ListenAddr is the service's HTTP listen address (":3000").
	ListenAddr = "NANO_LISTEN_ADDR"
)

// Ingest only.
const (
	// IngestToken is the bootstrap bearer token for the HTTP port.
	IngestToken = "NANO_INGEST_TOKEN"
	// HECToken is the bootstrap Splunk HEC token.
	HECToken = "NANO_HEC_TOKEN"
	// NativeTLSCert, NativeTLSKey and NativeClientCA are PEM file paths for the
	// Vector-native port's mutual TLS.
	NativeTLSCert  = "NANO_NATIVE_TLS_CERT"
	NativeTLSKey   = "NANO_NATIVE_TLS_KEY"
	NativeClientCA = "NANO_NATIVE_CLIENT_CA"
	// IngestTLSCert and IngestTLSKey, PEM file paths set together, serve the
	// HTTP (8080) and HEC (8088) ports over TLS (behind a cloud load
	// balancer that passes TCP through; the Compose host's Caddy
	// terminates TLS itself and leaves them unset).
	IngestTLSCert = "NANO_INGEST_TLS_CERT"
	IngestTLSKey  = "NANO_INGEST_TLS_KEY"
)

// Database logins of the services that do not own the schemas: the
// PostgreSQL roles and ClickHouse users by these names (docs/security/database-roles.md).
// The api logs in as the owner (PostgreSQL: the database's owner, nano on
// the clusters and nano_api on a Compose host; ClickHouse: nano, or the
// ClickHouse Cloud user), runs every migration and grants these their
// rights.
const (
	IngestDBUser = "nano_ingest"
	SearchDBUser = "nano_search"
)

// The api's grants: the PostgreSQL roles of ingest and search, which it
// grants their rights on the metadata schema at every migration (unset: that
// service logs in as the owner, a single-login setup).
const (
	PostgresIngestRole = "NANO_POSTGRES_INGEST_ROLE"
	PostgresSearchRole = "NANO_POSTGRES_SEARCH_ROLE"
)

// Files: on Kubernetes, secrets are mounted as files and these variables
// name them; a service reads the file when the plain variable is unset.
const (
	PostgresURLFile        = "NANO_POSTGRES_URL_FILE"
	ClickHousePasswordFile = "NANO_CLICKHOUSE_PASSWORD_FILE"
	IngestTokenFile        = "NANO_INGEST_TOKEN_FILE"
	HECTokenFile           = "NANO_HEC_TOKEN_FILE"
)

// Health endpoints every service serves: api and search on their HTTP port,
// ingest on its metrics port.
const (
	HealthPath = "/healthz"
	ReadyPath  = "/readyz"
)

// ClickHouse storage: where the platform has a warm S3 disk, tables use
// this storage policy and move parts to the "warm" volume.
const (
	ClickHouseStoragePolicy = "NANO_CLICKHOUSE_STORAGE_POLICY"
	ClickHouseWarmAfterDays = "NANO_CLICKHOUSE_WARM_AFTER_DAYS"
)

// Ingest's other ports; unset means the default, which is the deployment
// architecture's port (the components leave them unset).
const (
	HECAddr     = "NANO_HEC_ADDR"
	MetricsAddr = "NANO_METRICS_ADDR"
	NativeAddr  = "NANO_NATIVE_ADDR"
	// IngestRateEPS limits each token's events per second (0: unlimited).
	IngestRateEPS = "NANO_INGEST_RATE_EPS"
)

// OTLPAddr is the listen address of ingest's OTLP/gRPC port (4317), served
// with the HTTP port's TLS (IngestTLSCert) when that is set.
const OTLPAddr = "NANO_OTLP_ADDR"

// Ingest's syslog port (docs/reference/syslog.md). TLS (SyslogTLSAddr, 6514) is
// served when SyslogTLSCert and SyslogTLSKey are set; its clients are
// attributed by a certificate of SyslogClientCA (URI SAN
// urn:nano:feed:<tenant>:<feed>) or a syslog feed's token in each message.
// Plain TCP and UDP (SyslogAddr, 5514) are off unless the operator lists
// source networks: "CIDR=tenant:feed,...".
const (
	SyslogTLSAddr          = "NANO_SYSLOG_TLS_ADDR"
	SyslogAddr             = "NANO_SYSLOG_ADDR"
	SyslogTLSCert          = "NANO_SYSLOG_TLS_CERT"
	SyslogTLSKey           = "NANO_SYSLOG_TLS_KEY"
	SyslogClientCA         = "NANO_SYSLOG_CLIENT_CA"
	SyslogTCPSources       = "NANO_SYSLOG_TCP_SOURCES"
	SyslogUDPSources       = "NANO_SYSLOG_UDP_SOURCES"
	SyslogMaxMessageBytes  = "NANO_SYSLOG_MAX_MESSAGE_BYTES" // longer messages are cut (64 KiB)
	SyslogMaxConnections   = "NANO_SYSLOG_MAX_CONNECTIONS"   // TCP and TLS connections at once (1000)
	SyslogIdleTimeout      = "NANO_SYSLOG_IDLE_TIMEOUT"      // Go duration without a whole message before close (5m)
	SyslogConnEventsPerSec = "NANO_SYSLOG_CONN_EPS"          // one connection's events per second, read slower beyond (50 000)
	SyslogPendingBytes     = "NANO_SYSLOG_PENDING_BYTES"     // messages read and not committed, all connections (64 MiB)
)

// Ingest's input limits (bytes unless named otherwise); unset keeps the
// documented default.
const (
	IngestMaxBodyBytes    = "NANO_INGEST_MAX_BODY_BYTES"    // as sent (10 MiB)
	IngestMaxDecodedBytes = "NANO_INGEST_MAX_DECODED_BYTES" // after gzip (32 MiB)
	IngestMaxEvents       = "NANO_INGEST_MAX_EVENTS"        // events per request (100 000)
	IngestMaxRecordBytes  = "NANO_INGEST_MAX_RECORD_BYTES"  // one line/element/HEC event (1 MiB)
	IngestMaxFieldBytes   = "NANO_INGEST_MAX_FIELD_BYTES"   // service, host, severity, attribute keys (1 KiB)
	IngestMaxMessageBytes = "NANO_INGEST_MAX_MESSAGE_BYTES" // message and attribute values (64 KiB)
	IngestMaxRawBytes     = "NANO_INGEST_MAX_RAW_BYTES"     // the stored original record (256 KiB)
	IngestMaxAttributes   = "NANO_INGEST_MAX_ATTRIBUTES"    // attributes per event (256)
)

// Ingest's write path.
const (
	IngestFlushInterval = "NANO_INGEST_FLUSH_INTERVAL" // Go duration a batch waits to fill (1s)
	IngestBatchEvents   = "NANO_INGEST_BATCH_EVENTS"   // events per insert (10 000)
	IngestQueueEvents   = "NANO_INGEST_QUEUE_EVENTS"   // events waiting for commit before 503 (200 000)
	IngestQueueBytes    = "NANO_INGEST_QUEUE_BYTES"    // their raw size before 503 (64 MiB)
	IngestInserters     = "NANO_INGEST_INSERTERS"      // batches inserting at once (2)
	IngestInflightBytes = "NANO_INGEST_INFLIGHT_BYTES" // request bodies held at once before 503 (96 MiB; at least 2 x (max body + max decoded)), at most half by one tenant
	IngestMinBodyRate   = "NANO_INGEST_MIN_BODY_RATE"  // slowest body arrival in bytes/s after 2 s before 408 (16 KiB/s)
)

// Ingest's time window, per-tenant quotas and disk guard (docs/operate/limits-and-quotas.md);
// unset keeps the default.
const (
	// IngestMaxEventAgeDays: an event older than this many days is stored at
	// its arrival time, its own time kept in the attribute
	// nano.original_time (default NANO_RETENTION_DAYS; 0 with no retention:
	// no bound but ClickHouse's DateTime range).
	IngestMaxEventAgeDays = "NANO_INGEST_MAX_EVENT_AGE_DAYS"
	// IngestMaxClockSkew: an event dated further ahead is treated the same
	// (Go duration, 15m).
	IngestMaxClockSkew = "NANO_INGEST_MAX_CLOCK_SKEW"
	// IngestMaxDaysPerRequest: a request whose events fall on more distinct
	// days is refused with 400 (30).
	IngestMaxDaysPerRequest = "NANO_INGEST_MAX_DAYS_PER_REQUEST"
	// IngestBatchDays: distinct days one insert may hold, below
	// ClickHouse's max_partitions_per_insert_block (90; lowered to the
	// server's setting when that is smaller).
	IngestBatchDays = "NANO_INGEST_BATCH_DAYS"
	// IngestTenantEPS: each tenant's events per second on each replica,
	// with a burst of IngestTenantBurstSeconds of them (0: unlimited; the
	// deployments set the tier's EPS).
	IngestTenantEPS          = "NANO_INGEST_TENANT_EPS"
	IngestTenantBurstSeconds = "NANO_INGEST_TENANT_BURST_SECONDS" // (60)
	// IngestTenantGBPerDay: each tenant's GB (10^9 bytes of events as
	// received) per UTC day, counted across replicas through PostgreSQL
	// (0: unlimited; the deployments set the tier's GB/day).
	IngestTenantGBPerDay = "NANO_INGEST_TENANT_GB_PER_DAY"
	// IngestMinDiskFreePct: below this share of ClickHouse's disk free,
	// ingest refuses new events with 503 (10; 0: off).
	IngestMinDiskFreePct = "NANO_INGEST_MIN_DISK_FREE_PCT"
	// IngestDiskCheckInterval: how often ingest reads the disk (Go duration, 15s).
	IngestDiskCheckInterval = "NANO_INGEST_DISK_CHECK_INTERVAL"
	// DiskDropOldestBelowPct (api): below this share free, the api leader
	// deletes the oldest day of events, logged and alerted (0: never, the
	// default).
	DiskDropOldestBelowPct = "NANO_DISK_DROP_OLDEST_BELOW_PCT"
)

// Search only; unset keeps the default given here.
const (
	SearchMaxExecutionTime       = "NANO_SEARCH_MAX_EXECUTION_TIME"        // per query on ClickHouse (30s)
	SearchMaxRowsToRead          = "NANO_SEARCH_MAX_ROWS_TO_READ"          // per query (2 000 000 000)
	SearchMaxBytesToRead         = "NANO_SEARCH_MAX_BYTES_TO_READ"         // per query (200 GiB)
	SearchMaxMemoryBytes         = "NANO_SEARCH_MAX_MEMORY_BYTES"          // per query (2 GiB)
	SearchMaxConcurrent          = "NANO_SEARCH_MAX_CONCURRENT"            // running searches per replica (8)
	SearchMaxConcurrentPerTenant = "NANO_SEARCH_MAX_CONCURRENT_PER_TENANT" // running searches per tenant and replica (4)
	SearchMaxQueued              = "NANO_SEARCH_MAX_QUEUED"                // searches waiting for a slot (64)
	SearchQueueTimeout           = "NANO_SEARCH_QUEUE_TIMEOUT"             // longest wait for a slot before 429 (5s)
	SearchDefaultRange           = "NANO_SEARCH_DEFAULT_RANGE"             // time range of a search without one (24h)
	SearchDefaultPageRows        = "NANO_SEARCH_DEFAULT_PAGE_ROWS"         // rows per page (100)
	SearchMaxPageRows            = "NANO_SEARCH_MAX_PAGE_ROWS"             // largest page_size (10 000)
	SearchMaxBodyBytes           = "NANO_SEARCH_MAX_BODY_BYTES"            // request body (64 KiB)
	SearchMaxSavedSearches       = "NANO_SEARCH_MAX_SAVED_SEARCHES"        // saved searches per tenant, 409 over it; 0 is no limit (500)
)

// TokenCacheTTL is how long a service trusts a verified API token before
// asking the database again, i.e. how long a revocation may take (30s).
const TokenCacheTTL = "NANO_TOKEN_CACHE_TTL"

// APITokenPrefix starts every api token (nano_ and 43 characters of
// base64url: 32 random bytes).
const APITokenPrefix = "nano_"

// DefaultTenant is the tenant of a deployment's bootstrap credentials
// (ingest's NANO_INGEST_TOKEN and NANO_HEC_TOKEN, the api's first admin
// token).
const DefaultTenant = "default"

// The api service; unset keeps the default given here.
const (
	// APILeaderPostgresURL is the URL of the scheduler's lock session when
	// NANO_POSTGRES_URL goes through a transaction-mode pooler (session
	// advisory locks need a direct connection); default NANO_POSTGRES_URL.
	APILeaderPostgresURL     = "NANO_API_LEADER_POSTGRES_URL"
	APILeaderPostgresURLFile = "NANO_API_LEADER_POSTGRES_URL_FILE" // or a file holding it (it carries a password)
	APICredentialsKey        = "NANO_API_CREDENTIALS_KEY"          // base64 of 32 bytes; credentials are disabled without it
	APICredentialsKeyFile    = "NANO_API_CREDENTIALS_KEY_FILE"
	// APIAdminToken is the deployment's first admin token (nano_...),
	// generated by Pulumi: the api stores it for DefaultTenant once, at
	// start, unless a token with its hash exists (revoked stays revoked).
	APIAdminToken      = "NANO_API_ADMIN_TOKEN"
	APIAdminTokenFile  = "NANO_API_ADMIN_TOKEN_FILE"
	APIEnrichmentDir   = "NANO_API_ENRICHMENT_DIR"   // the directory file datasets must be under (none)
	APILeaderRetry     = "NANO_API_LEADER_RETRY"     // how often a follower tries the lock (500ms)
	APILeaderHeartbeat = "NANO_API_LEADER_HEARTBEAT" // how often the leader checks its session (500ms)
	APIReplicaID       = "NANO_API_REPLICA_ID"       // this replica's name in the scheduler (the host name)
	APIMaxBodyBytes    = "NANO_API_MAX_BODY_BYTES"   // request body (1 MiB)
	APIRequestTimeout  = "NANO_API_REQUEST_TIMEOUT"  // one request (30s)
	// Per-tenant limits (quota; 0 is no limit): over one, a creation is
	// refused with 409 naming the variable.
	APIMaxRules       = "NANO_API_MAX_RULES"        // detection rules per tenant, signal rules included (500)
	APIMaxSignalRules = "NANO_API_MAX_SIGNAL_RULES" // signal rules per tenant: each is a view on every insert (20)
	APIMaxDatasets    = "NANO_API_MAX_DATASETS"     // enrichment datasets per tenant, the platform's not counted (20)
)

// ClickHouse backups, taken by the api's scheduler (off unless BackupURL
// is set); unset keeps the default given here.
const (
	// BackupURL is the path-style URL of a prefix in a bucket
	// (https://host/bucket/prefix/) where backups go, one prefix each.
	BackupURL                 = "NANO_BACKUP_URL"
	BackupRegion              = "NANO_BACKUP_REGION" // the bucket's region (us-east-1)
	BackupAccessKeyID         = "NANO_BACKUP_ACCESS_KEY_ID"
	BackupSecretAccessKey     = "NANO_BACKUP_SECRET_ACCESS_KEY"
	BackupSecretAccessKeyFile = "NANO_BACKUP_SECRET_ACCESS_KEY_FILE"
	// The same read from files (Kubernetes: the warm bucket's Secret).
	BackupURLFile         = "NANO_BACKUP_URL_FILE"
	BackupRegionFile      = "NANO_BACKUP_REGION_FILE"
	BackupAccessKeyIDFile = "NANO_BACKUP_ACCESS_KEY_ID_FILE"
	BackupInterval        = "NANO_BACKUP_INTERVAL"   // how often (6h)
	BackupFullEvery       = "NANO_BACKUP_FULL_EVERY" // incrementals after each full backup (27: a full one a week at 6h)
	BackupKeep            = "NANO_BACKUP_KEEP"       // chains kept, the newest (4: four weeks at the defaults)
)

// PostgreSQL backups, taken by the api on the Compose tiers (off unless
// PostgresBackupURL is set; the clusters' are CloudNativePG's), with the
// bucket's keys and region of the Backup* keys above.
const (
	PostgresBackupURL      = "NANO_POSTGRES_BACKUP_URL" // like BackupURL, a prefix of its own
	PostgresBackupURLFile  = "NANO_POSTGRES_BACKUP_URL_FILE"
	PostgresWALSpool       = "NANO_POSTGRES_WAL_SPOOL"       // the directory the server's archive_command copies WAL into (required)
	PostgresBackupInterval = "NANO_POSTGRES_BACKUP_INTERVAL" // base backups (24h)
	PostgresBackupKeep     = "NANO_POSTGRES_BACKUP_KEEP"     // base backups kept, with the WAL since the oldest (7)
)

// ClickHouseBackupPrefix is where a deployment's ClickHouse backups live
// under its prefix in a bucket (<bucket>/<deployment>/clickhouse-backups/),
// beside PostgreSQL's postgres/ on the clusters.
const ClickHouseBackupPrefix = "clickhouse-backups/"

// PostgresBackupPrefix is where the api's PostgreSQL backups of a Compose
// deployment live under its <deployment>/ prefix (beside, never inside,
// the clusters' CloudNativePG archive <deployment>/postgres/).
const PostgresBackupPrefix = "postgres-backups/"
