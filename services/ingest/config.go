package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
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
// naming the variable.
func loadConfig(getenv func(string) string) (config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	or := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	secret := func(name, fileName string) string {
		if v := getenv(name); v != "" {
			return strings.TrimSpace(v)
		}
		path := getenv(fileName)
		if path == "" {
			return ""
		}
		b, err := os.ReadFile(path)
		if err != nil {
			bad(fileName, "cannot read %s: %v", path, err)
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	integer := func(name string) int {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad(name, "%q is not a non-negative whole number", v)
		}
		return n
	}
	c := config{
		Database:       or(contract.ClickHouseDatabase, "nano"),
		User:           or(contract.ClickHouseUser, "default"),
		Password:       secret(contract.ClickHousePassword, contract.ClickHousePasswordFile),
		IngestAddr:     or(contract.ListenAddr, contract.DefaultIngestAddr),
		HECAddr:        or(contract.HECAddr, contract.DefaultHECAddr),
		MetricsAddr:    or(contract.MetricsAddr, contract.DefaultMetricsAddr),
		NativeAddr:     or(contract.NativeAddr, contract.DefaultNativeAddr),
		OTLPAddr:       or(contract.OTLPAddr, contract.DefaultOTLPAddr),
		NativeCert:     or(contract.NativeTLSCert, ""),
		NativeKey:      or(contract.NativeTLSKey, ""),
		NativeClientCA: or(contract.NativeClientCA, ""),
		IngestToken:    secret(contract.IngestToken, contract.IngestTokenFile),
		HECToken:       secret(contract.HECToken, contract.HECTokenFile),
		Deployment:     or(contract.Deployment, ""),
		PostgresURL:    secret(contract.PostgresURL, contract.PostgresURLFile),
		TokenRefresh:   10 * time.Second,
	}
	if v := or(contract.ClickHouseAddr, ""); v == "" {
		bad(contract.ClickHouseAddr, "required: host:port of ClickHouse's native protocol (a comma-separated list fails over in order)")
	} else if addrs, err := contract.SplitAddrs(v); err != nil {
		bad(contract.ClickHouseAddr, "%v", err)
	} else {
		c.ClickHouseAddrs = addrs
	}
	r := &contract.Reader{Getenv: getenv}
	c.ClickHouseTLS = chclient.TLSFromEnv(r)
	if err := r.Err(); err != nil {
		errs = append(errs, err)
	}
	c.Engine = events.Engine{
		Database: c.Database, Cluster: or(contract.ClickHouseCluster, ""),
		StoragePolicy: or(contract.ClickHouseStoragePolicy, ""), WarmAfterDays: integer(contract.ClickHouseWarmAfterDays),
		RetentionDays: integer(contract.RetentionDays),
	}
	if err := c.Engine.Validate(); err != nil {
		bad(contract.ClickHouseDatabase+"/"+contract.ClickHouseCluster+"/"+contract.ClickHouseStoragePolicy, "%v", err)
	}
	if c.IngestToken == "" && c.HECToken == "" && c.PostgresURL == "" {
		bad(contract.IngestToken, "set it (or %s, %s, %s, or %s for the api's feed tokens): without a token no one can send events",
			contract.IngestTokenFile, contract.HECToken, contract.HECTokenFile, contract.PostgresURL)
	}
	for name, t := range map[string]string{contract.IngestToken: c.IngestToken, contract.HECToken: c.HECToken} {
		if t != "" && len(t) < tokens.MinTokenLength {
			bad(name, "shorter than %d characters", tokens.MinTokenLength)
		}
	}
	if v := strings.TrimSpace(getenv(contract.IngestRateEPS)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			bad(contract.IngestRateEPS, "%q is not a non-negative number of events per second", v)
		}
		c.RatePerSecond = f
	}
	c.Limits = decode.DefaultLimits
	limit := func(name string, dst *int) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				bad(name, "%q is not a positive whole number", v)
				return
			}
			*dst = n
		}
	}
	var body, decoded = int(c.Limits.MaxBodyBytes), int(c.Limits.MaxDecodedBytes)
	limit(contract.IngestMaxBodyBytes, &body)
	limit(contract.IngestMaxDecodedBytes, &decoded)
	c.Limits.MaxBodyBytes, c.Limits.MaxDecodedBytes = int64(body), int64(decoded)
	limit(contract.IngestMaxEvents, &c.Limits.MaxEvents)
	limit(contract.IngestMaxRecordBytes, &c.Limits.MaxRecordBytes)
	limit(contract.IngestMaxFieldBytes, &c.Limits.Event.FieldBytes)
	limit(contract.IngestMaxMessageBytes, &c.Limits.Event.MessageBytes)
	limit(contract.IngestMaxRawBytes, &c.Limits.Event.RawBytes)
	limit(contract.IngestMaxAttributes, &c.Limits.Event.Attributes)
	limit(contract.IngestBatchEvents, &c.Writer.MaxBatchEvents)
	limit(contract.IngestQueueEvents, &c.Writer.MaxQueuedEvents)
	limit(contract.IngestQueueBytes, &c.Writer.MaxQueuedBytes)
	limit(contract.IngestInserters, &c.Writer.Inserters)
	// Room for two of the largest requests: one request holds at most
	// half (a body as sent and decompressed).
	c.InflightBytes = int(2 * (c.Limits.MaxBodyBytes + c.Limits.MaxDecodedBytes))
	if c.InflightBytes < 96<<20 {
		c.InflightBytes = 96 << 20
	}
	limit(contract.IngestInflightBytes, &c.InflightBytes)
	if need := 2 * (c.Limits.MaxBodyBytes + c.Limits.MaxDecodedBytes); int64(c.InflightBytes) < need {
		bad(contract.IngestInflightBytes, "%d is less than %d: one request may hold a body as sent (%s) and decompressed (%s), and needs room for that in half of it",
			c.InflightBytes, need, contract.IngestMaxBodyBytes, contract.IngestMaxDecodedBytes)
	}
	c.MinBodyRate = intake.DefaultMinBodyRate
	limit(contract.IngestMinBodyRate, &c.MinBodyRate)
	if v := strings.TrimSpace(getenv(contract.IngestFlushInterval)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > time.Minute {
			bad(contract.IngestFlushInterval, "%q is not a duration between 1ms and 1m (e.g. 250ms)", v)
		}
		c.Writer.FlushInterval = d
	}
	c.loadWindowAndQuotas(getenv, bad)
	c.loadSyslog(getenv, bad)
	if c.Limits.MaxDecodedBytes < c.Limits.MaxBodyBytes {
		bad(contract.IngestMaxDecodedBytes, "%d is less than %s (%d)", c.Limits.MaxDecodedBytes, contract.IngestMaxBodyBytes, c.Limits.MaxBodyBytes)
	}
	set := 0
	for _, v := range []string{c.NativeCert, c.NativeKey, c.NativeClientCA} {
		if v != "" {
			set++
		}
	}
	if certFile, keyFile := or(contract.IngestTLSCert, ""), or(contract.IngestTLSKey, ""); (certFile == "") != (keyFile == "") {
		bad(contract.IngestTLSCert, "the HTTP and HEC ports' TLS needs %s and %s together", contract.IngestTLSCert, contract.IngestTLSKey)
	} else if certFile != "" {
		if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			bad(contract.IngestTLSCert, "cannot load the certificate and key: %v", err)
		} else {
			c.HTTPTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if set != 0 && set != 3 {
		bad(contract.NativeTLSCert, "the Vector-native port needs %s, %s and %s together", contract.NativeTLSCert, contract.NativeTLSKey, contract.NativeClientCA)
	}
	for _, a := range []struct{ name, v string }{{contract.ListenAddr, c.IngestAddr}, {contract.HECAddr, c.HECAddr}, {contract.MetricsAddr, c.MetricsAddr}, {contract.NativeAddr, c.NativeAddr},
		{contract.OTLPAddr, c.OTLPAddr}, {contract.SyslogTLSAddr, c.SyslogTLSAddr}, {contract.SyslogAddr, c.SyslogAddr}} {
		if _, port, ok := strings.Cut(a.v, ":"); !ok || port == "" {
			bad(a.name, "%q is not [host]:port", a.v)
		}
	}
	return c, errors.Join(errs...)
}

