package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nanosiem/nano/services/envconfig"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/runner"
)

// Defaults of the search-only settings (README, "search service").
const (
	defaultListen = ":3002"
)

// config is the service's validated configuration.
type config struct {
	Listen                                   string
	ClickHouseAddr, Database, User, Password string
	PostgresURL                              string
	Limits                                   runner.Limits
	Admission                                admission.Config
	DefaultRange                             time.Duration
	DefaultPageRows, MaxPageRows             int
	MaxBodyBytes                             int64
	TokenCacheTTL                            time.Duration
	Deployment                               string
}

// loadConfig reads the environment and reports every bad variable by name.
func loadConfig(getenv func(string) string) (config, error) {
	r := &envconfig.Reader{Getenv: getenv}
	c := config{
		Listen:         r.Addr(envconfig.ListenAddr, defaultListen),
		ClickHouseAddr: r.Addr(envconfig.ClickHouseAddr, ""),
		Database:       r.String(envconfig.ClickHouseDatabase, "nano"),
		User:           r.String(envconfig.ClickHouseUser, "default"),
		Password:       r.Secret(envconfig.ClickHousePassword, envconfig.ClickHousePasswordFile),
		PostgresURL:    r.Secret(envconfig.PostgresURL, envconfig.PostgresURLFile),
		Deployment:     r.String(envconfig.Deployment, ""),
		Limits: runner.Limits{
			MaxExecutionTime: r.Duration(envconfig.SearchMaxExecutionTime, 30*time.Second, time.Second, time.Hour),
			MaxRowsToRead:    uint64(r.Int(envconfig.SearchMaxRowsToRead, 2_000_000_000, 1, 1<<62)),
			MaxBytesToRead:   uint64(r.Int(envconfig.SearchMaxBytesToRead, 200<<30, 1, 1<<62)),
			MaxMemoryUsage:   uint64(r.Int(envconfig.SearchMaxMemoryBytes, 2<<30, 64<<20, 1<<50)),
		},
		Admission: admission.Config{
			Global:     int(r.Int(envconfig.SearchMaxConcurrent, 8, 1, 10_000)),
			PerTenant:  int(r.Int(envconfig.SearchMaxConcurrentPerTenant, 4, 1, 10_000)),
			MaxWaiting: int(r.Int(envconfig.SearchMaxQueued, 64, 0, 100_000)),
			Wait:       r.Duration(envconfig.SearchQueueTimeout, 5*time.Second, 0, 5*time.Minute),
		},
		DefaultRange:    r.Duration(envconfig.SearchDefaultRange, 24*time.Hour, time.Minute, 10*365*24*time.Hour),
		DefaultPageRows: int(r.Int(envconfig.SearchDefaultPageRows, 100, 1, 1_000_000)),
		MaxPageRows:     int(r.Int(envconfig.SearchMaxPageRows, 10_000, 1, 1_000_000)),
		MaxBodyBytes:    r.Int(envconfig.SearchMaxBodyBytes, 64<<10, 1<<10, 16<<20),
		TokenCacheTTL:   r.Duration(envconfig.TokenCacheTTL, 30*time.Second, 0, time.Hour),
	}
	if c.ClickHouseAddr == "" {
		r.Bad(envconfig.ClickHouseAddr, "required: host:port of ClickHouse's native protocol (the clickhouse-search Service)")
	}
	if c.PostgresURL == "" {
		r.Bad(envconfig.PostgresURL, "required (or %s): the metadata database's URL", envconfig.PostgresURLFile)
	}
	if err := (events.Engine{Database: c.Database}).Validate(); err != nil {
		r.Bad(envconfig.ClickHouseDatabase, "%v", err)
	}
	if c.DefaultPageRows > c.MaxPageRows {
		r.Bad(envconfig.SearchDefaultPageRows, "%d is over %s (%d)", c.DefaultPageRows, envconfig.SearchMaxPageRows, c.MaxPageRows)
	}
	if c.Admission.PerTenant > c.Admission.Global {
		r.Bad(envconfig.SearchMaxConcurrentPerTenant, "%d is over %s (%s)", c.Admission.PerTenant, envconfig.SearchMaxConcurrent, strconv.Itoa(c.Admission.Global))
	}
	if err := r.Err(); err != nil {
		return c, fmt.Errorf("%w", err)
	}
	return c, nil
}

// timeout bounds one request: waiting for a slot, running, sending.
func (c config) timeout() time.Duration {
	return c.Admission.Wait + c.Limits.MaxExecutionTime + 10*time.Second
}
