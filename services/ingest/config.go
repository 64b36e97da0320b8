package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/chclient"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/diskguard"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/quota"
	"github.com/nanosiem/nano/services/ingest/syslog"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
)

// config is the service's validated configuration.
type config struct {
	ClickHouseAddrs []string
	// ClickHouseTLS dials ClickHouse over TLS (nil: plain).
	ClickHouseTLS                    *tls.Config
	Database, User, Password         string
	Engine                           events.Engine
	IngestAddr, HECAddr, MetricsAddr string
	// NativeAddr serves the Vector-native port when all three TLS files are
	// set (NativeCert, NativeKey, NativeClientCA).
	NativeAddr, NativeCert, NativeKey, NativeClientCA string
	// OTLPAddr serves OTLP/gRPC (with HTTPTLS when set).
	OTLPAddr string
	// HTTPTLS serves the HTTP and HEC ports over TLS (nil: plain), from
	// the certificate and key files NANO_INGEST_TLS_CERT/KEY name.
	HTTPTLS               *tls.Config
	IngestToken, HECToken string
	// PostgresURL, when set, is the api's database: the feeds' ingest
	// tokens are loaded from it (and refreshed every TokenRefresh).
	PostgresURL   string
	TokenRefresh  time.Duration
	RatePerSecond float64
	Deployment    string
	Limits        decode.Limits
	Writer        writer.Config
	// InflightBytes bounds the request bodies held at once (96 MiB, at
	// least twice a body as sent plus decompressed).
	InflightBytes int
	// MinBodyRate is the slowest a body may arrive, in bytes per second
	// after the first 2 s (16 KiB/s); slower ones are cut with 408.
	MinBodyRate int
	// Window is the accepted range of event times and days per request.
	Window intake.Window
	// Quotas are every tenant's ingest quotas (zero: unlimited).
	Quotas quota.Limits
	// MinDiskFree is the free share of ClickHouse's disk below which
	// events are refused (0: never); DiskCheckInterval how often it is read.
	MinDiskFree       float64
	DiskCheckInterval time.Duration
	// Syslog bounds the syslog port; SyslogTLS serves it on SyslogTLSAddr
	// (nil: off), plain TCP and UDP on SyslogAddr for their sources (none:
	// off).
	Syslog                    syslog.Config
	SyslogTLSAddr, SyslogAddr string
	SyslogTLS                 *tls.Config
	SyslogTCPSources          []syslog.Source
	SyslogUDPSources          []syslog.Source
}

// defaultTenant owns the bootstrap tokens' events (tokens issued by the
// api carry their own tenant).
const defaultTenant = contract.DefaultTenant

