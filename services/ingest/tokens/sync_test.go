package tokens

import (
	"context"
	"testing"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

// Tokens the api issues for a feed authenticate at ingest after a load;
// when the feed is deleted they stop; bootstrap tokens are untouched.
func TestDatabaseTokens(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	_, db := metafixture.New(t, pg, "ingest_tokens")
	metadb.EnsureTenant(ctx, db, "acme", "Acme")
	var feed int64
	if err := db.QueryRow(ctx, `INSERT INTO feeds (tenant, name, kind) VALUES ('acme', 'web', 'http') RETURNING id`).Scan(&feed); err != nil {
		t.Fatal(err)
	}
	token, _ := authtoken.Generate()
	if _, err := db.Exec(ctx, `INSERT INTO ingest_tokens (tenant, feed_id, hash) VALUES ('acme', $1, $2)`, feed, authtoken.Hash(token)); err != nil {
		t.Fatal(err)
	}
	s := &Store{}
	if err := s.Add("bootstrap-token-0123456789", Identity{Tenant: "default", Feed: "http"}); err != nil {
		t.Fatal(err)
	}
	if n, err := LoadFromDatabase(ctx, db, s, 100); err != nil || n != 1 {
		t.Fatalf("load: %d %v", n, err)
	}
	if id, ok := s.Lookup(token); !ok || id != (Identity{Tenant: "acme", Feed: "web", Kind: "http", RatePerSecond: 100}) {
		t.Errorf("api token: %+v %v", id, ok)
	}
	db.Exec(ctx, `DELETE FROM feeds WHERE id = $1`, feed)
	if n, err := LoadFromDatabase(ctx, db, s, 100); err != nil || n != 0 {
		t.Fatalf("reload: %d %v", n, err)
	}
	if _, ok := s.Lookup(token); ok {
		t.Error("the deleted feed's token still authenticates")
	}
	if _, ok := s.Lookup("bootstrap-token-0123456789"); !ok || s.Len() != 1 {
		t.Error("the bootstrap token was lost")
	}
}
