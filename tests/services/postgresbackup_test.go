package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nanosiem/nano/tests/harness"
)

// PostgreSQL's backups as the clusters take them, on real parts: Barman
// Cloud (Debian's barman-cli-cloud, the tool CloudNativePG's in-tree
// backups run) archives WAL and takes a base backup of a real PostgreSQL 15
// into a real S3 server, under the layout the Kubernetes tiers give
// CloudNativePG (s3://<bucket>/<deployment>/postgres/, server nano-pg).
// A fresh server restored from them to a point in time holds exactly the
// rows committed by then: those before the base backup and those after it
// (replayed from WAL), none committed after the target.
func TestPostgresPointInTimeRestoreFromS3(t *testing.T) {
	harness.Servers(t)
	for _, tool := range []string{"barman-cloud-backup", "barman-cloud-wal-archive", "barman-cloud-restore", "barman-cloud-wal-restore", "barman-cloud-backup-list"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (tests/setup installs barman-cli-cloud)", tool, err)
		}
	}
	// The budget bounds a hang, not the speed: on a first run both cores are
	// busy compiling, and the base backup alone (gzip) took 40 s there.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s3, _ := harness.StartS3For(t, ctx, "nano-warm")
	const dest, server = "s3://nano-warm/d1/postgres/", "nano-pg"
	endpoint := "--endpoint-url=" + s3.Endpoint
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey, "AWS_DEFAULT_REGION=us-east-1"}
	var src *harness.Postgres
	barman := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), awsEnv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			logs := ""
			if src != nil {
				logs = src.Logs()
			}
			t.Fatalf("%s: %v\n%s\nS3 server:\n%s\nPostgreSQL:\n%s", strings.Join(args, " "), err, out, s3.Log(), logs)
		}
		return string(out)
	}

	src, err := harness.StartPostgresWith(harness.PostgresOptions{
		Settings: map[string]string{
			"wal_level": "replica", "archive_mode": "on",
			"archive_command": fmt.Sprintf("barman-cloud-wal-archive %s --gzip %s %s %%p", endpoint, dest, server),
		},
		Env: awsEnv,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	conn, err := pgx.Connect(ctx, src.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec1 := func(c *pgx.Conn, sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// digest is the table's row count and a checksum of every row in order.
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
		exec1(conn, `INSERT INTO alerts_history (id, note) SELECT g, repeat(md5(g::text), 8) FROM generate_series($1::int, $2::int) g`, from, to)
	}
	exec1(conn, `CREATE TABLE alerts_history (id int PRIMARY KEY, note text NOT NULL)`)
	insert(1, 200000)

	began := time.Now()
	barman("barman-cloud-backup", endpoint, "--gzip", "--immediate-checkpoint", "-h", "127.0.0.1", "-p", fmt.Sprint(src.Port), "-U", "postgres", dest, server)
	took := time.Since(began)
	var dbBytes int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size('postgres')`).Scan(&dbBytes); err != nil {
		t.Fatal(err)
	}
	t.Logf("base backup of %.1f MB in %s (%.1f MB/s)", float64(dbBytes)/1e6, took.Round(time.Millisecond), float64(dbBytes)/1e6/took.Seconds())

	// After the base backup: rows only WAL carries, then the target time,
	// then rows a restore to that time must not have.
	insert(200001, 250000)
	exec1(conn, `UPDATE alerts_history SET note = 'acknowledged' WHERE id % 1000 = 0`)
	atTarget := digest(conn)
	time.Sleep(1100 * time.Millisecond)
	var target time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	insert(250001, 260000)
	exec1(conn, `DELETE FROM alerts_history WHERE id <= 10`)
	if digest(conn) == atTarget {
		t.Fatal("the changes after the target changed nothing")
	}
	// Archive the segment holding them, and wait for the archiver.
	var segment string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&segment); err != nil {
		t.Fatal(err)
	}
	for {
		var last, failed string
		if err := conn.QueryRow(ctx, `SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver`).Scan(&last, &failed); err != nil {
			t.Fatal(err)
		}
		if last >= segment {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("WAL %s not archived (last %q, failed %q):\n%s", segment, last, failed, src.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}

	var list struct {
		Backups []struct {
			ID string `json:"backup_id"`
		} `json:"backups_list"`
	}
	if err := json.Unmarshal([]byte(barman("barman-cloud-backup-list", endpoint, "--format", "json", dest, server)), &list); err != nil || len(list.Backups) != 1 {
		t.Fatalf("backup list: %+v, %v", list, err)
	}

	// A fresh server from the base backup, replaying WAL to the target.
	began = time.Now()
	restored, err := harness.StartPostgresWith(harness.PostgresOptions{
		Prepare: func(data string) error {
			barman("barman-cloud-restore", endpoint, dest, server, list.Backups[0].ID, data)
			return os.WriteFile(data+"/recovery.signal", nil, 0o600)
		},
		Settings: map[string]string{
			"restore_command":        fmt.Sprintf("barman-cloud-wal-restore %s %s %s %%f %%p", endpoint, dest, server),
			"recovery_target_time":   target.UTC().Format("2006-01-02 15:04:05.999999+00"),
			"recovery_target_action": "promote",
			"archive_mode":           "off",
		},
		Env: awsEnv,
		Ready: func(ctx context.Context, c *pgx.Conn) error {
			var inRecovery bool
			if err := c.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
				return err
			}
			if inRecovery {
				return errors.New("still recovering")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Stop()
	t.Logf("restore to %s (base backup + WAL) in %s", target.UTC().Format(time.RFC3339Nano), time.Since(began).Round(time.Millisecond))
	rconn, err := pgx.Connect(ctx, restored.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rconn.Close(ctx)
	if got := digest(rconn); got != atTarget {
		t.Fatalf("restored: %s; at the target the source had %s (now %s)\nrestored server:\n%s", got, atTarget, digest(conn), restored.Logs())
	}
}
