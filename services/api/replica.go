package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/api/enrich"
	"github.com/nanosiem/nano/services/api/leader"
	"github.com/nanosiem/nano/services/api/notify"
	"github.com/nanosiem/nano/services/api/oidc"
	"github.com/nanosiem/nano/services/api/retention"
	"github.com/nanosiem/nano/services/api/scheduler"
	"github.com/nanosiem/nano/services/api/server"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/chbackup"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/depwait"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/servicemain"
)

// replica is one api process: its stores, its metrics, and what its HTTP
// server and its leader campaign share (whether it leads, the detector
// once ClickHouse answers).
type replica struct {
	cfg      config
	log      *slog.Logger
	pool     *pgxpool.Pool
	conn     driver.Conn
	reg      *prometheus.Registry
	am       *notify.Client
	leading  atomic.Bool
	detector atomic.Pointer[detect.Detector]
}

// run serves and campaigns until ctx ends; ln, when set, is the listener.
func run(ctx context.Context, cfg config, log *slog.Logger, ln net.Listener) error {
	// stop also ends the scheduler when serving fails.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	pool, err := openMetadata(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	opts := clickhouseOptions(cfg)
	opts.DialTimeout, opts.ReadTimeout, opts.MaxOpenConns, opts.ConnMaxLifetime = 5*time.Second, 5*time.Minute, 4, time.Hour
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return fmt.Errorf("cannot configure the ClickHouse client: %w", err)
	}
	defer conn.Close()

	r := &replica{cfg: cfg, log: log, pool: pool, conn: conn, reg: newRegistry(), am: alertmanagers(cfg, log)}
	srv, err := r.server()
	if err != nil {
		return err
	}
	api := srv.Handler()
	hs := server.NewHTTPServer(cfg.Listen, servicemain.Prefixed(contract.APIPrefix, api, srv.Internal(api)), cfg.Timeout)
	if ln, err = servicemain.Listen(ln, cfg.Listen); err != nil {
		return err
	}
	log.Info("api serving", "addr", ln.Addr().String(), "replica", cfg.ReplicaID, "version", version)
	campaignDone := r.campaign(ctx)
	err = servicemain.Serve(ctx, hs, ln)
	stop()
	<-campaignDone
	return err
}

// openMetadata connects to PostgreSQL once it answers, migrates the
// metadata schema, grants ingest's and search's roles their rights (they
// wait for the api) and seeds the configured admin token.
func openMetadata(ctx context.Context, cfg config, log *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("cannot configure the PostgreSQL client: %w", err)
	}
	if err := depwait.Retry(ctx, log, "PostgreSQL", func(ctx context.Context) error { return metadb.MigrateFor(ctx, pool, cfg.Roles) }); err != nil {
		pool.Close()
		return nil, err
	}
	if cfg.AdminToken != "" {
		if err := seedAdminToken(ctx, pool, cfg.AdminToken, log); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}

// newRegistry holds the process's metrics and the running version.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nano_api_build_info", Help: "The running version (value 1)."}, []string{"version"})
	reg.MustRegister(build)
	build.WithLabelValues(version).Set(1)
	return reg
}

// alertmanagers is the client of the configured Alertmanagers; nil (alerts
// stay in nano) when none is.
func alertmanagers(cfg config, log *slog.Logger) *notify.Client {
	if len(cfg.Alertmanagers) == 0 {
		log.Info("alerts are kept in nano only: " + contract.AlertmanagerURLs + " is unset")
		return nil
	}
	log.Info("alerts go to Alertmanager", "members", len(cfg.Alertmanagers), "resend", cfg.AlertResend.String())
	return notify.NewClient(cfg.Alertmanagers, 10*time.Second)
}

