package pgbackup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// spoolDir is a WAL spool the server (run as postgres when the tests run
// as root) can write and the test can read.
func spoolDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "nano-spool-") // t.TempDir's parent is root's alone
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// recovered is a harness option waiting until a restored server is open.
func recovered(ctx context.Context, c *pgx.Conn) error {
	var inRecovery bool
	if err := c.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
		return err
	}
	if inRecovery {
		return errors.New("still recovering")
	}
	return nil
}

// Base backups over the replication protocol and WAL through the spool,
// on a real PostgreSQL 15 and a real S3 server: a server restored from
// them to a point in time holds exactly the rows committed by then (those
// in the base backup and those replayed from WAL, none after the target);
// restored without a target, every row. Restores over data are refused
// without replace, and retention keeps the newest base backups with the
// WAL they need.
func TestPointInTimeRestore(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s3, bucket := harness.StartS3For(t, ctx, "nano-backups")
	spool := spoolDir(t)
	src, err := harness.StartPostgresWith(harness.PostgresOptions{Settings: map[string]string{
		"wal_level": "replica", "archive_mode": "on", "archive_command": contract.PostgresArchiveCommand(spool),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	conn, err := pgx.Connect(ctx, src.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(c *pgx.Conn, sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	digest := func(c *pgx.Conn) string {
		t.Helper()
		var n int64
		var sum string
		if err := c.QueryRow(ctx, `SELECT count(*), coalesce(md5(string_agg(id || ':' || note, ',' ORDER BY id)), '') FROM alerts_history`).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d rows, md5 %s", n, sum)
	}
	insert := func(from, to int) {
		exec(conn, `INSERT INTO alerts_history (id, note) SELECT g, repeat(md5(g::text), 8) FROM generate_series($1::int, $2::int) g`, from, to)
	}
	// archived switches to a new segment and moves the spool to the store.
	archived := func() {
		t.Helper()
		var segment string
		if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&segment); err != nil {
			t.Fatal(err)
		}
		for {
			var last string
			if err := conn.QueryRow(ctx, `SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver`).Scan(&last); err != nil {
				t.Fatalf("%v\n%s", err, src.Logs())
			}
			if last >= segment {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("WAL %s not spooled:\n%s", segment, src.Logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	now := time.Now().UTC()
	b := &Backups{URL: src.URL, Store: backups.Store{URL: bucket + "d1/" + contract.PostgresBackupPrefix, AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey},
		Spool: spool, Keep: 2, Now: func() time.Time { return now }}
	exec(conn, `CREATE TABLE alerts_history (id int PRIMARY KEY, note text NOT NULL)`)
	insert(1, 200000)

	began := time.Now()
	first, err := b.Run(ctx)
	if err != nil {
		t.Fatalf("base backup: %v\n%s", err, src.Logs())
	}
	t.Logf("base backup %s: %.1f MB of tar stored as %.1f MB in %s", first.Name, float64(first.DataBytes)/1e6, float64(first.Bytes)/1e6, time.Since(began).Round(time.Millisecond))
	if first.StartWAL == "" || first.EndLSN == "" || first.Timeline != 1 || first.ServerVersion == "" {
		t.Fatalf("manifest %+v", first)
	}

	// After the base backup: rows only WAL carries, then the target time,
	// then rows a restore to that time must not have.
	insert(200001, 250000)
	exec(conn, `UPDATE alerts_history SET note = 'acknowledged' WHERE id % 1000 = 0`)
	atTarget := digest(conn)
	time.Sleep(1100 * time.Millisecond)
	var target time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	insert(250001, 260000)
	exec(conn, `DELETE FROM alerts_history WHERE id <= 10`)
	final := digest(conn)
	if final == atTarget {
		t.Fatal("the changes after the target changed nothing")
	}
	archived()
	moved, left, err := b.Archive(ctx)
	if err != nil || moved == 0 || left != 0 {
		t.Fatalf("archive: %d moved, %d left, %v", moved, left, err)
	}
	if rest, _ := os.ReadDir(spool); len(rest) != 0 {
		t.Fatalf("the spool still holds %d files", len(rest))
	}
	t.Logf("archived %d WAL files", moved)

	restore := func(name string, target time.Time) (*harness.Postgres, Restored) {
		t.Helper()
		var r Restored
		began := time.Now()
		p, err := harness.StartPostgresWith(harness.PostgresOptions{
			Prepare: func(data string) (err error) {
				r, err = b.Restore(ctx, data, name, target, false)
				return err
			},
			Settings: map[string]string{"archive_mode": "off"},
			Ready:    recovered,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("restore of %s to %v (%d WAL files) in %s", r.Backup.Name, target, r.WALFiles, time.Since(began).Round(time.Millisecond))
		return p, r
	}
	check := func(p *harness.Postgres, want string) {
		t.Helper()
		c, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if got := digest(c); got != want {
			t.Fatalf("restored: %s; want %s\n%s", got, want, p.Logs())
		}
	}
	atTime, r := restore("latest", target)
	defer atTime.Stop()
	if r.Backup.Name != first.Name || r.WALFiles == 0 {
		t.Fatalf("restored %+v", r)
	}
	check(atTime, atTarget)
	all, _ := restore("latest", time.Time{})
	defer all.Stop()
	check(all, final)

	// Over data: refused without replace, and what is there stays.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(ctx, dir, "latest", time.Time{}, false); !errors.Is(err, ErrLive) || !strings.Contains(err.Error(), "PG_VERSION") {
		t.Fatalf("restore over a database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatal("a refused restore deleted the database")
	}
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(ctx, dir, "latest", time.Time{}, true); !errors.Is(err, ErrLive) || !strings.Contains(err.Error(), "stop PostgreSQL first") {
		t.Fatalf("restore over a running server with replace: %v", err)
	}
	if _, err := b.Restore(ctx, t.TempDir(), "latest", first.Started.Add(-time.Hour), false); err == nil || !strings.Contains(err.Error(), "no PostgreSQL backup finished before") {
		t.Fatalf("restore to before the first backup: %v", err)
	}

	// Retention: two more base backups with Keep 2 leave the newest two,
	// and only the WAL from the older one's start.
	for range 2 {
		insert(int(now.Unix()%1000)*1000000+1, int(now.Unix()%1000)*1000000+100)
		now = now.Add(time.Hour)
		if _, err := b.Run(ctx); err != nil {
			t.Fatal(err)
		}
		archived()
		if _, _, err := b.Archive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := b.List(ctx)
	if err != nil || len(kept) != 2 || kept[0].Name == first.Name {
		t.Fatalf("after retention: %+v, %v", kept, err)
	}
	segs, _ := filepath.Glob(filepath.Join(s3.Dir, "nano-backups", "d1", strings.TrimSuffix(contract.PostgresBackupPrefix, "/"), "wal", "*.gz"))
	if len(segs) == 0 {
		t.Fatal("no WAL left")
	}
	for _, s := range segs {
		name := strings.TrimSuffix(filepath.Base(s), ".gz")
		if isSegment(name) && walPosition(name) < walPosition(kept[0].StartWAL) {
			t.Fatalf("WAL %s is older than the oldest kept backup's start %s", name, kept[0].StartWAL)
		}
	}
	if dirs, _ := os.ReadDir(filepath.Join(s3.Dir, "nano-backups", "d1", strings.TrimSuffix(contract.PostgresBackupPrefix, "/"), "base")); len(dirs) != 2 {
		t.Fatalf("%d base backup directories left, want 2", len(dirs))
	}
}

// The schedule takes a base backup when due and reports it; a server
// the role cannot replicate from is a clear error.
func TestScheduleAndRefusals(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3, bucket := harness.StartS3For(t, ctx, "nano-backups")
	pg, err := harness.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	store := backups.Store{URL: bucket + "d1/" + contract.PostgresBackupPrefix, AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}
	b := &Backups{URL: pg.URL, Store: store, Keep: 1, Now: func() time.Time { return now }}
	m := NewMetrics(prometheus.NewRegistry())
	s := NewSchedule(b, 24*time.Hour, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i, at := range []time.Duration{0, time.Hour, 25 * time.Hour} {
		now = now.Add(at)
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if all, _ := b.List(ctx); len(all) != 1 || (i != 1) != all[0].Started.Equal(now) {
			t.Fatalf("tick %d at +%s: %+v", i, at, all)
		}
	}
	if testutil.ToFloat64(m.LastSuccess) != float64(now.Unix()) || testutil.ToFloat64(m.LastBytes) <= 0 {
		t.Fatalf("metrics: last success %v, bytes %v", testutil.ToFloat64(m.LastSuccess), testutil.ToFloat64(m.LastBytes))
	}
	last, _, _, every := backups.MetricNames(system)
	if last != contract.PostgresBackupLastSuccessMetric || every != contract.PostgresBackupIntervalMetric {
		t.Fatalf("metrics %s, %s; the alerts read %s, %s", last, every, contract.PostgresBackupLastSuccessMetric, contract.PostgresBackupIntervalMetric)
	}

	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE ROLE reader LOGIN`); err != nil {
		t.Fatal(err)
	}
	other := store
	other.URL = bucket + "d2/" + contract.PostgresBackupPrefix
	noRepl := &Backups{URL: strings.Replace(pg.URL, "postgres@", "reader@", 1), Store: other, Keep: 1}
	if _, err := noRepl.Run(ctx); err == nil || !strings.Contains(err.Error(), "REPLICATION") {
		t.Fatalf("a role without REPLICATION: %v", err)
	}
	if _, _, err := (&Backups{Store: store}).Archive(ctx); err == nil {
		t.Fatal("archive without a spool")
	}
}