// loadConfig reads the environment (getenv) and reports every problem,
// naming the variable. Every number has bounds and every address the same
// check as the other services' (contract.Reader).
func loadConfig(getenv func(string) string) (config, error) {
	r := &contract.Reader{Getenv: getenv}
	c := config{
		Database:       r.String(contract.ClickHouseDatabase, "nano"),
		User:           r.String(contract.ClickHouseUser, "default"),
		Password:       r.Secret(contract.ClickHousePassword, contract.ClickHousePasswordFile),
		IngestAddr:     r.Addr(contract.ListenAddr, contract.DefaultIngestAddr),
		HECAddr:        r.Addr(contract.HECAddr, contract.DefaultHECAddr),
		MetricsAddr:    r.Addr(contract.MetricsAddr, contract.DefaultMetricsAddr),
		NativeAddr:     r.Addr(contract.NativeAddr, contract.DefaultNativeAddr),
		OTLPAddr:       r.Addr(contract.OTLPAddr, contract.DefaultOTLPAddr),
		NativeCert:     r.String(contract.NativeTLSCert, ""),
		NativeKey:      r.String(contract.NativeTLSKey, ""),
		NativeClientCA: r.String(contract.NativeClientCA, ""),
		IngestToken:    r.Secret(contract.IngestToken, contract.IngestTokenFile),
		HECToken:       r.Secret(contract.HECToken, contract.HECTokenFile),
		Deployment:     r.String(contract.Deployment, ""),
		PostgresURL:    r.Secret(contract.PostgresURL, contract.PostgresURLFile),
		TokenRefresh:   10 * time.Second,
	}
	if c.ClickHouseAddrs = r.Addrs(contract.ClickHouseAddr, ""); len(c.ClickHouseAddrs) == 0 {
		r.Bad(contract.ClickHouseAddr, "required: host:port of ClickHouse's native protocol (a comma-separated list fails over in order)")
	}
	c.ClickHouseTLS = chclient.TLSFromEnv(r)
	c.Engine = events.Engine{
		Database: c.Database, Cluster: r.String(contract.ClickHouseCluster, ""),
		StoragePolicy: r.String(contract.ClickHouseStoragePolicy, ""),
		WarmAfterDays: int(r.Int(contract.ClickHouseWarmAfterDays, 0, 0, maxDays)),
		RetentionDays: int(r.Int(contract.RetentionDays, 0, 0, maxDays)),
	}
	if err := c.Engine.Validate(); err != nil {
		r.Bad(contract.ClickHouseDatabase+"/"+contract.ClickHouseCluster+"/"+contract.ClickHouseStoragePolicy, "%v", err)
	}
	if c.IngestToken == "" && c.HECToken == "" && c.PostgresURL == "" {
		r.Bad(contract.IngestToken, "set it (or %s, %s, %s, or %s for the api's feed tokens): without a token no one can send events",
			contract.IngestTokenFile, contract.HECToken, contract.HECTokenFile, contract.PostgresURL)
	}
	for _, t := range []struct{ name, v string }{{contract.IngestToken, c.IngestToken}, {contract.HECToken, c.HECToken}} {
		if t.v != "" && len(t.v) < tokens.MinTokenLength {
			r.Bad(t.name, "shorter than %d characters", tokens.MinTokenLength)
		}
	}
	c.RatePerSecond = r.Float(contract.IngestRateEPS, 0, 0, 1e9)
	c.loadLimits(r)
	c.loadWindowAndQuotas(r)
	c.loadSyslog(r)
	if certFile, keyFile := r.String(contract.IngestTLSCert, ""), r.String(contract.IngestTLSKey, ""); (certFile == "") != (keyFile == "") {
		r.Bad(contract.IngestTLSCert, "the HTTP and HEC ports' TLS needs %s and %s together", contract.IngestTLSCert, contract.IngestTLSKey)
	} else if certFile != "" {
		if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			r.Bad(contract.IngestTLSCert, "cannot load the certificate and key: %v", err)
		} else {
			c.HTTPTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	set := 0
	for _, v := range []string{c.NativeCert, c.NativeKey, c.NativeClientCA} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		r.Bad(contract.NativeTLSCert, "the Vector-native port needs %s, %s and %s together", contract.NativeTLSCert, contract.NativeTLSKey, contract.NativeClientCA)
	}
	return c, r.Err()
}

// maxDays bounds every number of days (a hundred years).
const maxDays = 36500