// server is the replica's HTTP API: credentials sealed with the configured
// key, single sign-on when configured, ready while PostgreSQL answers.
func (r *replica) server() (*server.Server, error) {
	cfg, log := r.cfg, r.log
	var sealer *server.Sealer
	if cfg.CredentialsKey != nil {
		var err error
		if sealer, err = server.NewSealer(cfg.CredentialsKey); err != nil {
			return nil, err
		}
	}
	var signIn *oidc.Handler
	if cfg.OIDC != nil {
		signIn = &oidc.Handler{Config: *cfg.OIDC, DB: r.pool, Log: log, Trusted: cfg.Trusted}
		signIn.Register(r.reg)
		log.Info("single sign-on on", "issuer", cfg.OIDC.Issuer, "client", cfg.OIDC.ClientID, "redirect", cfg.OIDC.RedirectURL, "mappings", len(cfg.OIDC.Roles))
	} else {
		log.Info("single sign-on off: " + contract.OIDCIssuer + " is unset (API tokens only)")
	}
	pool := r.pool
	return &server.Server{
		Alertmanager: r.am,
		DB:           pool, Tokens: &authtoken.Verifier{DB: pool, TTL: cfg.TokenCacheTTL}, Sealer: sealer, Log: log, Version: version,
		EnrichmentDir: cfg.EnrichmentDir, MaxBodyBytes: cfg.MaxBodyBytes, Timeout: cfg.Timeout, Registry: r.reg, Limits: cfg.Limits,
		Leading: r.leading.Load, OIDC: signIn, Trusted: cfg.Trusted, Detector: r.detector.Load,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return errors.New("PostgreSQL unreachable")
			}
			return nil
		},
	}, nil
}

// leaderWork is what only the leading replica runs, beside the detector:
// the backup schedules and the metrics of its tasks.
type leaderWork struct {
	disk       diskMetrics
	metrics    *scheduler.Metrics
	delivery   *notify.Metrics
	chBackups  *backups.Schedule
	pgSchedule *backups.Schedule
	pgTasks    []scheduler.Task
}

// campaign registers the leader's metrics, then, in the background, waits
// for ClickHouse (the HTTP API serves meanwhile) and campaigns for the
// lead, running the scheduler's tasks while it holds it. The channel
// closes when the campaign has ended (ctx done).
func (r *replica) campaign(ctx context.Context) <-chan struct{} {
	cfg, log := r.cfg, r.log
	w := leaderWork{disk: newDiskMetrics(r.reg)}
	if cfg.Backup != nil {
		w.chBackups = chbackup.NewSchedule(newBackups(r.conn, cfg), cfg.Backup.Interval, chbackup.NewMetrics(r.reg), log)
		log.Info("ClickHouse backups on", "every", cfg.Backup.Interval.String(), "to", cfg.Backup.Store.URL)
	} else {
		log.Info("ClickHouse backups off: " + contract.BackupURL + " is unset")
	}
	if cfg.PostgresBackup != nil {
		w.pgSchedule, w.pgTasks = postgresBackupTasks(cfg, r.reg, log)
		log.Info("PostgreSQL backups on", "every", cfg.PostgresBackup.Interval.String(), "to", cfg.PostgresBackup.Store.URL, "spool", cfg.PostgresBackup.Spool)
	}
	w.metrics = scheduler.NewMetrics(r.reg)
	w.delivery = notify.NewMetrics(r.reg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		det, err := r.waitClickHouse(ctx)
		if err != nil {
			return
		}
		sch := &scheduler.Scheduler{DB: r.pool, ID: cfg.ReplicaID, Metrics: w.metrics, Log: log, Tasks: r.tasks(det, w)}
		_ = leader.Run(ctx, leader.Config{URL: cfg.LeaderURL, ID: cfg.ReplicaID, Retry: cfg.Retry, Heartbeat: cfg.Heartbeat}, log, func(t leader.Term) {
			r.leading.Store(true)
			defer r.leading.Store(false)
			if w.chBackups != nil {
				w.chBackups.Reset() // another replica may have backed up meanwhile
			}
			if w.pgSchedule != nil {
				w.pgSchedule.Reset()
			}
			sch.Lead(t)
		})
	}()
	return done
}

