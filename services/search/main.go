package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/depwait"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/history"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/search/server"
	"github.com/nanosiem/nano/services/servicemain"
)

// version is set at build time (-ldflags "-X main.version=..."); empty:
// the build's VCS information.
var version = ""

func main() {
	version = cli.VersionOr(version)
	servicemain.Run("search", version, loadConfig, func(ctx context.Context, cfg config, log *slog.Logger) error {
		return run(ctx, cfg, log, nil)
	})
}

// run serves until ctx ends; ln, when set, is the listener to use.
func run(ctx context.Context, cfg config, log *slog.Logger, ln net.Listener) error {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        cfg.ClickHouseAddrs,
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
		TLS:         cfg.ClickHouseTLS,
		DialTimeout: 5 * time.Second, ReadTimeout: cfg.Limits.MaxExecutionTime + 30*time.Second,
		MaxOpenConns: cfg.Admission.Global + 2, ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("cannot configure the ClickHouse client: %w", err)
	}
	defer conn.Close()
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("%s: %w", "cannot configure the PostgreSQL client", err)
	}
	defer pool.Close()
	// The api migrates the metadata schema (search may not change it).
	if err := depwait.Retry(ctx, log, "the metadata schema", func(ctx context.Context) error { return metadb.Ready(ctx, pool) }); err != nil {
		return err
	}
	var run *runner.Runner
	if err := depwait.Retry(ctx, log, "ClickHouse", func(ctx context.Context) (err error) {
		run, err = runner.New(ctx, conn, cfg.Limits)
		if run != nil {
			run.SearchReplicas = cfg.Cluster != ""
		}
		return err
	}); err != nil {
		return err
	}
	m := server.NewMetrics()
	m.BuildInfo.WithLabelValues(version).Set(1)
	adm, err := admission.New(cfg.Admission, m)
	if err != nil {
		return err
	}
	srv := &server.Server{
		Config: server.Config{Table: cfg.Database + ".events", DefaultRange: cfg.DefaultRange, DefaultPageRows: cfg.DefaultPageRows,
			MaxPageRows: cfg.MaxPageRows, MaxBodyBytes: cfg.MaxBodyBytes, Timeout: cfg.timeout(), Version: version},
		Runner: run, Store: &history.Store{DB: pool, MaxSaved: cfg.MaxSaved}, Tokens: &authtoken.Verifier{DB: pool, TTL: cfg.TokenCacheTTL},
		Admission: adm, Metrics: m, Log: log,
		Ready: func(ctx context.Context) error {
			if err := conn.Ping(ctx); err != nil {
				return errors.New("ClickHouse unreachable")
			}
			if err := pool.Ping(ctx); err != nil {
				return errors.New("PostgreSQL unreachable")
			}
			return nil
		},
	}
	api := srv.Handler()
	hs := server.NewHTTPServer(cfg.Listen, servicemain.Prefixed(contract.SearchPrefix, api, srv.Internal(api)), srv.Config)
	if ln, err = servicemain.Listen(ln, cfg.Listen); err != nil {
		return err
	}
	log.Info("search serving", "addr", ln.Addr().String(), "clickhouse", cfg.ClickHouseAddrs, "table", srv.Config.Table,
		"server_params", run.ServerParams, "version", version)
	return servicemain.Serve(ctx, hs, ln)
}
