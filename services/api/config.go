package main

import (
	"encoding/base64"
	"os"
	"time"

	"github.com/nanosiem/nano/services/envconfig"
	"github.com/nanosiem/nano/services/events"
)

// config is the api's validated configuration.
type config struct {
	Listen                         string
	PostgresURL, LeaderURL         string
	ClickHouseAddr, User, Password string
	Engine                         events.Engine
	CredentialsKey                 []byte
	EnrichmentDir                  string
	Retry, Heartbeat               time.Duration
	ReplicaID                      string
	MaxBodyBytes                   int64
	Timeout, TokenCacheTTL         time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	r := &envconfig.Reader{Getenv: getenv}
	host, _ := os.Hostname()
	c := config{
		Listen:         r.Addr(envconfig.ListenAddr, ":3000"),
		PostgresURL:    r.Secret(envconfig.PostgresURL, envconfig.PostgresURLFile),
		ClickHouseAddr: r.Addr(envconfig.ClickHouseAddr, ""),
		User:           r.String(envconfig.ClickHouseUser, "default"),
		Password:       r.Secret(envconfig.ClickHousePassword, envconfig.ClickHousePasswordFile),
		EnrichmentDir:  r.String(envconfig.APIEnrichmentDir, ""),
		Retry:          r.Duration(envconfig.APILeaderRetry, 500*time.Millisecond, 50*time.Millisecond, time.Minute),
		Heartbeat:      r.Duration(envconfig.APILeaderHeartbeat, 500*time.Millisecond, 50*time.Millisecond, time.Minute),
		ReplicaID:      r.String(envconfig.APIReplicaID, host),
		MaxBodyBytes:   r.Int(envconfig.APIMaxBodyBytes, 1<<20, 1<<10, 64<<20),
		Timeout:        r.Duration(envconfig.APIRequestTimeout, 30*time.Second, time.Second, 10*time.Minute),
		TokenCacheTTL:  r.Duration(envconfig.TokenCacheTTL, 30*time.Second, 0, time.Hour),
	}
	c.LeaderURL = r.String(envconfig.APILeaderPostgresURL, c.PostgresURL)
	c.Engine = events.Engine{
		Database: r.String(envconfig.ClickHouseDatabase, "nano"), Cluster: r.String(envconfig.ClickHouseCluster, ""),
		RetentionDays: int(r.Int(envconfig.RetentionDays, 0, 0, 36500)),
	}
	if c.PostgresURL == "" {
		r.Bad(envconfig.PostgresURL, "required (or %s): the metadata database's URL", envconfig.PostgresURLFile)
	}
	if c.ClickHouseAddr == "" {
		r.Bad(envconfig.ClickHouseAddr, "required: host:port of ClickHouse's native protocol (detections read events)")
	}
	if err := (events.Engine{Database: c.Engine.Database, Cluster: c.Engine.Cluster}).Validate(); err != nil {
		r.Bad(envconfig.ClickHouseDatabase, "%v", err)
	}
	if c.ReplicaID == "" {
		r.Bad(envconfig.APIReplicaID, "required when the host has no name")
	}
	if key := r.Secret(envconfig.APICredentialsKey, envconfig.APICredentialsKeyFile); key != "" {
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(b) != 32 {
			r.Bad(envconfig.APICredentialsKey, "base64 of exactly 32 random bytes (openssl rand -base64 32)")
		}
		c.CredentialsKey = b
	}
	return c, r.Err()
}
