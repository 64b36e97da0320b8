package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
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

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if len(os.Args) > 2 && os.Args[1] == "token" && os.Args[2] == "create" {
		os.Exit(tokenCreate(os.Args[3:]))
	}
	if len(os.Args) > 1 && (os.Args[1] == "backups" || os.Args[1] == "restore") {
		os.Exit(backupCommand(os.Args[1], os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "move-from" {
		os.Exit(moveCommand(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && (os.Args[1] == "postgres-backups" || os.Args[1] == "restore-postgres") {
		os.Exit(postgresBackupCommand(os.Args[1], os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	servicemain.Run("api", version, loadConfig, func(ctx context.Context, cfg config, log *slog.Logger) error {
		return run(ctx, cfg, log, nil)
	})
}

// tokenCreate bootstraps access: the first admin token of a tenant.
func tokenCreate(args []string) int {
	fs := flag.NewFlagSet("api token create", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant id (lower case, digits, - and _)")
	name := fs.String("name", "bootstrap", "token name")
	scopes := fs.String("scopes", "admin", "comma-separated scopes: "+strings.Join(authtoken.Scopes, ", "))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	url := os.Getenv("NANO_POSTGRES_URL")
	if *tenant == "" || url == "" {
		fmt.Fprintln(os.Stderr, "api token create: -tenant and NANO_POSTGRES_URL are required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "api token create:", err)
		return 1
	}
	defer db.Close()
	if err := metadb.Migrate(ctx, db); err != nil {
		fmt.Fprintln(os.Stderr, "api token create:", err)
		return 1
	}
	if err := metadb.EnsureTenant(ctx, db, *tenant, *tenant); err != nil {
		fmt.Fprintln(os.Stderr, "api token create:", err)
		return 1
	}
	token, _, err := authtoken.Issue(ctx, db, *tenant, nil, *name, strings.Split(*scopes, ","), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "api token create:", err)
		return 1
	}
	fmt.Println(token)
	return 0
}

// seedAdminToken stores the deployment's first admin token
// (NANO_API_ADMIN_TOKEN) for the default tenant, once. It is the
// operator's: it also holds the platform scope (platform datasets,
// platform tokens), given too to a first-admin token stored by a version
// before that scope.
func seedAdminToken(ctx context.Context, pool *pgxpool.Pool, token string, log *slog.Logger) error {
	if err := metadb.EnsureTenant(ctx, pool, contract.DefaultTenant, contract.DefaultTenant); err != nil {
		return fmt.Errorf("%s: %w", contract.APIAdminToken, err)
	}
	created, err := authtoken.Seed(ctx, pool, contract.DefaultTenant, "first-admin", token, []string{authtoken.ScopeAdmin, authtoken.ScopePlatform})
	if err != nil {
		return fmt.Errorf("%s: %w", contract.APIAdminToken, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE api_tokens SET scopes = scopes || ARRAY['platform'] WHERE hash = $1 AND tenant = $2 AND revoked_at IS NULL
AND 'admin' = ANY(scopes) AND NOT 'platform' = ANY(scopes)`, authtoken.Hash(token), contract.DefaultTenant); err != nil {
		return fmt.Errorf("%s: cannot give it the platform scope: %w", contract.APIAdminToken, err)
	}
	if created {
		log.Info("the first admin token is stored", "tenant", contract.DefaultTenant, "key", contract.APIAdminToken)
	}
	return nil
}

// clickhouseOptions are how the api reaches ClickHouse (addresses,
// credentials, TLS); callers add their timeouts and pool sizes.
func clickhouseOptions(cfg config) *clickhouse.Options {
	return &clickhouse.Options{
		Addr: cfg.ClickHouseAddrs, Auth: clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password}, TLS: cfg.ClickHouseTLS,
	}
}

// run serves and campaigns until ctx ends; ln, when set, is the listener.
func run(ctx context.Context, cfg config, log *slog.Logger, ln net.Listener) error {
	// stop also ends the scheduler when serving fails.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("cannot configure the PostgreSQL client: %w", err)
	}
	defer pool.Close()
	if err := depwait.Retry(ctx, log, "PostgreSQL", func(ctx context.Context) error { return metadb.Migrate(ctx, pool) }); err != nil {
		return err
	}
	if cfg.AdminToken != "" {
		if err := seedAdminToken(ctx, pool, cfg.AdminToken, log); err != nil {
			return err
		}
	}
	opts := clickhouseOptions(cfg)
	opts.DialTimeout, opts.ReadTimeout, opts.MaxOpenConns, opts.ConnMaxLifetime = 5*time.Second, 5*time.Minute, 4, time.Hour
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return fmt.Errorf("cannot configure the ClickHouse client: %w", err)
	}
	defer conn.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nano_api_build_info", Help: "The running version (value 1)."}, []string{"version"})
	reg.MustRegister(build)
	build.WithLabelValues(version).Set(1)
	var sealer *server.Sealer
	if cfg.CredentialsKey != nil {
		if sealer, err = server.NewSealer(cfg.CredentialsKey); err != nil {
			return err
		}
	}
	var am *notify.Client
	if len(cfg.Alertmanagers) > 0 {
		am = notify.NewClient(cfg.Alertmanagers, 10*time.Second)
		log.Info("alerts go to Alertmanager", "members", len(cfg.Alertmanagers), "resend", cfg.AlertResend.String())
	} else {
		log.Info("alerts are kept in nano only: " + contract.AlertmanagerURLs + " is unset")
	}
	var leading atomic.Bool
	srv := &server.Server{
		Alertmanager: am,
		DB:           pool, Tokens: &authtoken.Verifier{DB: pool, TTL: cfg.TokenCacheTTL}, Sealer: sealer, Log: log, Version: version,
		EnrichmentDir: cfg.EnrichmentDir, MaxBodyBytes: cfg.MaxBodyBytes, Timeout: cfg.Timeout, Registry: reg, Limits: cfg.Limits,
		Leading: leading.Load,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return errors.New("PostgreSQL unreachable")
			}
			return nil
		},
	}
	api := srv.Handler()
	hs := server.NewHTTPServer(cfg.Listen, servicemain.Prefixed(contract.APIPrefix, api, srv.Internal(api)), cfg.Timeout)
	if ln, err = servicemain.Listen(ln, cfg.Listen); err != nil {
		return err
	}
	log.Info("api serving", "addr", ln.Addr().String(), "replica", cfg.ReplicaID, "version", version)

	disk := newDiskMetrics(reg)
	var chBackups *backups.Schedule
	if cfg.Backup != nil {
		chBackups = chbackup.NewSchedule(newBackups(conn, cfg), cfg.Backup.Interval, chbackup.NewMetrics(reg), log)
		log.Info("ClickHouse backups on", "every", cfg.Backup.Interval.String(), "to", cfg.Backup.Store.URL)
	} else {
		log.Info("ClickHouse backups off: " + contract.BackupURL + " is unset")
	}
	var pgTasks []scheduler.Task
	var pgSchedule *backups.Schedule
	if cfg.PostgresBackup != nil {
		pgSchedule, pgTasks = postgresBackupTasks(cfg, reg, log)
		log.Info("PostgreSQL backups on", "every", cfg.PostgresBackup.Interval.String(), "to", cfg.PostgresBackup.Store.URL, "spool", cfg.PostgresBackup.Spool)
	}
	// The scheduler: ClickHouse may come later than PostgreSQL; the HTTP
	// API serves meanwhile.
	metrics := scheduler.NewMetrics(reg)
	deliveryMetrics := notify.NewMetrics(reg)
	campaignDone := make(chan struct{})
	go func() {
		defer close(campaignDone)
		engine := cfg.Engine
		var run *runner.Runner
		if err := depwait.Retry(ctx, log, "ClickHouse", func(ctx context.Context) (err error) {
			if engine.Version, err = events.DetectVersion(ctx, conn); err != nil {
				return err
			}
			run, err = runner.New(ctx, conn, runner.Limits{MaxExecutionTime: time.Minute})
			return err
		}); err != nil {
			return
		}
		det := &detect.Detector{DB: pool, Conn: conn, Runner: run, Engine: engine, SampleEvents: cfg.SampleEvents}
		sync := &enrich.Syncer{DB: pool, Conn: conn, Engine: engine, Dir: cfg.EnrichmentDir}
		sch := &scheduler.Scheduler{DB: pool, ID: cfg.ReplicaID, Metrics: metrics, Log: log, Tasks: []scheduler.Task{
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
			{Name: "disk-guard", Interval: time.Minute, Run: func(ctx context.Context, _ int64) error {
				return guardDisk(ctx, conn, engine, disk, log)
			}},
		}}
		if chBackups != nil {
			sch.Tasks = append(sch.Tasks, scheduler.Task{Name: contract.BackupTask, Interval: time.Minute,
				Run: func(ctx context.Context, _ int64) error { return chBackups.Tick(ctx) }})
		}
		sch.Tasks = append(sch.Tasks, pgTasks...)
		if am != nil {
			// New alerts go out within a few seconds of their detection.
			d := &notify.Deliverer{DB: pool, AM: am, Resend: cfg.AlertResend, WebURL: cfg.WebURL, Log: log, Metrics: deliveryMetrics}
			sch.Tasks = append(sch.Tasks, scheduler.Task{Name: "alert-delivery", Interval: min(5*time.Second, cfg.AlertResend), Run: d.Deliver})
		}
		_ = leader.Run(ctx, leader.Config{URL: cfg.LeaderURL, ID: cfg.ReplicaID, Retry: cfg.Retry, Heartbeat: cfg.Heartbeat}, log, func(t leader.Term) {
			leading.Store(true)
			defer leading.Store(false)
			if chBackups != nil {
				chBackups.Reset() // another replica may have backed up meanwhile
			}
			if pgSchedule != nil {
				pgSchedule.Reset()
			}
			sch.Lead(t)
		})
	}()

	err = servicemain.Serve(ctx, hs, ln)
	stop()
	<-campaignDone
	return err
}

// diskMetrics are the disk guard's: the free share it last read (alert on
// it, e.g. below 0.15) and the days it dropped early.
type diskMetrics struct {
	free    prometheus.Gauge
	dropped prometheus.Counter
}

func newDiskMetrics(reg *prometheus.Registry) diskMetrics {
	m := diskMetrics{
		free: prometheus.NewGauge(prometheus.GaugeOpts{Name: contract.DiskFreeMetric,
			Help: "Free share of ClickHouse's default disk (the server the api reached), last read by the disk guard."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_clickhouse_disk_days_dropped_total",
			Help: "Days of events dropped before their retention because ClickHouse's disk was filling."}),
	}
	reg.MustRegister(m.free, m.dropped)
	return m
}

// guardDisk is the disk-guard task: below contract.DiskFreeGuardMin it drops the oldest
// day (one per pass, so a pass that frees enough stops there). Servers
// before 19.15 have no system.disks: the guard does not run there.
func guardDisk(ctx context.Context, conn driver.Conn, e events.Engine, m diskMetrics, log *slog.Logger) error {
	if e.Version[0] < 20 {
		return nil
	}
	free, err := retention.DiskFree(ctx, conn)
	if err != nil {
		return err
	}
	m.free.Set(free)
	if free >= contract.DiskFreeGuardMin {
		return nil
	}
	day, err := retention.DropOldestDay(ctx, conn, e)
	if day != "" {
		m.dropped.Inc()
		log.Warn("ClickHouse's disk is filling: dropped the oldest day of events before its retention", "free", free, "day", day)
	}
	return err
}
