package events

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Migration is one versioned schema change. Statements are idempotent (IF
// NOT EXISTS), so replicas starting together may both run them.
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
}

// Migrate creates the database and applies the migrations the server has
// not recorded, then brings the table's TTL to the engine's retention.
func Migrate(ctx context.Context, conn driver.Conn, e Engine) error {
	if err := e.Validate(); err != nil {
		return err
	}
	exec := func(sql string) error {
		if err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("cannot apply schema (%s): %w", firstLine(sql), err)
		}
		return nil
	}
	if err := exec(fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s%s", e.Database, e.onCluster())); err != nil {
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
		if applied[m.Version] {
			continue
		}
		for _, sql := range m.Statements(e) {
			if err := exec(sql); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
			}
		}
		if err := record(ctx, conn, e.Database, m); err != nil {
			return fmt.Errorf("cannot record migration %d: %w", m.Version, err)
		}
	}
	return reconcileTTL(ctx, conn, e)
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
func reconcileTTL(ctx context.Context, conn driver.Conn, e Engine) error {
	if !e.Modern() {
		return nil
	}
	var full string
	name := strings.TrimPrefix(e.localTable(), e.Database+".")
	if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", e.Database, name).Scan(&full); err != nil {
		return fmt.Errorf("cannot read the events table's TTL: %w", err)
	}
	sql := TTLChange(e, full)
	if sql == "" {
		return nil
	}
	if err := conn.Exec(ctx, sql); err != nil {
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
		return fmt.Sprintf("ALTER TABLE %s%s REMOVE TTL", e.localTable(), e.onCluster())
	}
	return fmt.Sprintf("ALTER TABLE %s%s MODIFY TTL %s", e.localTable(), e.onCluster(), want)
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
