package main

import (
	"crypto/tls"
	"encoding/base64"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/api/notify"
	"github.com/nanosiem/nano/services/api/oidc"
	"github.com/nanosiem/nano/services/api/server"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/chclient"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/quota"
)

// config is the api's validated configuration.
type config struct {
	Listen                 string
	PostgresURL, LeaderURL string
	ClickHouseAddrs        []string
	// ClickHouseTLS dials ClickHouse over TLS (nil: plain).
	ClickHouseTLS  *tls.Config
	User, Password string
	// Engine is the events schema the api migrates (it owns it; ingest
	// and search wait for it).
	Engine events.Engine
	// Roles are the PostgreSQL roles of ingest and search, granted their
	// rights at every migration.
	Roles                  metadb.Roles
	CredentialsKey         []byte
	AdminToken             string
	EnrichmentDir          string
	Retry, Heartbeat       time.Duration
	ReplicaID              string
	MaxBodyBytes           int64
	Timeout, TokenCacheTTL time.Duration
	// Limits are the per-tenant quotas.
	Limits server.Limits
	// Backup is nil when ClickHouse backups are off (NANO_BACKUP_URL unset).
	Backup *backupConfig
	// PostgresBackup is nil when the api does not back PostgreSQL up
	// (NANO_POSTGRES_BACKUP_URL unset).
	PostgresBackup *postgresBackupConfig
	// DropOldestBelow is the operator's policy of deleting history for
	// disk room: below this free share of ClickHouse's disk the leader
	// deletes the oldest day of events (0: never, the default).
	DropOldestBelow float64
	// OIDC is the identity provider (nil: API tokens only); the audit
	// trail's retention and the proxies trusted to name the client
	// (signin.go).
	OIDC               *oidc.Config
	AuditRetentionDays int
	Trusted            []netip.Prefix
	// Alertmanagers are where alerts go (none: kept in nano only), posted
	// again every AlertResend; WebURL is the UI their links point at.
	Alertmanagers []*url.URL
	AlertResend   time.Duration
	SampleEvents  int
	WebURL        string
}

// postgresBackupConfig is where and how often PostgreSQL is backed up, and
// the WAL spool the server's archive_command fills.
type postgresBackupConfig struct {
	Store    backups.Store
	Spool    string
	Interval time.Duration
	Keep     int
}

// backupConfig is where and how often ClickHouse is backed up.
type backupConfig struct {
	Store           backups.Store
	Interval        time.Duration
	FullEvery, Keep int
}

func loadConfig(getenv func(string) string) (config, error) {
	r := &contract.Reader{Getenv: getenv}
	host, _ := os.Hostname()
	c := config{
		Listen:          r.Addr(contract.ListenAddr, contract.Addr(contract.Ports.API)),
		PostgresURL:     r.Secret(contract.PostgresURL, contract.PostgresURLFile),
		ClickHouseAddrs: r.Addrs(contract.ClickHouseAddr, ""),
		User:            r.String(contract.ClickHouseUser, "default"),
		Password:        r.Secret(contract.ClickHousePassword, contract.ClickHousePasswordFile),
		EnrichmentDir:   r.String(contract.APIEnrichmentDir, ""),
		Retry:           r.Duration(contract.APILeaderRetry, 500*time.Millisecond, 50*time.Millisecond, time.Minute),
		Heartbeat:       r.Duration(contract.APILeaderHeartbeat, 500*time.Millisecond, 50*time.Millisecond, time.Minute),
		ReplicaID:       r.String(contract.APIReplicaID, host),
		MaxBodyBytes:    r.Int(contract.APIMaxBodyBytes, 1<<20, 1<<10, 64<<20),
		Timeout:         r.Duration(contract.APIRequestTimeout, 30*time.Second, time.Second, 10*time.Minute),
		TokenCacheTTL:   r.Duration(contract.TokenCacheTTL, 30*time.Second, 0, time.Hour),
		DropOldestBelow: float64(r.Int(contract.DiskDropOldestBelowPct, 0, 0, 50)) / 100,
		Limits: server.Limits{
			Rules:       quota.Limit{What: "detection rules", Key: contract.APIMaxRules, Max: int(r.Int(contract.APIMaxRules, quota.DefaultMaxRules, 0, 1_000_000))},
			SignalRules: quota.Limit{What: "signal rules", Key: contract.APIMaxSignalRules, Max: int(r.Int(contract.APIMaxSignalRules, quota.DefaultMaxSignalRules, 0, 10_000))},
			Datasets:    quota.Limit{What: "enrichment datasets", Key: contract.APIMaxDatasets, Max: int(r.Int(contract.APIMaxDatasets, quota.DefaultMaxDatasets, 0, 10_000))},
		},
	}
	if c.LeaderURL = r.Secret(contract.APILeaderPostgresURL, contract.APILeaderPostgresURLFile); c.LeaderURL == "" {
		c.LeaderURL = c.PostgresURL
	}
	c.Engine = events.Engine{
		Database: r.String(contract.ClickHouseDatabase, "nano"), Cluster: r.String(contract.ClickHouseCluster, ""),
		RetentionDays: int(r.Int(contract.RetentionDays, 0, 0, 36500)),
		StoragePolicy: r.String(contract.ClickHouseStoragePolicy, ""),
		WarmAfterDays: int(r.Int(contract.ClickHouseWarmAfterDays, 0, 0, 36500)),
	}
	c.Roles = metadb.Roles{Ingest: r.String(contract.PostgresIngestRole, ""), Search: r.String(contract.PostgresSearchRole, "")}
	if err := c.Roles.Validate(); err != nil {
		r.Bad(contract.PostgresIngestRole+"/"+contract.PostgresSearchRole, "%v", err)
	}
	if c.PostgresURL == "" {
		r.Bad(contract.PostgresURL, "required (or %s): the metadata database's URL", contract.PostgresURLFile)
	}
	if len(c.ClickHouseAddrs) == 0 {
		r.Bad(contract.ClickHouseAddr, "required: host:port of ClickHouse's native protocol (detections read events)")
	}
	c.ClickHouseTLS = chclient.TLSFromEnv(r)
	if err := c.Engine.Validate(); err != nil {
		r.Bad(contract.ClickHouseDatabase+"/"+contract.ClickHouseCluster+"/"+contract.ClickHouseStoragePolicy, "%v", err)
	}
	if c.ReplicaID == "" {
		r.Bad(contract.APIReplicaID, "required when the host has no name")
	}
	if key := r.Secret(contract.APICredentialsKey, contract.APICredentialsKeyFile); key != "" {
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(b) != 32 {
			r.Bad(contract.APICredentialsKey, "base64 of exactly 32 random bytes (openssl rand -base64 32)")
		}
		c.CredentialsKey = b
	}
	if c.AdminToken = r.Secret(contract.APIAdminToken, contract.APIAdminTokenFile); c.AdminToken != "" && !authtoken.Wellformed(c.AdminToken) {
		r.Bad(contract.APIAdminToken, "not an api token (%s followed by 43 characters of base64url, e.g. from the stack output adminToken)", authtoken.Prefix)
	}
	if ams, err := notify.ParseURLs(r.String(contract.AlertmanagerURLs, "")); err != nil {
		r.Bad(contract.AlertmanagerURLs, "%v", err)
	} else {
		c.Alertmanagers = ams
	}
	c.AlertResend = r.Duration(contract.AlertmanagerResend, notify.DefaultResend, time.Second, time.Hour)
	c.SampleEvents = int(r.Int(contract.AlertSampleEvents, detect.DefaultSampleEvents, 0, detect.MaxSampleEvents))
	if c.WebURL = strings.TrimSuffix(r.String(contract.WebURL, ""), "/"); c.WebURL != "" {
		if u, err := url.Parse(c.WebURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			r.Bad(contract.WebURL, "the UI's base URL, like https://logs.example.com")
		}
	}
	c.Backup = loadBackupConfig(r)
	c.PostgresBackup = loadPostgresBackupConfig(r)
	loadSignIn(r, &c)
	return c, r.Err()
}