// loadLimits reads the bounds of a request, the writer's batches and queue,
// and the bodies held at once.
func (c *config) loadLimits(r *contract.Reader) {
	// limit reads a whole number from 1 to max into dst; unset keeps dst
	// (the package's default, or 0 for the writer's own).
	limit := func(name string, dst *int, max int) { *dst = int(r.Int(name, int64(*dst), 1, int64(max))) }
	c.Limits = decode.DefaultLimits
	var body, decoded = int(c.Limits.MaxBodyBytes), int(c.Limits.MaxDecodedBytes)
	limit(contract.IngestMaxBodyBytes, &body, 1<<30)
	limit(contract.IngestMaxDecodedBytes, &decoded, 4<<30)
	c.Limits.MaxBodyBytes, c.Limits.MaxDecodedBytes = int64(body), int64(decoded)
	limit(contract.IngestMaxEvents, &c.Limits.MaxEvents, 10_000_000)
	limit(contract.IngestMaxRecordBytes, &c.Limits.MaxRecordBytes, 1<<30)
	limit(contract.IngestMaxFieldBytes, &c.Limits.Event.FieldBytes, 1<<30)
	limit(contract.IngestMaxMessageBytes, &c.Limits.Event.MessageBytes, 1<<30)
	limit(contract.IngestMaxRawBytes, &c.Limits.Event.RawBytes, 1<<30)
	limit(contract.IngestMaxAttributes, &c.Limits.Event.Attributes, 100_000)
	limit(contract.IngestBatchEvents, &c.Writer.MaxBatchEvents, 10_000_000)
	limit(contract.IngestQueueEvents, &c.Writer.MaxQueuedEvents, 1_000_000_000)
	limit(contract.IngestQueueBytes, &c.Writer.MaxQueuedBytes, 1<<40)
	limit(contract.IngestInserters, &c.Writer.Inserters, 1024)
	if c.Limits.MaxDecodedBytes < c.Limits.MaxBodyBytes {
		r.Bad(contract.IngestMaxDecodedBytes, "%d is less than %s (%d)", c.Limits.MaxDecodedBytes, contract.IngestMaxBodyBytes, c.Limits.MaxBodyBytes)
	}
	// Room for two of the largest requests: one request holds at most
	// half (a body as sent and decompressed).
	need := 2 * (c.Limits.MaxBodyBytes + c.Limits.MaxDecodedBytes)
	c.InflightBytes = int(max(need, 96<<20))
	limit(contract.IngestInflightBytes, &c.InflightBytes, 1<<40)
	if int64(c.InflightBytes) < need {
		r.Bad(contract.IngestInflightBytes, "%d is less than %d: one request may hold a body as sent (%s) and decompressed (%s), and needs room for that in half of it",
			c.InflightBytes, need, contract.IngestMaxBodyBytes, contract.IngestMaxDecodedBytes)
	}
	c.MinBodyRate = intake.DefaultMinBodyRate
	limit(contract.IngestMinBodyRate, &c.MinBodyRate, 1<<30)
	c.Writer.FlushInterval = r.Duration(contract.IngestFlushInterval, 0, time.Millisecond, time.Minute)
}

// nativeEnabled reports whether the Vector-native port is configured.
func (c config) nativeEnabled() bool {
	return c.NativeCert != "" && c.NativeKey != "" && c.NativeClientCA != ""
}

// loadWindowAndQuotas reads the time window, the batches' days, the
// tenants' quotas and the disk guard (docs/reliability.md).
func (c *config) loadWindowAndQuotas(r *contract.Reader) {
	whole := func(name string, def, lo, hi int) int { return int(r.Int(name, int64(def), int64(lo), int64(hi))) }
	days := whole(contract.IngestMaxEventAgeDays, c.Engine.RetentionDays, 0, maxDays)
	c.Window = intake.Window{
		MaxAge:  time.Duration(days) * 24 * time.Hour,
		MaxSkew: r.Duration(contract.IngestMaxClockSkew, intake.DefaultMaxSkew, 0, 7*24*time.Hour),
		MaxDays: whole(contract.IngestMaxDaysPerRequest, intake.DefaultMaxDays, 1, 1000),
	}
	c.Writer.MaxBatchDays = whole(contract.IngestBatchDays, writer.DefaultMaxBatchDays, 1, 1000)
	if c.Window.MaxDays > c.Writer.MaxBatchDays {
		r.Bad(contract.IngestMaxDaysPerRequest, "%d is more than %s (%d): a request must fit one insert", c.Window.MaxDays, contract.IngestBatchDays, c.Writer.MaxBatchDays)
	}
	c.Quotas = quota.Limits{
		EventsPerSecond: r.Float(contract.IngestTenantEPS, 0, 0, 1e9),
		BurstSeconds:    r.Float(contract.IngestTenantBurstSeconds, quota.DefaultBurstSeconds, 1, 86400),
		BytesPerDay:     int64(r.Float(contract.IngestTenantGBPerDay, 0, 0, 1e9) * 1e9),
	}
	c.MinDiskFree = float64(whole(contract.IngestMinDiskFreePct, contract.DefaultIngestMinDiskFreePct, 0, 90)) / 100
	c.DiskCheckInterval = r.Duration(contract.IngestDiskCheckInterval, diskguard.DefaultInterval, 100*time.Millisecond, 10*time.Minute)
}

