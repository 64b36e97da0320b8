package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/tiermove"
)

const moveUsage = "usage: api move-from -source-clickhouse clickhouse://USER:PASSWORD@HOST:9000/DATABASE[?secure=true] [-source-cluster NAME] [-source-postgres postgres://...] [-events=false]"

// moveCommand runs "api move-from": in the api of a new deployment (its
// own configuration is the target), it copies the events of an older
// deployment's ClickHouse that the target lacks, verified day by day, and
// with -source-postgres replaces the target's metadata with the source's.
// Run it while the old deployment still ingests, switch the shippers, then
// run it again with -source-postgres: see docs/operate/tier-upgrades.md.
func moveCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api move-from", flag.ContinueOnError)
	fs.SetOutput(stderr)
	srcCH := fs.String("source-clickhouse", "", "the old deployment's ClickHouse as a clickhouse:// DSN, with its database as the path")
	srcCluster := fs.String("source-cluster", "", "the old deployment's ClickHouse cluster name (empty: a single node)")
	srcPG := fs.String("source-postgres", "", "the old deployment's metadata database: moved after the events when set")
	moveEvents := fs.Bool("events", true, "move the events")
	timeout := fs.Duration("timeout", 24*time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*moveEvents && *srcCH == "") || (!*moveEvents && *srcPG == "") {
		fmt.Fprintln(stderr, moveUsage)
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "api move-from: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *moveEvents {
		if code := moveEventsFrom(ctx, cfg, *srcCH, *srcCluster, stdout, stderr); code != 0 {
			return code
		}
	}
	if *srcPG != "" {
		if err := moveMetadataFrom(ctx, cfg, *srcPG, stdout); err != nil {
			fmt.Fprintf(stderr, "api move-from: metadata: %v\n", err)
			return 1
		}
	}
	return 0
}

func moveEventsFrom(ctx context.Context, cfg config, dsn, cluster string, stdout, stderr io.Writer) int {
	addr := tiermove.ClickHouseAddress{DSN: dsn, Cluster: cluster}
	srcOpts, _, err := addr.Parse()
	if err != nil {
		fmt.Fprintf(stderr, "api move-from: -source-clickhouse/-source-cluster: %v\n", err)
		return 2
	}
	src, source, err := addr.Open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "api move-from: source: %v\n", err)
		return 1
	}
	defer src.Close()
	opts := clickhouseOptions(cfg)
	opts.DialTimeout, opts.ReadTimeout = 10*time.Second, 10*time.Minute
	dst, err := clickhouse.Open(opts)
	if err != nil {
		fmt.Fprintf(stderr, "api move-from: target: %v\n", err)
		return 1
	}
	defer dst.Close()
	target := cfg.Engine
	if target.Version, err = events.DetectVersion(ctx, dst); err != nil {
		fmt.Fprintf(stderr, "api move-from: target: %v\n", err)
		return 1
	}
	if source.Database == target.Database && len(srcOpts.Addr) > 0 && len(opts.Addr) > 0 && srcOpts.Addr[0] == opts.Addr[0] {
		fmt.Fprintln(stderr, "api move-from: the source is this deployment's own database")
		return 2
	}
	move := tiermove.EventsMove{Source: src, SourceEngine: source, Target: dst, TargetEngine: target,
		Progress: func(d tiermove.DayReport) {
			fmt.Fprintf(stdout, "%d: %d rows in the source, %d copied, %d in the target\n", d.Day, d.Source, d.Copied, d.Target)
		}}
	rep, err := move.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "api move-from: events: %v\n", err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "api move-from: run it again: it goes on where it stopped")
		}
		return 1
	}
	fmt.Fprintf(stdout, "events: %d rows copied over %d day(s) in %s, every source row verified in the target\n", rep.Copied, len(rep.Days), rep.Elapsed.Round(time.Millisecond))
	return 0
}

func moveMetadataFrom(ctx context.Context, cfg config, url string, stdout io.Writer) error {
	src, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("-source-postgres: %w", err)
	}
	defer src.Close()
	dst, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := tiermove.MoveMetadata(ctx, src, dst)
	if err != nil {
		return err
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(stdout, "  %s: %d rows (md5 %s)\n", t.Table, t.Rows, t.Checksum)
	}
	fmt.Fprintf(stdout, "metadata: %d tables and %d sequences moved in %s, checksums equal\n", len(rep.Tables), len(rep.Sequences), rep.Elapsed.Round(time.Millisecond))
	return nil
}
