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

	"github.com/nanosiem/nano/components/s3policy"
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
	harness.Servers(t)
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

// rigPolicy turns nano's IAM policies (package s3policy) into the rig S3
// server's bucket policy: each statement granted to one access key, the
// actions the server does not know left out (it has no separate
// s3:DeleteObjectVersion: deleting a version is s3:DeleteObject there).
func rigPolicy(t *testing.T, grants map[string]s3policy.Document) string {
	t.Helper()
	known := map[string]bool{}
	for _, a := range []string{"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
		"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:PutBucketPolicy",
		"s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration", "s3:PutObjectRetention", "s3:PutObjectLegalHold",
		"s3:BypassGovernanceRetention", "s3:PutBucketAcl", "s3:PutObjectAcl"} {
		known[a] = true
	}
	type stmt struct {
		Effect    string
		Principal map[string][]string
		Action    []string
		Resource  []string
	}
	var out []stmt
	for access, doc := range grants {
		for _, s := range doc.Statement {
			var acts []string
			for _, a := range s.Action {
				if known[a] {
					acts = append(acts, a)
				}
			}
			if len(acts) > 0 {
				out = append(out, stmt{s.Effect, map[string][]string{"AWS": {access}}, acts, s.Resource})
			}
		}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": out})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Backups written with the backup writer's credentials (nano's policy,
// s3policy.BackupWriter, enforced by a real S3 server's bucket policy):
// ClickHouse 26.7's BACKUP and the manifest are written, retention's
// deletes are refused and left to the bucket (the run still succeeds, the
// backups stay), and the writer can neither delete nor overwrite away a
// backup. The negative control: the warm tier's broad credentials
// (s3policy.Warm, what backups were written with before) delete it.
func TestBackupWriterCannotDeleteBackups(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s3, bucket := harness.StartS3For(t, ctx, "nano-backups")
	arn := "arn:aws:s3:::nano-backups"
	writer, err := s3policy.BackupWriter(arn)
	if err != nil {
		t.Fatal(err)
	}
	broad, err := s3policy.Warm(arn)
	if err != nil {
		t.Fatal(err)
	}
	const writerKey, writerSecret, broadKey, broadSecret = "nano-backup-writer", "writer-secret-0123456789", "nano-warm-user", "warm-secret-0123456789"
	for _, u := range [][2]string{{writerKey, writerSecret}, {broadKey, broadSecret}} {
		if err := s3.AddUser(ctx, u[0], u[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s3.SetBucketPolicy(ctx, "nano-backups", rigPolicy(t, map[string]s3policy.Document{writerKey: writer, broadKey: broad})); err != nil {
		t.Fatal(err)
	}
	// A versioned bucket, as nano's S3 backup bucket is.
	root, err := s3.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := root.EnableVersioning(ctx, "nano-backups"); err != nil {
		t.Fatal(err)
	}

	db, err := chdb.Open(filepath.Join(t.TempDir(), "source"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, sql := range []string{"CREATE DATABASE nano", "CREATE TABLE nano.t (n UInt64) ENGINE = MergeTree ORDER BY n", "INSERT INTO nano.t SELECT number FROM numbers(1000)"} {
		if _, err := db.Query(sql, "TSV"); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
	}
	store := backups.Store{URL: bucket + "acme/clickhouse/", AccessKeyID: writerKey, SecretAccessKey: writerSecret}
	b := &Backups{Conn: engineConn{db}, Store: store, Database: "nano", FullEvery: 0, Keep: 1, Poll: 50 * time.Millisecond, Now: clock()}
	var names []string
	for range 3 {
		bk, err := b.Run(ctx)
		if err != nil {
			t.Fatalf("a backup with the writer's credentials: %v\n%s", err, s3.Log())
		}
		names = append(names, bk.Name)
	}
	list, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Errorf("%d backups listed after 3 runs keeping 1: retention must leave the writer's refused deletes to the bucket", len(list))
	}

	wc, err := s3.ClientAs(writerKey, writerSecret)
	if err != nil {
		t.Fatal(err)
	}
	manifest := "acme/clickhouse/" + names[0] + "/" + manifestFile
	if err := wc.RemoveObject(ctx, "nano-backups", manifest, minio.RemoveObjectOptions{}); !backups.DeleteDenied(err) {
		t.Errorf("the writer deleting a backup's manifest: %v, want AccessDenied", err)
	}
	if err := store.RemoveAll(ctx, wc, "acme/clickhouse/"+names[0]+"/"); !backups.DeleteDenied(err) {
		t.Errorf("the writer deleting a backup: %v, want AccessDenied", err)
	}
	// Overwriting is no way around it: the writer's PutObject adds a
	// version, the backup's stays, and deleting that version is refused.
	orig, err := wc.StatObject(ctx, "nano-backups", manifest, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("the backup is gone after the writer's attempts: %v", err)
	}
	if _, err := wc.PutObject(ctx, "nano-backups", manifest, strings.NewReader("{}"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("the writer's overwrite: %v", err)
	}
	if err := wc.RemoveObject(ctx, "nano-backups", manifest, minio.RemoveObjectOptions{VersionID: orig.VersionID}); !backups.DeleteDenied(err) {
		t.Errorf("the writer deleting the backup's version %q: %v, want AccessDenied", orig.VersionID, err)
	}
	if o, err := wc.GetObject(ctx, "nano-backups", manifest, minio.GetObjectOptions{VersionID: orig.VersionID}); err != nil {
		t.Errorf("the overwritten manifest's version: %v", err)
	} else if st, err := o.Stat(); err != nil || st.Size != orig.Size || orig.VersionID == "" {
		t.Errorf("the overwritten manifest's version %q: %v size %d, want %d", orig.VersionID, err, st.Size, orig.Size)
	}

	// The negative control: the warm tier's credentials, which wrote the
	// backups before, delete it.
	bc, err := s3.ClientAs(broadKey, broadSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := bc.RemoveObject(ctx, "nano-backups", manifest, minio.RemoveObjectOptions{VersionID: orig.VersionID}); err != nil {
		t.Fatalf("the broad credentials could not delete the backup's version: %v", err)
	}
	if _, err := wc.StatObject(ctx, "nano-backups", manifest, minio.StatObjectOptions{VersionID: orig.VersionID}); err == nil {
		t.Error("the backup's version is still there after the broad credentials deleted it")
	}
}
