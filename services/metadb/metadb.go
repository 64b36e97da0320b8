// Package metadb is nano's metadata schema in PostgreSQL: versioned,
// idempotent migrations shared by the api service (which owns most of the
// data) and search (token verification, search history, saved searches).
// Every replica of either service may run Migrate at start; a transaction
// advisory lock makes them take turns.
package metadb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Migration is one schema version.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// migrateLock is the advisory lock key migrations hold ("nanomigr").
const migrateLock = 0x6e616e6f6d696772

// Migrations are applied in order; never edit one that has shipped, add
// the next.
var Migrations = []Migration{
	{1, "tenants, users and API tokens", `
CREATE TABLE tenants (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name text NOT NULL DEFAULT '',
    role text NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, email)
);
CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL,
    hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant, id);
`},
	{2, "search history and saved searches", `
CREATE TABLE search_history (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_id bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    query text NOT NULL,
    range_from timestamptz NOT NULL,
    range_to timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    elapsed_ms double precision NOT NULL,
    result_rows bigint NOT NULL,
    rows_read bigint NOT NULL,
    bytes_read bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'invalid', 'failed', 'rejected')),
    error text NOT NULL DEFAULT ''
);
CREATE INDEX search_history_tenant ON search_history (tenant, id DESC);
CREATE TABLE saved_searches (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    query text NOT NULL,
    range_from text NOT NULL DEFAULT '',
    range_to text NOT NULL DEFAULT '',
    created_by bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
`},
}

// Migrate applies the migrations the database has not recorded, all in
// one transaction under an advisory lock.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot migrate the metadata database: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return fmt.Errorf("cannot lock the metadata schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS nano_schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("cannot create the migrations table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.Query(ctx, `SELECT version FROM nano_schema_migrations`)
	if err != nil {
		return fmt.Errorf("cannot read applied migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("cannot read applied migrations: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range Migrations {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("cannot apply migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO nano_schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("cannot record migration %d: %w", m.Version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("cannot commit the metadata migrations: %w", err)
	}
	return nil
}

// EnsureTenant creates a tenant if it does not exist.
func EnsureTenant(ctx context.Context, db *pgxpool.Pool, id, name string) error {
	if _, err := db.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, name); err != nil {
		return fmt.Errorf("cannot create tenant %q: %w", id, err)
	}
	return nil
}