// nativeEnabled reports whether the Vector-native port is configured.
func (c config) nativeEnabled() bool {
	return c.NativeCert != "" && c.NativeKey != "" && c.NativeClientCA != ""
}

// loadWindowAndQuotas reads the time window, the batches' days, the
// tenants' quotas and the disk guard (docs/operate/limits-and-quotas.md).
func (c *config) loadWindowAndQuotas(getenv func(string) string, bad func(name, format string, args ...any)) {
	whole := func(name string, def, lo, hi int) int {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad(name, "%q is not a whole number from %d to %d", v, lo, hi)
			return def
		}
		return n
	}
	number := func(name string, def, lo, hi float64) float64 {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < lo || f > hi {
			bad(name, "%q is not a number from %g to %g", v, lo, hi)
			return def
		}
		return f
	}
	duration := func(name string, def, lo, hi time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			bad(name, "%q is not a duration from %s to %s (e.g. 15m)", v, lo, hi)
			return def
		}
		return d
	}
	days := whole(contract.IngestMaxEventAgeDays, c.Engine.RetentionDays, 0, 36500)
	c.Window = intake.Window{
		MaxAge:  time.Duration(days) * 24 * time.Hour,
		MaxSkew: duration(contract.IngestMaxClockSkew, intake.DefaultMaxSkew, 0, 7*24*time.Hour),
		MaxDays: whole(contract.IngestMaxDaysPerRequest, intake.DefaultMaxDays, 1, 1000),
	}
	c.Writer.MaxBatchDays = whole(contract.IngestBatchDays, writer.DefaultMaxBatchDays, 1, 1000)
	if c.Window.MaxDays > c.Writer.MaxBatchDays {
		bad(contract.IngestMaxDaysPerRequest, "%d is more than %s (%d): a request must fit one insert", c.Window.MaxDays, contract.IngestBatchDays, c.Writer.MaxBatchDays)
	}
	c.Quotas = quota.Limits{
		EventsPerSecond: number(contract.IngestTenantEPS, 0, 0, 1e9),
		BurstSeconds:    number(contract.IngestTenantBurstSeconds, quota.DefaultBurstSeconds, 1, 86400),
		BytesPerDay:     int64(number(contract.IngestTenantGBPerDay, 0, 0, 1e9) * 1e9),
	}
	c.MinDiskFree = float64(whole(contract.IngestMinDiskFreePct, contract.DefaultIngestMinDiskFreePct, 0, 90)) / 100
	c.DiskCheckInterval = duration(contract.IngestDiskCheckInterval, diskguard.DefaultInterval, 100*time.Millisecond, 10*time.Minute)
}

