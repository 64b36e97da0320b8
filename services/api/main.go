package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/nanosiem/nano/services/api/oidc"
	"github.com/nanosiem/nano/services/api/retention"
	"github.com/nanosiem/nano/services/api/scheduler"
	"github.com/nanosiem/nano/services/api/server"
	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/chbackup"
	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/depwait"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/servicemain"
)

// version is set at build time (-ldflags "-X main.version=..."); empty:
// the build's VCS information.
var version = ""

// commands are the api binary's subcommands (api -h lists them); each
// reads the api's own configuration from the environment, a secret's
// _FILE variant too.
var commands = []cli.Command{
	{Name: "token create", Args: "-tenant T [-name N] [-scopes S]", Summary: "print a new token of tenant T (the first admin's, to bootstrap access)",
		Run: func(args []string, stdout, stderr io.Writer) error {
			return exit(tokenCreate(args, os.Getenv, stdout, stderr))
		}},
	{Name: "backups", Summary: "list the ClickHouse backups (NANO_BACKUP_URL)", Run: func(args []string, stdout, stderr io.Writer) error {
		return exit(backupCommand("backups", args, os.Getenv, stdout, stderr))
	}},
	{Name: "restore", Args: "-backup NAME|latest [-replace]", Summary: "restore the events from a ClickHouse backup",
		Run: func(args []string, stdout, stderr io.Writer) error {
			return exit(backupCommand("restore", args, os.Getenv, stdout, stderr))
		}},
	{Name: "postgres-backups", Summary: "list the PostgreSQL backups (NANO_POSTGRES_BACKUP_URL)", Run: func(args []string, stdout, stderr io.Writer) error {
		return exit(postgresBackupCommand("postgres-backups", args, os.Getenv, stdout, stderr))
	}},
	{Name: "restore-postgres", Args: "[flags]", Summary: "restore the metadata database from a PostgreSQL backup",
		Run: func(args []string, stdout, stderr io.Writer) error {
			return exit(postgresBackupCommand("restore-postgres", args, os.Getenv, stdout, stderr))
		}},
	{Name: "move-from", Args: "[flags]", Summary: "move another deployment's events and metadata into this one (a tier upgrade's data move)",
		Run: func(args []string, stdout, stderr io.Writer) error {
			return exit(moveCommand(args, os.Getenv, stdout, stderr))
		}},
}

func main() {
	version = cli.VersionOr(version)
	servicemain.Run("api", version, loadConfig, func(ctx context.Context, cfg config, log *slog.Logger) error {
		return run(ctx, cfg, log, nil)
	}, commands...)
}

// exit is a subcommand's exit status as its error (it printed why).
func exit(code int) error {
	if code == 0 {
		return nil
	}
	return cli.ExitError(code)
}