// loadSyslog reads the syslog port's configuration (docs/syslog.md).
func (c *config) loadSyslog(r *contract.Reader) {
	c.Syslog = syslog.DefaultConfig
	c.Syslog.RatePerSecond = c.RatePerSecond
	c.SyslogTLSAddr = r.Addr(contract.SyslogTLSAddr, contract.DefaultSyslogTLSAddr)
	c.SyslogAddr = r.Addr(contract.SyslogAddr, contract.DefaultSyslogAddr)
	whole := func(name string, dst *int, lo, hi int) { *dst = int(r.Int(name, int64(*dst), int64(lo), int64(hi))) }
	whole(contract.SyslogMaxMessageBytes, &c.Syslog.MaxMessageBytes, 480, 1<<20) // RFC 5426: at least 480
	whole(contract.SyslogMaxConnections, &c.Syslog.MaxConnections, 1, 100_000)
	c.Syslog.PendingBytes = r.Int(contract.SyslogPendingBytes, c.Syslog.PendingBytes, 1<<20, 1<<34)
	if c.Syslog.PendingBytes < int64(c.Syslog.MaxMessageBytes) {
		r.Bad(contract.SyslogPendingBytes, "%d is less than %s (%d)", c.Syslog.PendingBytes, contract.SyslogMaxMessageBytes, c.Syslog.MaxMessageBytes)
	}
	c.Syslog.IdleTimeout = r.Duration(contract.SyslogIdleTimeout, c.Syslog.IdleTimeout, time.Second, 24*time.Hour)
	c.Syslog.ConnEventsPerSecond = r.Float(contract.SyslogConnEventsPerSec, c.Syslog.ConnEventsPerSecond, 0, 1e9) // 0: unlimited
	certFile, keyFile, caFile := r.String(contract.SyslogTLSCert, ""), r.String(contract.SyslogTLSKey, ""), r.String(contract.SyslogClientCA, "")
	switch {
	case (certFile == "") != (keyFile == ""):
		r.Bad(contract.SyslogTLSCert, "the syslog TLS port needs %s and %s together", contract.SyslogTLSCert, contract.SyslogTLSKey)
	case certFile == "" && caFile != "":
		r.Bad(contract.SyslogClientCA, "set only with %s and %s (the port's own certificate)", contract.SyslogTLSCert, contract.SyslogTLSKey)
	case certFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			r.Bad(contract.SyslogTLSCert, "cannot load the certificate and key: %v", err)
			break
		}
		c.SyslogTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if caFile != "" {
			b, err := os.ReadFile(caFile)
			pool := x509.NewCertPool()
			if err != nil {
				r.Bad(contract.SyslogClientCA, "cannot read %s: %v", caFile, err)
			} else if !pool.AppendCertsFromPEM(b) {
				r.Bad(contract.SyslogClientCA, "%s holds no PEM certificate", caFile)
			}
			// A client certificate is optional (a token in the messages
			// may attribute them instead); one that is sent must chain to
			// the CA.
			c.SyslogTLS.ClientCAs, c.SyslogTLS.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
	}
	c.SyslogTCPSources = syslogSources(r, contract.SyslogTCPSources, c.RatePerSecond)
	c.SyslogUDPSources = syslogSources(r, contract.SyslogUDPSources, c.RatePerSecond)
}

// syslogSources parses "CIDR=tenant:feed,..." (the networks whose plain
// syslog is taken, and whose it is).
func syslogSources(r *contract.Reader, name string, rate float64) []syslog.Source {
	v := r.String(name, "")
	if v == "" {
		return nil
	}
	var out []syslog.Source
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		cidr, owner, ok := strings.Cut(item, "=")
		tenant, feed, ok2 := strings.Cut(owner, ":")
		if !ok || !ok2 {
			r.Bad(name, "%q is not CIDR=tenant:feed", item)
			continue
		}
		prefix, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			r.Bad(name, "%q: %v", item, err)
			continue
		}
		if prefix.Bits() == 0 {
			r.Bad(name, "%q: %s is every address; plain syslog carries no credential, list the senders' networks", item, prefix)
			continue
		}
		id, err := syslog.FeedIdentity(strings.TrimSpace(tenant), strings.TrimSpace(feed), rate)
		if err != nil {
			r.Bad(name, "%q: %v", item, err)
			continue
		}
		out = append(out, syslog.Source{Net: prefix.Masked(), ID: id})
	}
	return out
}
