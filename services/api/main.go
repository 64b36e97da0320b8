package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/api/retention"
	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
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
