package events

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/depwait"
)

// Migration is one versioned schema change. Statements are idempotent (IF
// NOT EXISTS), so replicas starting together may both run them, and on a
// cluster every start runs them all again (see Migrate).
type Migration struct {
	Version    uint32
	Name       string
	Statements func(Engine) []string
}

// Migrations are every schema change, in order. Never edit one that has
// shipped: add the next.
var Migrations = []Migration{
	{Version: 1, Name: "events table", Statements: func(e Engine) []string {
		s := []string{e.eventsDDL()}
		if e.Replicated() {
			s = append(s, e.distributedDDL())
		}
		return s
	}},
	{Version: 2, Name: "insert table placing rows by content", Statements: func(e Engine) []string {
		if !e.Replicated() {
			return nil
		}
		return []string{e.insertDDL()}
	}},
}

// PendingError says that ON CLUSTER statements did not finish on every host
// within the engine's DDLTimeout. They are in the cluster's DDL queue (in
// ZooKeeper), which each host works through in order when it is back; the
// schema is complete on the hosts that answered. Callers log it and go on.
type PendingError struct {
	// Statements are the first lines of the statements still pending, and
	// Cause the last server error about them.
	Statements []string
	Cause      error
}

func (p *PendingError) Error() string {
	return fmt.Sprintf("%d schema statements are still queued for cluster hosts that did not answer (%s; last: %v)",
		len(p.Statements), strings.Join(p.Statements, "; "), p.Cause)
}

func (p *PendingError) Unwrap() error { return p.Cause }

// ExecDDL runs a schema statement with the engine's DDL settings
// (DDLContext). An ON CLUSTER statement that some host did not run within
// DDLTimeout returns a *PendingError: it is queued for that host.
// args are bound by the client (clickhouse-go), so every host gets the
// same text.
func (e Engine) ExecDDL(ctx context.Context, conn driver.Conn, sql string, args ...any) error {
	err := conn.Exec(e.DDLContext(ctx), sql, args...)
	var ex *clickhouse.Exception
	if e.Replicated() && errors.As(err, &ex) && ex.Code == codeTimeoutExceeded {
		return &PendingError{Statements: []string{firstLine(sql)}, Cause: err}
	}
	return err
}

// IgnoreQueued is err, or nil when err is a *PendingError: statements that
// are only queued for hosts that did not answer, for callers that go on
// either way.
func IgnoreQueued(err error) error {
	if p := (*PendingError)(nil); errors.As(err, &p) {
		return nil
	}
	return err
}

// codeTimeoutExceeded is ClickHouse's TIMEOUT_EXCEEDED, the error of an ON
// CLUSTER statement that some host has not run in time.
const codeTimeoutExceeded = 159

// Migrate creates the database and applies the migrations the server has
// not recorded, then brings the table's TTL to the engine's retention.
//
// On a cluster the statements run ON CLUSTER, and all of them run at every
// start whatever the connected server recorded (they are idempotent): a
// replica that missed them, down for longer than the DDL queue keeps tasks
// or replaced empty, gets them at the next start of any service. Hosts that
// do not answer within DDLTimeout do not fail the migration: it goes on and
// returns a *PendingError at the end.
func Migrate(ctx context.Context, conn driver.Conn, e Engine) error {
	if err := e.Validate(); err != nil {
		return err
	}
	ddl := e.DDLContext(ctx)
	pending := &PendingError{}
	exec := func(sql string) error {
		err := e.ExecDDL(ddl, conn, sql)
		if p := (*PendingError)(nil); errors.As(err, &p) {
			pending.Statements = append(pending.Statements, p.Statements...)
			pending.Cause = p.Cause
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot apply schema (%s): %w", firstLine(sql), err)
		}
		return nil
	}
	if err := exec(fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s%s", e.Database, e.OnCluster())); err != nil {
		return err
	}
	// The migrations table is per server (each replica records what it ran).
	if err := exec(fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.schema_migrations (version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree() ORDER BY version", e.Database)); err != nil {
		return err
	}
	applied, err := Applied(ctx, conn, e.Database)
	if err != nil {
		return err
	}
	for _, m := range Migrations {
		if applied[m.Version] && !e.Replicated() {
			continue
		}
		for _, sql := range m.Statements(e) {
			if err := exec(sql); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
			}
		}
		if applied[m.Version] {
			continue
		}
		if err := record(ctx, conn, e.Database, m); err != nil {
			return fmt.Errorf("cannot record migration %d: %w", m.Version, err)
		}
	}
	if err := reconcileTTL(ddl, conn, e, exec); err != nil {
		return err
	}
	if len(pending.Statements) > 0 {
		return pending
	}
	return nil
}

// record notes m as applied (a one-row batch: old servers take INSERT
// data only in native blocks).
func record(ctx context.Context, conn driver.Conn, database string, m Migration) error {
	batch, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name)", database))
	if err != nil {
		return err
	}
	if err := batch.Append(m.Version, m.Name); err != nil {
		return err
	}
	return batch.Send()
}

// Applied returns the versions recorded in database's schema_migrations.
func Applied(ctx context.Context, conn driver.Conn, database string) (map[uint32]bool, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT version FROM %s.schema_migrations", database))
	if err != nil {
		return nil, fmt.Errorf("cannot read applied migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out[v] = true
	}
	return out, rows.Err()
}

// reconcileTTL changes the table's TTL when the configured retention or
// warm move differs from the table's (servers with TTL only).
func reconcileTTL(ctx context.Context, conn driver.Conn, e Engine, exec func(string) error) error {
	if !e.Modern() {
		return nil
	}
	var full string
	name := strings.TrimPrefix(e.LocalTable(), e.Database+".")
	if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", e.Database, name).Scan(&full); err != nil {
		return fmt.Errorf("cannot read the events table's TTL: %w", err)
	}
	sql := TTLChange(e, full)
	if sql == "" {
		return nil
	}
	if err := exec(sql); err != nil {
		return fmt.Errorf("cannot change the events table's TTL: %w", err)
	}
	return nil
}

// TTLChange returns the ALTER TABLE that brings a table whose
// system.tables.engine_full is engineFull to e's TTL, or "" when it has it.
func TTLChange(e Engine, engineFull string) string {
	want := e.ttl()
	have := ""
	if i := strings.Index(engineFull, " TTL "); i >= 0 {
		have = engineFull[i+5:]
		if j := strings.Index(have, " SETTINGS "); j >= 0 {
			have = have[:j]
		}
	}
	if normalizeTTL(have) == normalizeTTL(want) {
		return ""
	}
	if want == "" {
		return fmt.Sprintf("ALTER TABLE %s%s REMOVE TTL", e.LocalTable(), e.OnCluster())
	}
	return fmt.Sprintf("ALTER TABLE %s%s MODIFY TTL %s", e.LocalTable(), e.OnCluster(), want)
}

func normalizeTTL(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "'", "")), " ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Ready returns nil once the table writers insert into (InsertTable) is
// there, a depwait.Pending error until the api has created it, and any
// other failure as it is. ingest, which may insert but not create tables,
// waits on it at start. It reads system.tables, which every user may (a
// user sees the tables it has a right on).
func Ready(ctx context.Context, conn driver.Conn, e Engine) error {
	database, table, _ := strings.Cut(e.InsertTable(), ".")
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", database, table).Scan(&n); err != nil {
		return fmt.Errorf("cannot look for the events table: %w", err)
	}
	if n == 0 {
		return depwait.Pending("%s does not exist yet (the api creates it)", e.InsertTable())
	}
	return nil
}
