// Package pgmigrate applies versioned SQL migrations to a PostgreSQL
// database: each set records what it applied in its own table, and every
// process that migrates at start takes turns under a transaction advisory
// lock, so replicas starting together apply each migration once.
package pgmigrate

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

// Set is a schema's migrations, the table that records them and the
// advisory lock key its migrators hold.
type Set struct {
	// What names the schema in errors ("the metadata database").
	What  string
	Table string
	Lock  int64
	// Migrations are applied in order; never edit one that has shipped,
	// add the next.
	Migrations []Migration
	// Then, when set, runs after the migrations at every Apply, in the
	// same transaction (before the new versions are visible to others):
	// statements that must hold for the current schema, such as the
	// grants of other roles on its tables.
	Then func(ctx context.Context, tx pgx.Tx) error
}

// Apply applies the migrations the database has not recorded, all in one
// transaction.
func (s Set) Apply(ctx context.Context, db *pgxpool.Pool) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot migrate %s: %w", s.What, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.Lock); err != nil {
		return fmt.Errorf("cannot lock the schema of %s: %w", s.What, err)
	}
	table := pgx.Identifier{s.Table}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("cannot create the migrations table of %s: %w", s.What, err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM `+table)
	if err != nil {
		return fmt.Errorf("cannot read the applied migrations of %s: %w", s.What, err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("cannot read the applied migrations of %s: %w", s.What, err)
	}
	applied := map[int]bool{}
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range s.Migrations {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("cannot apply migration %d (%s) of %s: %w", m.Version, m.Name, s.What, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("cannot record migration %d of %s: %w", m.Version, s.What, err)
		}
	}
	if s.Then != nil {
		if err := s.Then(ctx, tx); err != nil {
			return fmt.Errorf("cannot migrate %s: %w", s.What, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("cannot commit the migrations of %s: %w", s.What, err)
	}
	return nil
}
