package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/chbackup"
	"github.com/nanosiem/nano/services/contract"
)

// newBackups is the api's ClickHouse backups, as its configuration says.
func newBackups(conn driver.Conn, cfg config) *chbackup.Backups {
	return &chbackup.Backups{Conn: chbackup.Native{Conn: conn}, Store: cfg.Backup.Store, Database: cfg.Engine.Database,
		Cluster: cfg.Engine.Cluster, FullEvery: cfg.Backup.FullEvery, Keep: cfg.Backup.Keep}
}

// backupCommand runs "api backups" (list the finished backups) or
// "api restore -backup NAME|latest [-replace]" with the api's own
// configuration (the environment of its container or pod), and returns
// the exit code.
func backupCommand(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	backup := fs.String("backup", "", "the backup to restore: a name from 'api backups', or latest")
	replace := fs.Bool("replace", false, "drop the database's rows first (without it a restore over data is refused)")
	timeout := fs.Duration("timeout", 6*time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (name == "restore" && *backup == "") || (name == "backups" && (*backup != "" || *replace)) {
		fmt.Fprintf(stderr, "usage: api backups | api restore -backup NAME|latest [-replace]\n")
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err == nil && cfg.Backup == nil {
		err = fmt.Errorf("%s: unset, so this deployment has no ClickHouse backups", contract.BackupURL)
	}
	if err != nil {
		fmt.Fprintf(stderr, "api %s: %v\n", name, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts := clickhouseOptions(cfg)
	opts.DialTimeout, opts.ReadTimeout = 10*time.Second, 5*time.Minute
	conn, err := clickhouse.Open(opts)
	if err != nil {
		fmt.Fprintf(stderr, "api %s: %v\n", name, err)
		return 1
	}
	defer conn.Close()
	b := newBackups(conn, cfg)
	if name == "backups" {
		err = listBackups(ctx, b, stdout)
	} else {
		err = restore(ctx, b, *backup, *replace, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "api %s: %v\n", name, err)
		if errors.Is(err, chbackup.ErrLive) {
			return 3
		}
		return 1
	}
	return 0
}

func listBackups(ctx context.Context, b *chbackup.Backups, out io.Writer) error {
	all, err := b.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tKIND\tBASE\tSTORED\tDATA\tSECONDS\tCLICKHOUSE")
	for _, bk := range all {
		kind, base := "full", "-"
		if !bk.Full() {
			kind, base = "incremental", bk.Base
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%.1f\t%s\n", bk.Name, kind, base, bk.Bytes, bk.DataBytes,
			bk.Finished.Sub(bk.Started).Seconds(), bk.ServerVersion)
	}
	return w.Flush()
}

func restore(ctx context.Context, b *chbackup.Backups, name string, replace bool, out io.Writer) error {
	began := time.Now()
	r, err := b.Restore(ctx, name, replace)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s (%s) into %s in %s\n", r.Backup.Name, map[bool]string{true: "full", false: "incremental on " + r.Backup.Base}[r.Backup.Full()],
		b.Database, time.Since(began).Round(time.Second))
	for _, t := range slices.Sorted(maps.Keys(r.Rows)) {
		fmt.Fprintf(out, "  %s: %d rows\n", t, r.Rows[t])
	}
	return nil
}
