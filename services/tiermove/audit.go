package tiermove

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// The audit trail (metadb's audit_log and its monthly partitions) is
// append-only on both sides: a move never empties the target's trail, it
// appends the source's entries the target does not hold yet, each marked
// with its origin (moved:<source>:<id>; an entry moved before keeps its
// first origin), so a second run appends nothing and the target's own
// entries stay.
const auditTable = "audit_log"

// auditTables are the trail's tables (the parent and its partitions),
// which the generic copy leaves alone.
func auditTables(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass('audit_log') UNION SELECT 'audit_log' WHERE to_regclass('audit_log') IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

const auditColumns = `at, tenant, service, actor_kind, actor_id, actor, session_id, action, route, object_type, object_id, outcome, status,
before, after, detail, ip, user_agent`

// moveAudit appends the source's trail to the target's and answers how
// many entries the source has and the target now holds from it, with a
// checksum of their content on each side.
func moveAudit(ctx context.Context, stx, ttx pgx.Tx) (TableReport, error) {
	rep := TableReport{Table: auditTable}
	var source string
	if err := stx.QueryRow(ctx, `SELECT current_database() || '@' || applied_at::text FROM nano_schema_migrations WHERE version = 1`).Scan(&source); err != nil {
		return rep, fmt.Errorf("cannot name the source's audit trail: %w", err)
	}
	// The months the source's entries fall in need partitions here.
	rows, err := stx.Query(ctx, `SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC')::date FROM audit_log`)
	if err != nil {
		return rep, err
	}
	months, err := pgx.CollectRows(rows, pgx.RowTo[any])
	if err != nil {
		return rep, err
	}
	for _, m := range months {
		if _, err := ttx.Exec(ctx, `SELECT nano_audit_partition($1::date)`, m); err != nil {
			return rep, fmt.Errorf("cannot make the target's audit partition for %v: %w", m, err)
		}
	}
	if _, err := ttx.Exec(ctx, `CREATE TEMP TABLE moved_audit (LIKE audit_log INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
		return rep, err
	}
	origin := `CASE WHEN origin <> '' THEN origin ELSE 'moved:' || $1 || ':' || id END`
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := stx.Conn().PgConn().CopyTo(ctx, pw, `COPY (SELECT id, `+auditColumns+`, origin FROM audit_log) TO STDOUT (FORMAT binary)`)
		pw.CloseWithError(err)
		errc <- err
	}()
	_, err = ttx.Conn().PgConn().CopyFrom(ctx, pr, `COPY moved_audit (id, `+auditColumns+`, origin) FROM STDIN (FORMAT binary)`)
	pr.CloseWithError(err)
	if serr := <-errc; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return rep, fmt.Errorf("cannot read the source's audit trail: %w", err)
	}
	if _, err := ttx.Exec(ctx, `INSERT INTO audit_log (`+auditColumns+`, origin)
SELECT `+auditColumns+`, `+origin+` FROM moved_audit m
WHERE NOT EXISTS (SELECT FROM audit_log a WHERE a.origin = (`+origin+`)) ORDER BY m.id`, source); err != nil {
		return rep, fmt.Errorf("cannot append the source's audit trail: %w", err)
	}
	sum := func(tx pgx.Tx, q string, args ...any) (int64, string, error) {
		var n int64
		var c string
		err := tx.QueryRow(ctx, q, args...).Scan(&n, &c)
		return n, c, err
	}
	content := `coalesce(md5(string_agg(row(` + auditColumns + `)::text, E'\n' ORDER BY row(` + auditColumns + `)::text)), '')`
	n, c, err := sum(stx, `SELECT count(*), `+content+` FROM audit_log`)
	if err != nil {
		return rep, err
	}
	tn, tc, err := sum(ttx, `SELECT count(*), `+content+` FROM audit_log a WHERE a.origin IN (SELECT `+origin+` FROM moved_audit)`, source)
	if err != nil {
		return rep, err
	}
	if n != tn || c != tc {
		return rep, fmt.Errorf("audit trail: the target holds %d of the source's %d entries (checksums %s, %s)", tn, n, tc, c)
	}
	rep.Rows, rep.Checksum = n, c
	return rep, nil
}
