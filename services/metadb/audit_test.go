package metadb

import (
	"context"
	"errors"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The audit trail is append-only for the services: migrated by a login
// that owns the database and is no superuser (as the api's role is), that
// login may insert and read entries, but UPDATE, DELETE and TRUNCATE are
// refused on the table and on each month's partition (permission denied).
// Control: the same login deletes from another table of the schema
// (sessions), so the refusal is the audit trail's own. Even a superuser,
// who bypasses privileges, is refused by the triggers. A month's partition
// exists ahead of time; inserting into a month without one fails, so a
// change that cannot be audited is not made.
func TestAuditTrailIsAppendOnly(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	superURL, err := pg.CreateDatabase(ctx, "metadb_audit")
	if err != nil {
		t.Fatal(err)
	}
	super, err := pgxpool.New(ctx, superURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	for _, sql := range []string{
		`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'audit_owner') THEN CREATE ROLE audit_owner LOGIN; END IF; END $$`,
		`ALTER DATABASE metadb_audit OWNER TO audit_owner`,
		`ALTER SCHEMA public OWNER TO audit_owner`,
	} {
		if _, err := super.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	owner, err := pgxpool.New(ctx, strings.Replace(superURL, "postgres://postgres@", "postgres://audit_owner@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := Migrate(ctx, owner); err != nil {
		t.Fatal(err)
	}
	var isSuper bool
	if err := owner.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&isSuper); err != nil || isSuper {
		t.Fatalf("the owner login is a superuser (%v %v): the test would prove nothing", isSuper, err)
	}
	if _, err := owner.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')`); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Exec(ctx, `INSERT INTO audit_log (tenant, service, actor_kind, actor, action, outcome) VALUES ('acme', 'api', 'user', 'a@example.com', 'rule.update', 'ok')`); err != nil {
		t.Fatalf("the owner cannot append: %v", err)
	}
	var n int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("read back: %d %v", n, err)
	}
	part := "audit_log_" + time.Now().UTC().Format("200601")
	next := "audit_log_" + time.Now().UTC().AddDate(0, 1, 0).Format("200601")
	for _, sql := range []string{
		`UPDATE audit_log SET actor = 'someone else'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`UPDATE ` + part + ` SET actor = 'someone else'`,
		`DELETE FROM ` + part,
		`TRUNCATE ` + part,
		`DELETE FROM ` + next,
	} {
		_, err := owner.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("the owner ran %q: %v, want permission denied", sql, err)
		}
	}
	// Control: the same login may delete elsewhere in the schema.
	if _, err := owner.Exec(ctx, `DELETE FROM sessions`); err != nil {
		t.Errorf("control: the owner cannot delete from sessions either (%v): the refusal above proves nothing", err)
	}
	// A superuser bypasses privileges, not the triggers.
	for _, sql := range []string{`UPDATE audit_log SET actor = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`, `DELETE FROM ` + part, `TRUNCATE ` + part} {
		if _, err := super.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("a superuser ran %q: %v", sql, err)
		}
	}
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 1 {
		t.Errorf("entries after the attempts: %d %v", n, err)
	}
	// Partitions: this month and the next AuditMonthsAhead; none beyond.
	var parts []string
	rows, _ := owner.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		parts = append(parts, s)
	}
	if len(parts) != AuditMonthsAhead+1 || parts[0] != part {
		t.Errorf("partitions %v, want %d from %s", parts, AuditMonthsAhead+1, part)
	}
	beyond := time.Now().UTC().AddDate(0, AuditMonthsAhead+1, 0)
	_, err = owner.Exec(ctx, `INSERT INTO audit_log (at, tenant, service, actor_kind, action, outcome) VALUES ($1, 'acme', 'api', 'user', 'x', 'ok')`,
		time.Date(beyond.Year(), beyond.Month(), 15, 0, 0, 0, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error(), "no partition") {
		t.Errorf("an entry beyond the partitions: %v", err)
	}
	// Preparing again makes nothing new; it is safe at every start.
	if err := PrepareAudit(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass`).Scan(&n); err != nil || n != AuditMonthsAhead+1 {
		t.Errorf("partitions after a second prepare: %d %v", n, err)
	}
}
