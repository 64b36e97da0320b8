// Package metafixture gives a test a fresh, migrated metadata database on
// the harness's PostgreSQL: what the api, search and ingest tests share.
// (It is not part of package harness, which services/metadb's own tests
// import.)
package metafixture

import (
	"context"
	"testing"

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