// loadSyslog reads the syslog port's configuration (docs/reference/syslog.md).
func (c *config) loadSyslog(getenv func(string) string, bad func(name, format string, args ...any)) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c.Syslog = syslog.DefaultConfig
	c.Syslog.RatePerSecond = c.RatePerSecond
	c.SyslogTLSAddr, c.SyslogAddr = contract.DefaultSyslogTLSAddr, contract.DefaultSyslogAddr
	if v := get(contract.SyslogTLSAddr); v != "" {
		c.SyslogTLSAddr = v
	}
	if v := get(contract.SyslogAddr); v != "" {
		c.SyslogAddr = v
	}
	whole := func(name string, dst *int, lo, hi int) {
		if v := get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				bad(name, "%q is not a whole number from %d to %d", v, lo, hi)
				return
			}
			*dst = n
		}
	}
	whole(contract.SyslogMaxMessageBytes, &c.Syslog.MaxMessageBytes, 480, 1<<20) // RFC 5426: at least 480
	whole(contract.SyslogMaxConnections, &c.Syslog.MaxConnections, 1, 100_000)
	pending := int(c.Syslog.PendingBytes)
	whole(contract.SyslogPendingBytes, &pending, 1<<20, 1<<34)
	c.Syslog.PendingBytes = int64(pending)
	if c.Syslog.PendingBytes < int64(c.Syslog.MaxMessageBytes) {
		bad(contract.SyslogPendingBytes, "%d is less than %s (%d)", c.Syslog.PendingBytes, contract.SyslogMaxMessageBytes, c.Syslog.MaxMessageBytes)
	}
	if v := get(contract.SyslogIdleTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 24*time.Hour {
			bad(contract.SyslogIdleTimeout, "%q is not a duration from 1s to 24h (e.g. 5m)", v)
		} else {
			c.Syslog.IdleTimeout = d
		}
	}
	if v := get(contract.SyslogConnEventsPerSec); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1e9 {
			bad(contract.SyslogConnEventsPerSec, "%q is not a number of events per second from 0 (unlimited) to 1e9", v)
		} else {
			c.Syslog.ConnEventsPerSecond = f
		}
	}
	certFile, keyFile, caFile := get(contract.SyslogTLSCert), get(contract.SyslogTLSKey), get(contract.SyslogClientCA)
	switch {
	case (certFile == "") != (keyFile == ""):
		bad(contract.SyslogTLSCert, "the syslog TLS port needs %s and %s together", contract.SyslogTLSCert, contract.SyslogTLSKey)
	case certFile == "" && caFile != "":
		bad(contract.SyslogClientCA, "set only with %s and %s (the port's own certificate)", contract.SyslogTLSCert, contract.SyslogTLSKey)
	case certFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			bad(contract.SyslogTLSCert, "cannot load the certificate and key: %v", err)
			break
		}
		c.SyslogTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if caFile != "" {
			b, err := os.ReadFile(caFile)
			pool := x509.NewCertPool()
			if err != nil {
				bad(contract.SyslogClientCA, "cannot read %s: %v", caFile, err)
			} else if !pool.AppendCertsFromPEM(b) {
				bad(contract.SyslogClientCA, "%s holds no PEM certificate", caFile)
			}
			// A client certificate is optional (a token in the messages
			// may attribute them instead); one that is sent must chain to
			// the CA.
			c.SyslogTLS.ClientCAs, c.SyslogTLS.ClientAuth = pool, tls.VerifyClientCertIfGiven
		}
	}
	c.SyslogTCPSources = syslogSources(contract.SyslogTCPSources, get(contract.SyslogTCPSources), c.RatePerSecond, bad)
	c.SyslogUDPSources = syslogSources(contract.SyslogUDPSources, get(contract.SyslogUDPSources), c.RatePerSecond, bad)
}

// syslogSources parses "CIDR=tenant:feed,..." (the networks whose plain
// syslog is taken, and whose it is).
func syslogSources(name, v string, rate float64, bad func(name, format string, args ...any)) []syslog.Source {
	if v == "" {
		return nil
	}
	var out []syslog.Source
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		cidr, owner, ok := strings.Cut(item, "=")
		tenant, feed, ok2 := strings.Cut(owner, ":")
		if !ok || !ok2 {
			bad(name, "%q is not CIDR=tenant:feed", item)
			continue
		}
		prefix, err := netip.ParsePrefix(strings.TrimSpace(cidr))
		if err != nil {
			bad(name, "%q: %v", item, err)
			continue
		}
		if prefix.Bits() == 0 {
			bad(name, "%q: %s is every address; plain syslog carries no credential, list the senders' networks", item, prefix)
			continue
		}
		id, err := syslog.FeedIdentity(strings.TrimSpace(tenant), strings.TrimSpace(feed), rate)
		if err != nil {
			bad(name, "%q: %v", item, err)
			continue
		}
		out = append(out, syslog.Source{Net: prefix.Masked(), ID: id})
	}
	return out
}
