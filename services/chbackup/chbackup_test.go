package chbackup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// engineConn is a Conn over the in-process engine.
type engineConn struct{ db *chdb.Engine }

func (c engineConn) Query(_ context.Context, sql string) ([][]string, error) {
	out, err := c.db.Query(sql, "JSONCompactStringsEachRow")
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var row []string
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// clock moves a minute per reading, so backups get distinct names.
func clock() func() time.Time {
	t := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Minute); return t }
}

// Events backed up from the modern engine (ClickHouse 26.7 in-process) to a
// real S3 server, restored into an empty engine: per-day counts and
// checksums equal; increments on their base; a live database refused;
// retention deleting whole chains and unfinished leftovers.
func TestBackupAndRestoreThroughS3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s3, bucket := harness.StartS3For(t, ctx, "nano-backups")
	store := backups.Store{URL: bucket + "acme/clickhouse/", AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}
	if err := store.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := chdb.Open(filepath.Join(dir, "source"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(db *chdb.Engine, sql string) string {
		t.Helper()
		out, err := db.Query(sql, "TSV")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return strings.TrimSpace(out)
	}
	v, _ := events.ParseVersion(run(db, "SELECT version()"))
	e := events.Engine{Version: v, Database: "nano", RetentionDays: 90}
	run(db, "CREATE DATABASE nano")
	for _, m := range events.Migrations {
		for _, sql := range m.Statements(e) {
			run(db, sql)
		}
	}
	// day d's rows, through the production column list.
	insert := func(db *chdb.Engine, daysAgo, n int) {
		run(db, fmt.Sprintf(`INSERT INTO nano.events (%s) SELECT
			toDateTime(today() - %d) + number %% 86400, number %% 1000000000, 'acme', 'http', 'info', 'api',
			concat('web-', toString(number %% 7)), concat('request ', toString(number), ' from ', toString(cityHash64(number))),
			['http.status'], [toString(200 + number %% 5)], '{}' FROM numbers(%d)`, strings.Join(events.Columns, ", "), daysAgo, n))
	}
	// per-day counts and an order-independent checksum of every column.
	digest := func(db *chdb.Engine) string {
		return run(db, "SELECT toDate(ts) AS d, count(), groupBitXor(cityHash64("+strings.Join(events.Columns, ", ")+")) FROM nano.events GROUP BY d ORDER BY d")
	}
	insert(db, 3, 200000)
	insert(db, 2, 200000)
	b := &Backups{Conn: engineConn{db}, Store: store, Database: "nano", FullEvery: 2, Keep: 2, Poll: 50 * time.Millisecond, Now: clock()}

	began := time.Now()
	full, err := b.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("full backup: %d rows, %d bytes, %d files in %s (%.0f rows/s, %.1f MB/s)", 400000, full.Bytes, full.Files, took.Round(time.Millisecond),
		400000/took.Seconds(), float64(full.Bytes)/1e6/took.Seconds())
	if !full.Full() || full.Bytes == 0 {
		t.Fatalf("first backup %+v: want a full one with bytes", full)
	}
	atFull := digest(db)
	insert(db, 1, 50000)
	incr, err := b.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if incr.Base != full.Name {
		t.Fatalf("second backup's base %q, want %q", incr.Base, full.Name)
	}
	t.Logf("incremental backup on %s: %d bytes stored for %d bytes of data (full: %d bytes)", incr.Base, incr.Bytes, incr.DataBytes, full.Bytes)
	if incr.Bytes >= full.Bytes || incr.DataBytes <= full.DataBytes {
		t.Errorf("the increment stored %d bytes for %d of data; the full backup %d for %d", incr.Bytes, incr.DataBytes, full.Bytes, full.DataBytes)
	}
	// What a backup says it stored is what the bucket holds (beside the
	// manifest).
	for _, bk := range []Backup{full, incr} {
		if n := dirSize(t, filepath.Join(s3.Dir, "nano-backups", "acme", "clickhouse", bk.Name)); n < bk.Bytes || n > bk.Bytes+4096 {
			t.Errorf("backup %s: %d bytes in the bucket, %d reported", bk.Name, n, bk.Bytes)
		}
	}
	atIncr := digest(db)
	if atIncr == atFull {
		t.Fatal("the insert between the backups changed nothing")
	}

	// The source is live: a restore over it is refused and changes nothing.
	if _, err := b.Restore(ctx, "latest", false); !errors.Is(err, ErrLive) {
		t.Fatalf("restore over a live database: %v, want ErrLive", err)
	}
	if got := digest(db); got != atIncr {
		t.Fatal("a refused restore changed the database")
	}
	db.Close()

	// An empty engine: the latest backup (an increment on the full one)
	// restores every row of both.
	target, err := chdb.Open(filepath.Join(dir, "target"))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	b.Conn = engineConn{target}
	began = time.Now()
	restored, err := b.Restore(ctx, "latest", false)
	if err != nil {
		t.Fatal(err)
	}
	took = time.Since(began)
	t.Logf("restore of %s: %d event rows in %s (%.0f rows/s)", restored.Backup.Name, restored.Rows["events"], took.Round(time.Millisecond), 450000/took.Seconds())
	if restored.Backup.Name != incr.Name || restored.Rows["events"] != 450000 {
		t.Fatalf("restored %s with %d events, want %s with 450000", restored.Backup.Name, restored.Rows["events"], incr.Name)
	}
	if got := digest(target); got != atIncr {
		t.Fatalf("restored days differ:\n%s\nbacked up:\n%s", got, atIncr)
	}
	// The full one, over the restored data: only with replace.
	if _, err := b.Restore(ctx, full.Name, false); !errors.Is(err, ErrLive) {
		t.Fatalf("restore over restored data: %v, want ErrLive", err)
	}
	if _, err := b.Restore(ctx, full.Name, true); err != nil {
		t.Fatal(err)
	}
	if got := digest(target); got != atFull {
		t.Fatalf("the full backup restored as:\n%s\nwant:\n%s", got, atFull)
	}
	if _, err := b.Restore(ctx, "20000101T000000Z", true); err == nil || !strings.Contains(err.Error(), "no finished backup") {
		t.Fatalf("restore of a missing backup: %v", err)
	}

	// Retention: two incrementals per full backup, two chains kept. A
	// leftover of an unfinished backup (no manifest) goes too.
	c, err := s3.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "nano-backups", "acme/clickhouse/20261203T040030Z/data/part", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 0; i < 5; i++ {
		insert(target, 0, 1000)
		bk, err := b.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, bk.Name)
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Chains: [full incr names0] deleted; [names1 names2 names3] [names4].
	var got []string
	for _, bk := range list {
		got = append(got, bk.Name+map[bool]string{true: "(full)", false: ""}[bk.Full()])
	}
	want := []string{names[1] + "(full)", names[2], names[3], names[4] + "(full)"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("backups kept: %v, want %v", got, want)
	}
	entries, err := os.ReadDir(filepath.Join(s3.Dir, "nano-backups", "acme", "clickhouse"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, en := range entries {
		if sub, _ := os.ReadDir(filepath.Join(s3.Dir, "nano-backups", "acme", "clickhouse", en.Name())); len(sub) > 0 {
			dirs = append(dirs, en.Name())
		}
	}
	if strings.Join(dirs, " ") != strings.Join([]string{names[1], names[2], names[3], names[4]}, " ") {
		t.Fatalf("objects left in the bucket: %v", dirs)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
