package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// The PostgreSQL backup keys: off without NANO_POSTGRES_BACKUP_URL; with
// it, the spool and the bucket's keys are required, each named.
func TestPostgresBackupConfig(t *testing.T) {
	base := map[string]string{contract.PostgresURL: "postgres://x", contract.ClickHouseAddr: "127.0.0.1:9000"}
	load := func(extra map[string]string) (config, error) {
		return loadConfig(func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		})
	}
	if c, err := load(map[string]string{contract.PostgresBackupInterval: "nonsense"}); err != nil || c.PostgresBackup != nil {
		t.Fatalf("without %s: %+v, %v", contract.PostgresBackupURL, c.PostgresBackup, err)
	}
	ok := map[string]string{contract.PostgresBackupURL: "https://s3.example.com/b/acme/postgres-backups/", contract.PostgresWALSpool: "/spool",
		contract.BackupAccessKeyID: "k", contract.BackupSecretAccessKey: "s"}
	c, err := load(ok)
	if err != nil || c.PostgresBackup == nil || c.PostgresBackup.Interval != 24*time.Hour || c.PostgresBackup.Keep != 7 || c.Backup != nil {
		t.Fatalf("defaults: %+v, %v", c.PostgresBackup, err)
	}
	without := func(k string, extra ...string) map[string]string {
		m := map[string]string{}
		for key, v := range ok {
			if key != k {
				m[key] = v
			}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{without(contract.PostgresWALSpool), contract.PostgresWALSpool + ": required"},
		{without(contract.BackupAccessKeyID), contract.BackupAccessKeyID + ": required with " + contract.PostgresBackupURL},
		{without("", contract.PostgresBackupURL, "https://s3.example.com/b"), contract.PostgresBackupURL + ": "},
		{without("", contract.PostgresBackupInterval, "5m"), contract.PostgresBackupInterval + ": "},
		{without("", contract.PostgresBackupKeep, "0"), contract.PostgresBackupKeep + ": "},
	} {
		if _, err := load(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

// A running api with PostgreSQL backups configured takes a base backup on
// its leader (over the replication protocol, from the harness's
// PostgreSQL) and reports it; "api postgres-backups" lists it; "api
// restore-postgres" refuses a directory holding a database (exit 3) and
// usage errors (exit 2). The restore itself runs in services/pgbackup.
func TestPostgresBackupTaskAndCommands(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgURL, err := pg.CreateDatabase(ctx, "api_pg_backup")
	if err != nil {
		t.Fatal(err)
	}
	s3, bucket := harness.StartS3For(t, ctx, "backups")
	spool := t.TempDir()
	env := map[string]string{contract.PostgresURL: pgURL, contract.ClickHouseAddr: ch.Addr,
		contract.PostgresBackupURL: bucket + "d1/" + contract.PostgresBackupPrefix, contract.PostgresWALSpool: spool,
		contract.BackupAccessKeyID: s3.AccessKey, contract.BackupSecretAccessKey: s3.SecretKey}
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var extra []string
	for k, v := range env {
		if k != contract.PostgresURL && k != contract.ClickHouseAddr {
			extra = append(extra, k+"="+v)
		}
	}
	r := startReplica(t, bin, "p1", pgURL, extra...)
	metrics := func() string {
		resp, err := http.Get(r.base + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(metrics(), contract.PostgresBackupIntervalMetric+" 86400") || strings.Contains(metrics(), contract.PostgresBackupLastSuccessMetric+" 0\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no PostgreSQL base backup within 90 s; metrics:\n%s", metrics())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m := metrics(); !strings.Contains(m, spooledMetric+" 0") || strings.Contains(m, `nano_api_task_failures_total{task="`+contract.PostgresWALArchiveTask) {
		t.Fatalf("the WAL archive task:\n%s", m)
	}

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := postgresBackupCommand(args[0], args[1:], func(k string) string { return env[k] }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("postgres-backups")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "000000010000") {
		t.Fatalf("api postgres-backups: %d %q %q", code, out, errOut)
	}
	live := t.TempDir()
	if err := os.WriteFile(filepath.Join(live, "PG_VERSION"), []byte("17\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("restore-postgres", "-into", live); code != 3 || !strings.Contains(errOut, "replace") {
		t.Fatalf("api restore-postgres over a database: %d %q", code, errOut)
	}
	for _, args := range [][]string{{"restore-postgres"}, {"restore-postgres", "-into", live, "-to", "yesterday"}, {"postgres-backups", "-replace"}} {
		if code, _, errOut := run(args...); code != 2 || !strings.Contains(errOut, "usage") && !strings.Contains(errOut, "RFC 3339") {
			t.Errorf("api %v: %d %q", args, code, errOut)
		}
	}
	delete(env, contract.PostgresBackupURL)
	if code, _, errOut := run("postgres-backups"); code != 2 || !strings.Contains(errOut, contract.PostgresBackupURL+": unset") {
		t.Fatalf("without %s: %d %q", contract.PostgresBackupURL, code, errOut)
	}
}
