package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/envconfig"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
)

// config is the service's validated configuration.
type config struct {
	ClickHouseAddr, Database, User, Password string
	Engine                                   events.Engine
	IngestAddr, HECAddr, MetricsAddr         string
	// NativeAddr serves the Vector-native port when all three TLS files are
	// set (NativeCert, NativeKey, NativeClientCA).
	NativeAddr, NativeCert, NativeKey, NativeClientCA string
	IngestToken, HECToken                             string
	// PostgresURL, when set, is the api's database: the feeds' ingest
	// tokens are loaded from it (and refreshed every TokenRefresh).
	PostgresURL   string
	TokenRefresh  time.Duration
	RatePerSecond float64
	Deployment    string
	Limits        decode.Limits
	Writer        writer.Config
	// InflightBytes bounds the request bodies held at once (12 MiB).
	InflightBytes int
}

// defaultTenant owns the bootstrap tokens' events (tokens issued by the
// api carry their own tenant).
const defaultTenant = "default"

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
		ClickHouseAddr: or(envconfig.ClickHouseAddr, ""),
		Database:       or(envconfig.ClickHouseDatabase, "nano"),
		User:           or(envconfig.ClickHouseUser, "default"),
		Password:       secret(envconfig.ClickHousePassword, envconfig.ClickHousePasswordFile),
		IngestAddr:     or(envconfig.ListenAddr, envconfig.DefaultIngestAddr),
		HECAddr:        or(envconfig.HECAddr, envconfig.DefaultHECAddr),
		MetricsAddr:    or(envconfig.MetricsAddr, envconfig.DefaultMetricsAddr),
		NativeAddr:     or(envconfig.NativeAddr, envconfig.DefaultNativeAddr),
		NativeCert:     or(envconfig.NativeTLSCert, ""),
		NativeKey:      or(envconfig.NativeTLSKey, ""),
		NativeClientCA: or(envconfig.NativeClientCA, ""),
		IngestToken:    secret(envconfig.IngestToken, envconfig.IngestTokenFile),
		HECToken:       secret(envconfig.HECToken, envconfig.HECTokenFile),
		Deployment:     or(envconfig.Deployment, ""),
		PostgresURL:    secret(envconfig.PostgresURL, envconfig.PostgresURLFile),
		TokenRefresh:   10 * time.Second,
	}
	if c.ClickHouseAddr == "" {
		bad(envconfig.ClickHouseAddr, "required: host:port of ClickHouse's native protocol")
	} else if _, port, ok := strings.Cut(c.ClickHouseAddr, ":"); !ok || port == "" {
		bad(envconfig.ClickHouseAddr, "%q is not host:port", c.ClickHouseAddr)
	}
	c.Engine = events.Engine{
		Database: c.Database, Cluster: or(envconfig.ClickHouseCluster, ""),
		StoragePolicy: or(envconfig.ClickHouseStoragePolicy, ""), WarmAfterDays: integer(envconfig.ClickHouseWarmAfterDays),
		RetentionDays: integer(envconfig.RetentionDays),
	}
	if err := c.Engine.Validate(); err != nil {
		bad(envconfig.ClickHouseDatabase+"/"+envconfig.ClickHouseCluster+"/"+envconfig.ClickHouseStoragePolicy, "%v", err)
	}
	if c.IngestToken == "" && c.HECToken == "" && c.PostgresURL == "" {
		bad(envconfig.IngestToken, "set it (or %s, %s, %s, or %s for the api's feed tokens): without a token no one can send events",
			envconfig.IngestTokenFile, envconfig.HECToken, envconfig.HECTokenFile, envconfig.PostgresURL)
	}
	for name, t := range map[string]string{envconfig.IngestToken: c.IngestToken, envconfig.HECToken: c.HECToken} {
		if t != "" && len(t) < tokens.MinTokenLength {
			bad(name, "shorter than %d characters", tokens.MinTokenLength)
		}
	}
	if v := strings.TrimSpace(getenv(envconfig.IngestRateEPS)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			bad(envconfig.IngestRateEPS, "%q is not a non-negative number of events per second", v)
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
	limit(envconfig.IngestMaxBodyBytes, &body)
	limit(envconfig.IngestMaxDecodedBytes, &decoded)
	c.Limits.MaxBodyBytes, c.Limits.MaxDecodedBytes = int64(body), int64(decoded)
	limit(envconfig.IngestMaxEvents, &c.Limits.MaxEvents)
	limit(envconfig.IngestMaxRecordBytes, &c.Limits.MaxRecordBytes)
	limit(envconfig.IngestMaxFieldBytes, &c.Limits.Event.FieldBytes)
	limit(envconfig.IngestMaxMessageBytes, &c.Limits.Event.MessageBytes)
	limit(envconfig.IngestMaxRawBytes, &c.Limits.Event.RawBytes)
	limit(envconfig.IngestMaxAttributes, &c.Limits.Event.Attributes)
	limit(envconfig.IngestBatchEvents, &c.Writer.MaxBatchEvents)
	limit(envconfig.IngestQueueEvents, &c.Writer.MaxQueuedEvents)
	limit(envconfig.IngestQueueBytes, &c.Writer.MaxQueuedBytes)
	limit(envconfig.IngestInserters, &c.Writer.Inserters)
	c.InflightBytes = 12 << 20
	limit(envconfig.IngestInflightBytes, &c.InflightBytes)
	if v := strings.TrimSpace(getenv(envconfig.IngestFlushInterval)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > time.Minute {
			bad(envconfig.IngestFlushInterval, "%q is not a duration between 1ms and 1m (e.g. 250ms)", v)
		}
		c.Writer.FlushInterval = d
	}
	if c.Limits.MaxDecodedBytes < c.Limits.MaxBodyBytes {
		bad(envconfig.IngestMaxDecodedBytes, "%d is less than %s (%d)", c.Limits.MaxDecodedBytes, envconfig.IngestMaxBodyBytes, c.Limits.MaxBodyBytes)
	}
	set := 0
	for _, v := range []string{c.NativeCert, c.NativeKey, c.NativeClientCA} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		bad(envconfig.NativeTLSCert, "the Vector-native port needs %s, %s and %s together", envconfig.NativeTLSCert, envconfig.NativeTLSKey, envconfig.NativeClientCA)
	}
	for _, a := range []struct{ name, v string }{{envconfig.ListenAddr, c.IngestAddr}, {envconfig.HECAddr, c.HECAddr}, {envconfig.MetricsAddr, c.MetricsAddr}, {envconfig.NativeAddr, c.NativeAddr}} {
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
