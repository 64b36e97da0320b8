package tiermove

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// notMoved are tables of the metadata schema that belong to the running
// deployment, not to its data: the migrations record (the target has its
// own, which must match), the scheduler's leader lease and the HEC
// acknowledgements of forwarders' open channels (a forwarder switched to
// the new deployment starts new channels).
var notMoved = []string{"nano_schema_migrations", "scheduler_leader", "hec_acks"}

// TableReport is one table moved: its rows and their checksum, equal on
// both sides after the move.
type TableReport struct {
	Table    string
	Rows     int64
	Checksum string
}

// MetadataReport is what a move of the metadata did.
type MetadataReport struct {
	Tables    []TableReport
	Sequences map[string]int64
	Elapsed   time.Duration
}

// MoveMetadata replaces the target's metadata (tenants, users, tokens,
// feeds, rules, alerts, dashboards, credentials, history, ...) with the
// source's, as one snapshot of the source in one transaction on the
// target, sequences included, so ids go on where they were and every
// token (stored as its hash) stays valid. Both databases must be at the
// same schema version. Run it after ingest and the api of the source are
// stopped or switched, so nothing changes in the source afterwards; run
// again, it gives the same result.
func MoveMetadata(ctx context.Context, source, target *pgxpool.Pool) (MetadataReport, error) {
	start := time.Now()
	var rep MetadataReport
	sv, err := schemaVersion(ctx, source)
	if err != nil {
		return rep, fmt.Errorf("source: %w", err)
	}
	tv, err := schemaVersion(ctx, target)
	if err != nil {
		return rep, fmt.Errorf("target: %w", err)
	}
	if sv != tv {
		return rep, fmt.Errorf("the source's metadata schema is at version %d, the target's at %d: upgrade the older deployment's api first", sv, tv)
	}
	src, err := source.Acquire(ctx)
	if err != nil {
		return rep, err
	}
	defer src.Release()
	// One snapshot of every table.
	stx, err := src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, err
	}
	defer stx.Rollback(ctx)
	tables, err := orderedTables(ctx, stx)
	if err != nil {
		return rep, err
	}
	// The audit trail is appended, never replaced (audit.go).
	trail, err := auditTables(ctx, stx)
	if err != nil {
		return rep, err
	}
	tables = slices.DeleteFunc(tables, func(t string) bool { return slices.Contains(trail, t) })
	ttx, err := target.Begin(ctx)
	if err != nil {
		return rep, err
	}
	defer ttx.Rollback(ctx)
	if _, err := ttx.Exec(ctx, "TRUNCATE "+identList(tables)+" RESTART IDENTITY CASCADE"); err != nil {
		return rep, fmt.Errorf("cannot empty the target's tables: %w", err)
	}
	for _, t := range tables {
		if err := copyTable(ctx, stx.Conn(), ttx.Conn(), t); err != nil {
			return rep, fmt.Errorf("table %s: %w", t, err)
		}
	}
	if rep.Sequences, err = copySequences(ctx, stx, ttx); err != nil {
		return rep, err
	}
	var trailReport *TableReport
	if len(trail) > 0 {
		a, err := moveAudit(ctx, stx, ttx)
		if err != nil {
			return rep, err
		}
		trailReport = &a
	}
	for _, t := range tables {
		a, err := tableChecksum(ctx, stx, t)
		if err != nil {
			return rep, fmt.Errorf("source %s: %w", t, err)
		}
		b, err := tableChecksum(ctx, ttx, t)
		if err != nil {
			return rep, fmt.Errorf("target %s: %w", t, err)
		}
		if a != b {
			return rep, fmt.Errorf("table %s: the target holds %d rows (checksum %s), the source %d (%s)", t, b.Rows, b.Checksum, a.Rows, a.Checksum)
		}
		rep.Tables = append(rep.Tables, a)
	}
	if trailReport != nil {
		rep.Tables = append(rep.Tables, *trailReport)
	}
	if err := ttx.Commit(ctx); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func schemaVersion(ctx context.Context, db *pgxpool.Pool) (int, error) {
	var v *int
	if err := db.QueryRow(ctx, "SELECT max(version) FROM nano_schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("cannot read the metadata schema's version: %w", err)
	}
	if v == nil {
		return 0, errors.New("the metadata schema has no migrations applied")
	}
	return *v, nil
}

// orderedTables are the public tables to move, each after the tables its
// foreign keys reference.
func orderedTables(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = 'public'`)
	if err != nil {
		return nil, err
	}
	refs := map[string][]string{}
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			rows.Close()
			return nil, err
		}
		refs[from] = append(refs[from], to)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(t string) error {
		switch state[t] {
		case 1:
			return fmt.Errorf("the foreign keys of %s form a cycle", t)
		case 2:
			return nil
		}
		state[t] = 1
		deps := refs[t]
		sort.Strings(deps)
		for _, d := range deps {
			if d != t && slices.Contains(all, d) {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		state[t] = 2
		if !slices.Contains(notMoved, t) {
			out = append(out, t)
		}
		return nil
	}
	for _, t := range all {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func identList(tables []string) string {
	s := ""
	for i, t := range tables {
		if i > 0 {
			s += ", "
		}
		s += pgx.Identifier{t}.Sanitize()
	}
	return s
}

// copyTable streams a table in PostgreSQL's binary COPY format from the
// source's snapshot into the target's transaction.
func copyTable(ctx context.Context, src, dst *pgx.Conn, table string) error {
	rows, err := src.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	list := "(" + identList(cols) + ")"
	name := pgx.Identifier{table}.Sanitize()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := src.PgConn().CopyTo(ctx, pw, "COPY "+name+" "+list+" TO STDOUT (FORMAT binary)")
		pw.CloseWithError(err)
		errc <- err
	}()
	_, err = dst.PgConn().CopyFrom(ctx, pr, "COPY "+name+" "+list+" FROM STDIN (FORMAT binary)")
	pr.CloseWithError(err)
	if serr := <-errc; serr != nil && err == nil {
		err = serr
	}
	return err
}

// copySequences sets each target sequence where the source's is.
func copySequences(ctx context.Context, stx, ttx pgx.Tx) (map[string]int64, error) {
	// The audit trail's ids are the target's own (its entries are
	// appended, audit.go).
	rows, err := stx.Query(ctx, `SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'
AND (to_regclass('audit_log') IS NULL OR sequencename::regclass IS DISTINCT FROM pg_get_serial_sequence('audit_log', 'id')::regclass) ORDER BY sequencename`)
	if err != nil {
		return nil, err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, s := range seqs {
		var last int64
		var called bool
		if err := stx.QueryRow(ctx, "SELECT last_value, is_called FROM "+pgx.Identifier{s}.Sanitize()).Scan(&last, &called); err != nil {
			return nil, fmt.Errorf("sequence %s: %w", s, err)
		}
		if _, err := ttx.Exec(ctx, "SELECT setval($1::regclass, $2, $3)", pgx.Identifier{s}.Sanitize(), last, called); err != nil {
			return nil, fmt.Errorf("sequence %s: %w", s, err)
		}
		out[s] = last
	}
	return out, nil
}

// tableChecksum counts a table's rows and digests their text, in an order
// independent of storage.
func tableChecksum(ctx context.Context, tx pgx.Tx, table string) (TableReport, error) {
	r := TableReport{Table: table}
	name := pgx.Identifier{table}.Sanitize()
	err := tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM %s t", name)).Scan(&r.Rows, &r.Checksum)
	return r, err
}