// loadBackupConfig reads the NANO_BACKUP_* keys; nil when NANO_BACKUP_URL
// is unset (the others are then ignored).
func loadBackupConfig(r *contract.Reader) *backupConfig {
	url := r.Secret(contract.BackupURL, contract.BackupURLFile)
	if url == "" {
		return nil
	}
	b := &backupConfig{
		Store:     bucketStore(r, contract.BackupURL, url),
		Interval:  r.Duration(contract.BackupInterval, 6*time.Hour, 5*time.Minute, 7*24*time.Hour),
		FullEvery: int(r.Int(contract.BackupFullEvery, 27, 0, 1000)),
		Keep:      int(r.Int(contract.BackupKeep, 4, 1, 1000)),
	}
	return b
}

// loadPostgresBackupConfig reads the NANO_POSTGRES_BACKUP_* keys; nil when
// NANO_POSTGRES_BACKUP_URL is unset.
func loadPostgresBackupConfig(r *contract.Reader) *postgresBackupConfig {
	url := r.Secret(contract.PostgresBackupURL, contract.PostgresBackupURLFile)
	if url == "" {
		return nil
	}
	b := &postgresBackupConfig{
		Store:    bucketStore(r, contract.PostgresBackupURL, url),
		Spool:    r.String(contract.PostgresWALSpool, ""),
		Interval: r.Duration(contract.PostgresBackupInterval, 24*time.Hour, time.Hour, 7*24*time.Hour),
		Keep:     int(r.Int(contract.PostgresBackupKeep, 7, 1, 1000)),
	}
	if b.Spool == "" {
		r.Bad(contract.PostgresWALSpool, "required with %s: the directory PostgreSQL's archive_command copies WAL into", contract.PostgresBackupURL)
	}
	return b
}

// bucketStore is the store at url (read from key) with the bucket's keys
// and region; what is missing or wrong is reported naming its key.
func bucketStore(r *contract.Reader, key, url string) backups.Store {
	s := backups.Store{URL: url, Region: r.Secret(contract.BackupRegion, contract.BackupRegionFile),
		AccessKeyID:     r.Secret(contract.BackupAccessKeyID, contract.BackupAccessKeyIDFile),
		SecretAccessKey: r.Secret(contract.BackupSecretAccessKey, contract.BackupSecretAccessKeyFile)}
	switch err := s.Validate(); {
	case err == nil:
	case s.AccessKeyID == "":
		r.Bad(contract.BackupAccessKeyID, "required with %s", key)
	case s.SecretAccessKey == "":
		r.Bad(contract.BackupSecretAccessKey, "required (or %s) with %s", contract.BackupSecretAccessKeyFile, key)
	default:
		r.Bad(key, "%v", err)
	}
	return s
}
