package chbackup

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nanosiem/nano/services/backups"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// The scheduled task on the modern engine and a real S3 server: a backup
// when none exists, none again within the interval (also for a new
// leader, which reads the bucket), an increment when due, the metrics
// following; a failing store retried after the backoff, not every tick.
func TestScheduleBacksUpWhenDue(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s3, bucket := harness.StartS3For(t, ctx, "backups")
	db, err := chdb.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, sql := range []string{
		"CREATE DATABASE nano",
		"CREATE TABLE nano.t (n UInt64) ENGINE = MergeTree ORDER BY n",
		"INSERT INTO nano.t SELECT number FROM numbers(1000)",
	} {
		if _, err := db.Query(sql, "TSV"); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	store := backups.Store{URL: bucket + "d1/clickhouse/", AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}
	newBackups := func(store backups.Store) *Backups {
		return &Backups{Conn: engineConn{db}, Store: store, Database: "nano", FullEvery: 3, Keep: 2, Poll: 20 * time.Millisecond,
			Now: func() time.Time { return now }}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newSchedule := func(store backups.Store) (*backups.Schedule, *backups.Metrics) {
		m := NewMetrics(prometheus.NewRegistry())
		return NewSchedule(newBackups(store), 6*time.Hour, m, log), m
	}
	count := func() int {
		all, err := newBackups(store).List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	tick := func(s *backups.Schedule, at time.Time, wantBackups int) {
		t.Helper()
		now = at
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != wantBackups {
			t.Fatalf("at %s: %d backups, want %d", at.Format(time.TimeOnly), n, wantBackups)
		}
	}
	t0 := now
	s, m := newSchedule(store)
	tick(s, t0, 1)
	if got := testutil.ToFloat64(m.LastSuccess); got != float64(t0.Unix()) {
		t.Fatalf("last success %v, want %d", got, t0.Unix())
	}
	if testutil.ToFloat64(m.LastBytes) <= 0 || testutil.ToFloat64(m.Interval) != 6*3600 {
		t.Fatalf("size %v, interval %v", testutil.ToFloat64(m.LastBytes), testutil.ToFloat64(m.Interval))
	}
	tick(s, t0.Add(time.Hour), 1)
	// Another leader (or a restart) reads the bucket: not due yet.
	s2, m2 := newSchedule(store)
	tick(s2, t0.Add(2*time.Hour), 1)
	if got := testutil.ToFloat64(m2.LastSuccess); got != float64(t0.Unix()) {
		t.Fatalf("a new schedule's last success %v, want the bucket's %d", got, t0.Unix())
	}
	tick(s2, t0.Add(6*time.Hour), 2)
	all, _ := newBackups(store).List(ctx)
	if all[1].Base != all[0].Name {
		t.Fatalf("the second scheduled backup is not an increment on the first: %+v", all[1])
	}

	// A store that refuses the keys: the error names the backoff, the next
	// ticks within it do nothing, the one after tries again.
	bad := store
	bad.SecretAccessKey = "wrong"
	sb, mb := newSchedule(bad)
	now = t0.Add(7 * time.Hour)
	if err := sb.Tick(ctx); err == nil || !strings.Contains(err.Error(), "next try in 10m0s") {
		t.Fatalf("tick against a refusing store: %v", err)
	}
	now = now.Add(time.Minute)
	if err := sb.Tick(ctx); err != nil {
		t.Fatalf("a tick within the backoff: %v", err)
	}
	now = now.Add(10 * time.Minute)
	if err := sb.Tick(ctx); err == nil {
		t.Fatal("the tick after the backoff did not try again")
	}
	if testutil.ToFloat64(mb.LastSuccess) != 0 {
		t.Fatal("a failing schedule reports a success")
	}
}

// An old server (the harness's ClickHouse 18.16, over the native protocol
// the api uses) is refused with the version it needs, before anything is
// written or dropped.
func TestOldServerRefused(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := harness.StartClickHouse()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s3, bucket := harness.StartS3For(t, ctx, "backups")
	b := &Backups{Conn: Native{conn}, Store: backups.Store{URL: bucket, AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}, Database: "default", Keep: 1}
	if _, err := b.Run(ctx); err == nil || !strings.Contains(err.Error(), "23.8 or later is needed") {
		t.Fatalf("backup on 18.16: %v", err)
	}
	if entries, _ := filepath.Glob(filepath.Join(s3.Dir, "backups", "*")); len(entries) != 0 {
		t.Fatalf("a refused backup wrote %v", entries)
	}
	if _, err := conn.Query(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

// The schedule's metrics are those the alerts read.
func TestMetricNamesAreTheAlerts(t *testing.T) {
	last, _, _, every := backups.MetricNames(system)
	if last != contract.BackupLastSuccessMetric || every != contract.BackupIntervalMetric {
		t.Fatalf("metrics %s, %s; the alerts read %s, %s", last, every, contract.BackupLastSuccessMetric, contract.BackupIntervalMetric)
	}
}
