package main

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"time"

	"github.com/nanosiem/nano/services/chclient"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/runner"
)

// config is the service's validated configuration.
type config struct {
	Listen          string
	ClickHouseAddrs []string
	// ClickHouseTLS dials ClickHouse over TLS (nil: plain).
	ClickHouseTLS            *tls.Config
	Database, User, Password string
	// Cluster names a replicated deployment's ClickHouse cluster: reads
	// then prefer each shard's search replica.
	Cluster                      string
	PostgresURL                  string
	Limits                       runner.Limits
	Admission                    admission.Config
	DefaultRange                 time.Duration
	DefaultPageRows, MaxPageRows int
	MaxBodyBytes                 int64
	MaxSaved                     quota.Limit
	TokenCacheTTL                time.Duration
	Deployment                   string
}

// loadConfig reads the environment and reports every bad variable by name.
func loadConfig(getenv func(string) string) (config, error) {
	r := &contract.Reader{Getenv: getenv}
	c := config{
		Listen:          r.Addr(contract.ListenAddr, contract.Addr(contract.Ports.Search)),
		ClickHouseAddrs: r.Addrs(contract.ClickHouseAddr, ""),
		Database:        r.String(contract.ClickHouseDatabase, "nano"),
		Cluster:         r.String(contract.ClickHouseCluster, ""),
		User:            r.String(contract.ClickHouseUser, "default"),
		Password:        r.Secret(contract.ClickHousePassword, contract.ClickHousePasswordFile),
		PostgresURL:     r.Secret(contract.PostgresURL, contract.PostgresURLFile),
		Deployment:      r.String(contract.Deployment, ""),
		Limits: runner.Limits{
			MaxExecutionTime: r.Duration(contract.SearchMaxExecutionTime, 30*time.Second, time.Second, time.Hour),
			MaxRowsToRead:    uint64(r.Int(contract.SearchMaxRowsToRead, 2_000_000_000, 1, 1<<62)),
			MaxBytesToRead:   uint64(r.Int(contract.SearchMaxBytesToRead, 200<<30, 1, 1<<62)),
			MaxMemoryUsage:   uint64(r.Int(contract.SearchMaxMemoryBytes, 2<<30, 64<<20, 1<<50)),
		},
		Admission: admission.Config{
			Global:     int(r.Int(contract.SearchMaxConcurrent, 8, 1, 10_000)),
			PerTenant:  int(r.Int(contract.SearchMaxConcurrentPerTenant, 4, 1, 10_000)),
			MaxWaiting: int(r.Int(contract.SearchMaxQueued, 64, 0, 100_000)),
			Wait:       r.Duration(contract.SearchQueueTimeout, 5*time.Second, 0, 5*time.Minute),
		},
		DefaultRange:    r.Duration(contract.SearchDefaultRange, 24*time.Hour, time.Minute, 10*365*24*time.Hour),
		DefaultPageRows: int(r.Int(contract.SearchDefaultPageRows, 100, 1, 1_000_000)),
		MaxPageRows:     int(r.Int(contract.SearchMaxPageRows, 10_000, 1, 1_000_000)),
		MaxBodyBytes:    r.Int(contract.SearchMaxBodyBytes, 64<<10, 1<<10, 16<<20),
		MaxSaved: quota.Limit{What: "saved searches", Key: contract.SearchMaxSavedSearches,
			Max: int(r.Int(contract.SearchMaxSavedSearches, quota.DefaultMaxSavedSearches, 0, 1_000_000))},
		TokenCacheTTL: r.Duration(contract.TokenCacheTTL, 30*time.Second, 0, time.Hour),
	}
	if len(c.ClickHouseAddrs) == 0 {
		r.Bad(contract.ClickHouseAddr, "required: host:port of ClickHouse's native protocol (the clickhouse-search Service)")
	}
	c.ClickHouseTLS = chclient.TLSFromEnv(r)
	if c.PostgresURL == "" {
		r.Bad(contract.PostgresURL, "required (or %s): the metadata database's URL", contract.PostgresURLFile)
	}
	if err := (events.Engine{Database: c.Database}).Validate(); err != nil {
		r.Bad(contract.ClickHouseDatabase, "%v", err)
	}
	if err := (events.Engine{Database: "nano", Cluster: c.Cluster}).Validate(); err != nil {
		r.Bad(contract.ClickHouseCluster, "%v", err)
	}
	if c.DefaultPageRows > c.MaxPageRows {
		r.Bad(contract.SearchDefaultPageRows, "%d is over %s (%d)", c.DefaultPageRows, contract.SearchMaxPageRows, c.MaxPageRows)
	}
	if c.Admission.PerTenant > c.Admission.Global {
		r.Bad(contract.SearchMaxConcurrentPerTenant, "%d is over %s (%s)", c.Admission.PerTenant, contract.SearchMaxConcurrent, strconv.Itoa(c.Admission.Global))
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