// tokenCreate bootstraps access: the first admin token of a tenant.
func tokenCreate(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant id (lower case, digits, - and _)")
	name := fs.String("name", "bootstrap", "token name")
	scopes := fs.String("scopes", "admin", "comma-separated scopes: "+strings.Join(authtoken.Scopes, ", "))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	r := &contract.Reader{Getenv: getenv}
	url := r.Secret(contract.PostgresURL, contract.PostgresURLFile) // the deployment sets the _FILE variant
	if err := r.Err(); err != nil {
		fmt.Fprintln(stderr, "api token create:", err)
		return 2
	}
	if *tenant == "" || url == "" {
		fmt.Fprintln(stderr, "api token create: -tenant and NANO_POSTGRES_URL (or NANO_POSTGRES_URL_FILE) are required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Fprintln(stderr, "api token create:", err)
		return 1
	}
	defer db.Close()
	if err := metadb.Migrate(ctx, db); err != nil {
		fmt.Fprintln(stderr, "api token create:", err)
		return 1
	}
	if err := metadb.EnsureTenant(ctx, db, *tenant, *tenant); err != nil {
		fmt.Fprintln(stderr, "api token create:", err)
		return 1
	}
	token, _, err := authtoken.Issue(ctx, db, *tenant, nil, *name, strings.Split(*scopes, ","), nil)
	if err != nil {
		fmt.Fprintln(stderr, "api token create:", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
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
	// The api owns the metadata schema: it migrates it and grants ingest's
	// and search's roles their rights; they wait for it.
	if err := depwait.Retry(ctx, log, "PostgreSQL", func(ctx context.Context) error { return metadb.MigrateFor(ctx, pool, cfg.Roles) }); err != nil {
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
	// The scheduler's detector, once ClickHouse answers: rule tests run
	// through it.
	var detector atomic.Pointer[detect.Detector]
	var signIn *oidc.Handler
	if cfg.OIDC != nil {
		signIn = &oidc.Handler{Config: *cfg.OIDC, DB: pool, Log: log, Trusted: cfg.Trusted}
		signIn.Register(reg)
		log.Info("single sign-on on", "issuer", cfg.OIDC.Issuer, "client", cfg.OIDC.ClientID, "redirect", cfg.OIDC.RedirectURL, "mappings", len(cfg.OIDC.Roles))
	} else {
		log.Info("single sign-on off: " + contract.OIDCIssuer + " is unset (API tokens only)")
	}
	srv := &server.Server{
		Alertmanager: am,
		DB:           pool, Tokens: &authtoken.Verifier{DB: pool, TTL: cfg.TokenCacheTTL}, Sealer: sealer, Log: log, Version: version,
		EnrichmentDir: cfg.EnrichmentDir, MaxBodyBytes: cfg.MaxBodyBytes, Timeout: cfg.Timeout, Registry: reg, Limits: cfg.Limits,
		Leading: leading.Load, OIDC: signIn, Trusted: cfg.Trusted, Detector: detector.Load,
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
			// The events schema is the api's too: ingest, which inserts,
			// and search, which reads, have no right to change it.
			if err := events.Migrate(ctx, conn, engine); err != nil {
				if pending := (*events.PendingError)(nil); !errors.As(err, &pending) {
					return err
				}
				// Hosts that are down run the queued statements when back.
				log.Warn("schema applied where ClickHouse answered; the rest is queued", "error", err)
			}
			run, err = runner.New(ctx, conn, runner.Limits{MaxExecutionTime: time.Minute})
			return err
		}); err != nil {
			return
		}
		det := &detect.Detector{DB: pool, Conn: conn, Runner: run, Engine: engine, SampleEvents: cfg.SampleEvents}
		detector.Store(det)
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
			{Name: "disk", Interval: time.Minute, Run: func(ctx context.Context, _ int64) error {
				probe := func(ctx context.Context) (float64, error) { return events.DiskFree(ctx, conn, engine) }
				return diskPolicy(ctx, probe, conn, engine, cfg.DropOldestBelow, disk, log)
			}},
			{Name: "audit-retention", Interval: time.Hour, Run: func(ctx context.Context, _ int64) error {
				return keepAudit(ctx, pool, cfg.AuditRetentionDays, log)
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

// diskMetrics are the disk task's: the free share it last read (alert on
// it, e.g. below 0.15) and the days the operator's policy deleted.
type diskMetrics struct {
	free    prometheus.Gauge
	dropped prometheus.Counter
}

func newDiskMetrics(reg *prometheus.Registry) diskMetrics {
	m := diskMetrics{
		free: prometheus.NewGauge(prometheus.GaugeOpts{Name: contract.DiskFreeMetric,
			Help: "Free share of ClickHouse's default disk (the fullest server's on a cluster), last read by the api's disk task."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: contract.DiskDaysDroppedMetric,
			Help: "Days of events deleted before their retention by the operator's policy (" + contract.DiskDropOldestBelowPct + ") because ClickHouse's disk was filling."}),
	}
	reg.MustRegister(m.free, m.dropped)
	return m
}

// diskPolicy is the disk task: it reads ClickHouse's free disk share into
// the metric the platform alerts on. It deletes nothing unless the
// operator set a policy (dropBelow > 0, NANO_DISK_DROP_OLDEST_BELOW_PCT):
// then, below that share, it deletes the oldest day of events (one per
// pass, so a pass that frees enough stops there), logs it and counts it
// (the NanoEventsDeletedForDisk alert). Without a policy a filling disk
// stops ingest (503) and alerts instead. Servers before 19.15 have no
// system.disks: the task does nothing there.
func diskPolicy(ctx context.Context, probe func(context.Context) (float64, error), conn driver.Conn, e events.Engine, dropBelow float64, m diskMetrics, log *slog.Logger) error {
	free, err := probe(ctx)
	if errors.Is(err, events.ErrNoDiskView) {
		return nil
	}
	if err != nil {
		return err
	}
	m.free.Set(free)
	if dropBelow <= 0 || free >= dropBelow {
		return nil
	}
	day, err := retention.DropOldestDay(ctx, conn, e)
	if day != "" {
		m.dropped.Inc()
		log.Error("deleted the oldest day of events before its retention to free ClickHouse's disk, as the operator's policy says",
			"day", day, "free", free, "policy", contract.DiskDropOldestBelowPct, "below", dropBelow)
	}
	return err
}

// keepAudit is the audit-retention task: the coming months' partitions
// of the audit trail exist, the months older than the retention are
// dropped.
func keepAudit(ctx context.Context, pool *pgxpool.Pool, days int, log *slog.Logger) error {
	if err := metadb.PrepareAudit(ctx, pool); err != nil {
		return err
	}
	dropped, err := audit.Expire(ctx, pool, days, time.Now())
	if len(dropped) > 0 {
		log.Info("dropped expired months of the audit trail", "partitions", dropped, "retention_days", days)
	}
	return err
}
