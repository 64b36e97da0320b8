// Package metafixture gives a test a fresh, migrated metadata database on
// the harness's PostgreSQL: what the api, search and ingest tests share.
// (It is not part of package harness, which services/metadb's own tests
// import.)
package metafixture

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
)

// New creates database name on pg, migrates it to nano's metadata schema
// and returns its URL and a pool that closes when the test ends.
func New(t testing.TB, pg *harness.Postgres, name string) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url, err := pg.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := metadb.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	return url, db
}

// Logins are a database set up as a deployment sets it up: an owner role
// (the api's, which migrates the schema) and a role per service that
// shares the database with less (ingest, search), each a URL that logs in
// as that role, migrated by the owner with the services' grants.
type Logins struct {
	// API is the owner's URL; Ingest and Search the services'.
	API, Ingest, Search string
	// Roles are the service roles' names (for metadb.MigrateFor).
	Roles metadb.Roles
	// Owner is a pool of the owner's (closed when the test ends).
	Owner *pgxpool.Pool
}

// NewWithRoles creates database name on pg owned by role <name>_api,
// roles <name>_ingest and <name>_search (per database: roles are the
// server's, shared by every test database), and migrates it as the owner
// with their grants. The harness's server trusts loopback logins, so the
// URLs carry no passwords; the rigs check passwords.
func NewWithRoles(t testing.TB, pg *harness.Postgres, name string) Logins {
	t.Helper()
	ctx := context.Background()
	dbURL, err := pg.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	super, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	l := Logins{Roles: metadb.Roles{Ingest: name + "_ingest", Search: name + "_search"}}
	owner := name + "_api"
	for _, sql := range []string{
		"CREATE ROLE " + pgx.Identifier{owner}.Sanitize() + " LOGIN",
		"CREATE ROLE " + pgx.Identifier{l.Roles.Ingest}.Sanitize() + " LOGIN",
		"CREATE ROLE " + pgx.Identifier{l.Roles.Search}.Sanitize() + " LOGIN",
		"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " OWNER TO " + pgx.Identifier{owner}.Sanitize(),
	} {
		if _, err := super.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	l.API, l.Ingest, l.Search = As(t, dbURL, owner), As(t, dbURL, l.Roles.Ingest), As(t, dbURL, l.Roles.Search)
	if l.Owner, err = pgxpool.New(ctx, l.API); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Owner.Close)
	if err := metadb.MigrateFor(ctx, l.Owner, l.Roles); err != nil {
		t.Fatal(err)
	}
	return l
}

// As is url with its user replaced by role.
func As(t testing.TB, raw, role string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}
