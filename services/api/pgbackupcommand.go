package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/api/scheduler"
	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/pgbackup"
)

// walArchiveEvery is how often the spool is moved to the bucket (the WAL
// RPO is PostgreSQL's archive_timeout plus this).
const walArchiveEvery = 10 * time.Second

// spooledMetric is how many WAL files wait in the spool after a pass.
const spooledMetric = "nano_postgres_wal_spooled_files"

// newPostgresBackups is the api's PostgreSQL backups, as its configuration
// says.
func newPostgresBackups(cfg config) *pgbackup.Backups {
	return &pgbackup.Backups{URL: cfg.PostgresURL, Store: cfg.PostgresBackup.Store, Spool: cfg.PostgresBackup.Spool, Keep: cfg.PostgresBackup.Keep}
}

// postgresBackupTasks are the leader's tasks backing PostgreSQL up: base
// backups on their schedule (returned, to reset each term) and the WAL
// spool moved to the bucket.
func postgresBackupTasks(cfg config, reg prometheus.Registerer, log *slog.Logger) (*backups.Schedule, []scheduler.Task) {
	b := newPostgresBackups(cfg)
	s := pgbackup.NewSchedule(b, cfg.PostgresBackup.Interval, pgbackup.NewMetrics(reg), log)
	spooled := prometheus.NewGauge(prometheus.GaugeOpts{Name: spooledMetric,
		Help: "WAL files waiting in the spool for the bucket after the last archive pass (they fill the host's disk while archiving fails)."})
	reg.MustRegister(spooled)
	return s, []scheduler.Task{
		{Name: contract.PostgresBackupTask, Interval: time.Minute, Run: func(ctx context.Context, _ int64) error { return s.Tick(ctx) }},
		{Name: contract.PostgresWALArchiveTask, Interval: walArchiveEvery, Run: func(ctx context.Context, _ int64) error {
			moved, left, err := b.Archive(ctx)
			spooled.Set(float64(left))
			if moved > 0 {
				log.Debug("WAL archived", "files", moved)
			}
			return err
		}},
	}
}

// postgresBackupCommand runs "api postgres-backups" (list the base
// backups) or "api restore-postgres -into DIR [-backup NAME|latest] [-to
// TIME] [-replace]" with the api's own configuration, and returns the
// exit code.
func postgresBackupCommand(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	into := fs.String("into", "", "the stopped server's data directory to restore into")
	backup := fs.String("backup", "latest", "the base backup: a name from 'api postgres-backups', or latest (the newest before -to)")
	to := fs.String("to", "", "recover to this time (RFC 3339, e.g. 2026-12-03T10:00:00Z); empty: all the archived WAL")
	replace := fs.Bool("replace", false, "delete what the directory holds first (without it a restore over data is refused)")
	timeout := fs.Duration("timeout", 6*time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var target time.Time
	if *to != "" {
		t, err := time.Parse(time.RFC3339, *to)
		if err != nil {
			fmt.Fprintf(stderr, "api %s: -to %q: not an RFC 3339 time (2026-12-03T10:00:00Z)\n", name, *to)
			return 2
		}
		target = t
	}
	if fs.NArg() > 0 || (name == "restore-postgres" && *into == "") || (name == "postgres-backups" && (*into != "" || *to != "" || *replace)) {
		fmt.Fprintf(stderr, "usage: api postgres-backups | api restore-postgres -into DIR [-backup NAME|latest] [-to TIME] [-replace]\n")
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err == nil && cfg.PostgresBackup == nil {
		err = fmt.Errorf("%s: unset, so the api takes no PostgreSQL backups here (the clusters' are CloudNativePG's: see docs/operate/backups.md)", contract.PostgresBackupURL)
	}
	if err != nil {
		fmt.Fprintf(stderr, "api %s: %v\n", name, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := newPostgresBackups(cfg)
	if name == "postgres-backups" {
		err = listPostgresBackups(ctx, b, stdout)
	} else {
		err = restorePostgres(ctx, b, *into, *backup, target, *replace, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "api %s: %v\n", name, err)
		if errors.Is(err, pgbackup.ErrLive) {
			return 3
		}
		return 1
	}
	return 0
}

func listPostgresBackups(ctx context.Context, b *pgbackup.Backups, out io.Writer) error {
	all, err := b.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tFINISHED\tSTART WAL\tSTORED\tDATA\tSECONDS\tPOSTGRESQL")
	for _, bk := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%.1f\t%s\n", bk.Name, bk.Finished.Format(time.RFC3339), bk.StartWAL, bk.Bytes, bk.DataBytes,
			bk.Finished.Sub(bk.Started).Seconds(), bk.ServerVersion)
	}
	return w.Flush()
}

func restorePostgres(ctx context.Context, b *pgbackup.Backups, dir, name string, target time.Time, replace bool, out io.Writer) error {
	began := time.Now()
	r, err := b.Restore(ctx, dir, name, target, replace)
	if err != nil {
		return err
	}
	to := "the end of the archived WAL"
	if !target.IsZero() {
		to = target.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "prepared %s from base backup %s and %d WAL files in %s: start PostgreSQL on it to recover to %s; it then opens on a new timeline\n",
		dir, r.Backup.Name, r.WALFiles, time.Since(began).Round(time.Second), to)
	return nil
}