// waitClickHouse retries until ClickHouse answers, migrates the events
// schema (the api's too: ingest, which inserts, and search, which reads,
// have no right to change it) and makes the detector rule tests run
// through; it fails only when ctx ends.
func (r *replica) waitClickHouse(ctx context.Context) (*detect.Detector, error) {
	engine := r.cfg.Engine
	var run *runner.Runner
	if err := depwait.Retry(ctx, r.log, "ClickHouse", func(ctx context.Context) (err error) {
		if engine.Version, err = events.DetectVersion(ctx, r.conn); err != nil {
			return err
		}
		if err := events.Migrate(ctx, r.conn, engine); err != nil {
			if pending := (*events.PendingError)(nil); !errors.As(err, &pending) {
				return err
			}
			// Hosts that are down run the queued statements when back.
			r.log.Warn("schema applied where ClickHouse answered; the rest is queued", "error", err)
		}
		run, err = runner.New(ctx, r.conn, runner.Limits{MaxExecutionTime: time.Minute})
		return err
	}); err != nil {
		return nil, err
	}
	det := &detect.Detector{DB: r.pool, Conn: r.conn, Runner: run, Engine: engine, SampleEvents: r.cfg.SampleEvents}
	r.detector.Store(det)
	return det, nil
}

// tasks are the leader's scheduled tasks.
func (r *replica) tasks(det *detect.Detector, w leaderWork) []scheduler.Task {
	cfg, log, conn, engine := r.cfg, r.log, r.conn, det.Engine
	sync := &enrich.Syncer{DB: r.pool, Conn: conn, Engine: engine, Dir: cfg.EnrichmentDir}
	tasks := []scheduler.Task{
		{Name: "heartbeat", Interval: time.Second, Run: func(context.Context, int64) error { return nil }},
		{Name: "detections", Interval: 5 * time.Second, Run: det.RunDue},
		{Name: "autotune", Interval: 10 * time.Minute, Run: det.Autotune},
		{Name: "signal-prune", Interval: time.Minute, Run: det.PruneSignals},
		{Name: "enrichment", Interval: 30 * time.Second, Run: sync.SyncDue},
		{Name: "retention", Interval: time.Hour, Run: func(ctx context.Context, _ int64) error {
			dropped, err := retention.RollOff(ctx, conn, engine, time.Now())
			if len(dropped) > 0 {
				log.Info("rolled off old events", "partitions", dropped)
			}
			return err
		}},
		{Name: "disk", Interval: time.Minute, Run: func(ctx context.Context, _ int64) error {
			probe := func(ctx context.Context) (float64, error) { return events.DiskFree(ctx, conn, engine) }
			return diskPolicy(ctx, probe, conn, engine, cfg.DropOldestBelow, w.disk, log)
		}},
		{Name: "audit-retention", Interval: time.Hour, Run: func(ctx context.Context, _ int64) error {
			return keepAudit(ctx, r.pool, cfg.AuditRetentionDays, log)
		}},
	}
	if w.chBackups != nil {
		tasks = append(tasks, scheduler.Task{Name: contract.BackupTask, Interval: time.Minute,
			Run: func(ctx context.Context, _ int64) error { return w.chBackups.Tick(ctx) }})
	}
	tasks = append(tasks, w.pgTasks...)
	if r.am != nil {
		// New alerts go out within a few seconds of their detection.
		d := &notify.Deliverer{DB: r.pool, AM: r.am, Resend: cfg.AlertResend, WebURL: cfg.WebURL, Log: log, Metrics: w.delivery}
		tasks = append(tasks, scheduler.Task{Name: "alert-delivery", Interval: min(5*time.Second, cfg.AlertResend), Run: d.Deliver})
	}
	return tasks
}
