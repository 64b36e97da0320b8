package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// Every bad backup key is named; without NANO_BACKUP_URL backups are off
// and the other keys are not read.
func TestBackupConfig(t *testing.T) {
	base := map[string]string{contract.PostgresURL: "postgres://x", contract.ClickHouseAddr: "127.0.0.1:9000"}
	load := func(extra map[string]string) (config, error) {
		return loadConfig(func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		})
	}
	if c, err := load(map[string]string{contract.BackupInterval: "nonsense"}); err != nil || c.Backup != nil {
		t.Fatalf("without %s: %+v, %v", contract.BackupURL, c.Backup, err)
	}
	c, err := load(map[string]string{contract.BackupURL: "https://s3.example.com/b/acme/", contract.BackupAccessKeyID: "k", contract.BackupSecretAccessKey: "s"})
	if err != nil || c.Backup == nil || c.Backup.Interval != 6*time.Hour || c.Backup.FullEvery != 27 || c.Backup.Keep != 4 {
		t.Fatalf("defaults: %+v, %v", c.Backup, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{contract.BackupURL: "https://s3.example.com/b/acme/", contract.BackupSecretAccessKey: "s"}, contract.BackupAccessKeyID + ": required"},
		{map[string]string{contract.BackupURL: "https://s3.example.com/b/acme/", contract.BackupAccessKeyID: "k"}, contract.BackupSecretAccessKey + ": required"},
		{map[string]string{contract.BackupURL: "https://s3.example.com/b/acme", contract.BackupAccessKeyID: "k", contract.BackupSecretAccessKey: "s"}, contract.BackupURL + ": "},
		{map[string]string{contract.BackupURL: "s3://b/acme/", contract.BackupAccessKeyID: "k", contract.BackupSecretAccessKey: "s"}, contract.BackupURL + ": "},
		{map[string]string{contract.BackupURL: "https://s3.example.com/b/", contract.BackupAccessKeyID: "k", contract.BackupSecretAccessKey: "s", contract.BackupInterval: "1m"}, contract.BackupInterval + ": "},
		{map[string]string{contract.BackupURL: "https://s3.example.com/b/", contract.BackupAccessKeyID: "k", contract.BackupSecretAccessKey: "s", contract.BackupKeep: "0"}, contract.BackupKeep + ": "},
	} {
		if _, err := load(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

// "api backups" and "api restore" against the harness's ClickHouse (18.16,
// which has no BACKUP) and a real S3 server: the list is read from the
// bucket; a restore names what is missing; an old server is refused
// before anything is dropped; usage and configuration errors exit 2. The
// restore itself runs on the modern engine in services/chbackup.
func TestBackupCommand(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s3, bucket := harness.StartS3For(t, ctx, "backups")
	env := map[string]string{contract.PostgresURL: "postgres://unused", contract.ClickHouseAddr: ch.Addr, contract.ClickHouseDatabase: "default",
		contract.BackupURL: bucket + "d1/clickhouse/", contract.BackupAccessKeyID: s3.AccessKey, contract.BackupSecretAccessKey: s3.SecretKey}
	run := func(env map[string]string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := backupCommand(args[0], args[1:], func(k string) string { return env[k] }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := run(env, "backups"); code != 0 || !strings.HasPrefix(out, "NAME") || strings.Count(out, "\n") != 1 {
		t.Fatalf("api backups on an empty bucket: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(env, "restore", "-backup", "latest"); code != 1 || !strings.Contains(errOut, `no finished backup "latest"`) {
		t.Fatalf("api restore with no backups: %d %q", code, errOut)
	}
	for _, args := range [][]string{{"restore"}, {"restore", "-backup", "x", "extra"}, {"backups", "-replace"}} {
		if code, _, errOut := run(env, args...); code != 2 || !strings.Contains(errOut, "usage") {
			t.Errorf("api %v: %d %q", args, code, errOut)
		}
	}
	off := map[string]string{contract.PostgresURL: "postgres://unused", contract.ClickHouseAddr: ch.Addr}
	if code, _, errOut := run(off, "backups"); code != 2 || !strings.Contains(errOut, contract.BackupURL+": unset") {
		t.Fatalf("api backups without %s: %d %q", contract.BackupURL, code, errOut)
	}
}

// A running api with backups configured runs the backup task on its
// leader: on ClickHouse 18.16 each attempt fails with the version it
// needs, counted where NanoClickHouseBackupFailing reads it, recorded in
// task_runs with its backoff.
func TestBackupTaskInTheScheduler(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgURL, err := pg.CreateDatabase(ctx, "api_backup_task")
	if err != nil {
		t.Fatal(err)
	}
	s3, bucket := harness.StartS3For(t, ctx, "backups")
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r := startReplica(t, bin, "b1", pgURL, contract.BackupURL+"="+bucket+"d1/clickhouse/",
		contract.BackupAccessKeyID+"="+s3.AccessKey, contract.BackupSecretAccessKey+"="+s3.SecretKey)
	metrics := func() string {
		resp, err := http.Get(r.base + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	failed := `nano_api_task_failures_total{task="` + contract.BackupTask + `"} 1`
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(metrics(), failed) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed backup run within 90 s; metrics:\n%s", metrics())
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := metrics()
	for _, want := range []string{contract.BackupIntervalMetric + " 21600", contract.BackupLastSuccessMetric + " 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var msg string
	if err := db.QueryRow(ctx, `SELECT error FROM task_runs WHERE task = $1 ORDER BY id DESC LIMIT 1`, contract.BackupTask).Scan(&msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "23.8 or later is needed") || !strings.Contains(msg, "next try in 10m0s") {
		t.Fatalf("the recorded run's error: %q", msg)
	}
}
