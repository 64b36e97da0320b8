package metadb_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/ingest/hec"
	ingestquota "github.com/nanosiem/nano/services/ingest/quota"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/services/search/history"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// attack is a statement a compromised service could send, and what it
// would gain.
type attack struct{ what, sql string }

// What a compromised ingest (its login and network position) tries on the
// metadata database.
var ingestAttacks = []attack{
	{"mint an admin API token", `INSERT INTO api_tokens (tenant, name, hash, scopes) VALUES ('acme', 'backdoor', '\x` + strings.Repeat("ab", 32) + `', '{admin}')`},
	{"raise a token's scopes", `UPDATE api_tokens SET scopes = '{admin}'`},
	{"unrevoke an API token", `UPDATE api_tokens SET revoked_at = NULL`},
	{"read API token hashes", `SELECT hash FROM api_tokens`},
	{"read sealed credentials", `SELECT ciphertext FROM credentials`},
	{"read users", `SELECT email FROM users`},
	{"mint a feed token", `INSERT INTO ingest_tokens (tenant, feed_id, hash) SELECT tenant, id, '\x` + strings.Repeat("cd", 32) + `' FROM feeds`},
	{"unrevoke feed tokens", `UPDATE ingest_tokens SET revoked_at = NULL`},
	{"rename a feed", `UPDATE feeds SET name = 'x'`},
	{"delete detection rules", `DELETE FROM detection_rules`},
	{"close alerts", `UPDATE alerts SET status = 'closed'`},
	{"empty saved searches", `TRUNCATE saved_searches`},
	{"drop the acknowledgements", `DROP TABLE hec_acks`},
	{"erase the tenants' usage record", `DELETE FROM ingest_usage`},
	{"move usage to another day", `UPDATE ingest_usage SET day = day - 1`},
	{"alter a table", `ALTER TABLE feeds ADD COLUMN evil int`},
	{"create a table", `CREATE TABLE evil (x int)`},
	{"record a migration", `INSERT INTO nano_schema_migrations (version, name) VALUES (999, 'evil')`},
}

// What a compromised search tries.
var searchAttacks = []attack{
	{"mint an admin API token", `INSERT INTO api_tokens (tenant, name, hash, scopes) VALUES ('acme', 'backdoor', '\x` + strings.Repeat("ab", 32) + `', '{admin}')`},
	{"raise a token's scopes", `UPDATE api_tokens SET scopes = '{admin}'`},
	{"unrevoke an API token", `UPDATE api_tokens SET revoked_at = NULL`},
	{"lift a token's expiry", `UPDATE api_tokens SET expires_at = NULL`},
	{"delete API tokens", `DELETE FROM api_tokens`},
	{"read every column of api_tokens", `SELECT * FROM api_tokens`},
	{"read sealed credentials", `SELECT ciphertext FROM credentials`},
	{"read feed token hashes", `SELECT hash FROM ingest_tokens`},
	{"read enrichment sources (may hold credentials)", `SELECT source FROM enrichment_datasets`},
	{"repoint an enrichment dataset", `UPDATE enrichment_datasets SET source = 'http://evil.example/'`},
	{"rename a tenant", `UPDATE tenants SET name = 'x'`},
	{"erase the search history (audit)", `DELETE FROM search_history`},
	{"rewrite the search history", `UPDATE search_history SET query = ''`},
	{"delete detection rules", `DELETE FROM detection_rules`},
	{"drop saved searches", `DROP TABLE saved_searches`},
	{"alter api_tokens", `ALTER TABLE api_tokens ADD COLUMN evil int`},
	{"create a table", `CREATE TABLE evil (x int)`},
	{"truncate alerts", `TRUNCATE alerts`},
	{"read the audit trail", `SELECT actor FROM audit_log`},
	{"erase the audit trail", `DELETE FROM audit_log`},
	{"rewrite the audit trail", `UPDATE audit_log SET actor = 'x'`},
	{"open a session", `INSERT INTO sessions (tenant, user_id, role, hash, expires_at, idle_seconds) SELECT tenant, id, 'admin', '\x` + strings.Repeat("ef", 32) + `', now() + interval '1 day', 3600 FROM users`},
	{"raise a session's role", `UPDATE sessions SET role = 'admin'`},
	{"unrevoke sessions", `UPDATE sessions SET revoked_at = NULL`},
	{"enable a disabled user", `UPDATE users SET disabled_at = NULL`},
}

// allowed runs each attack in a transaction that is rolled back and
// returns those the server let through, failing on any error that is not
// a refusal for lack of privilege.
func allowed(t *testing.T, ctx context.Context, db *pgxpool.Pool, attacks []attack) []string {
	t.Helper()
	var through []string
	for _, a := range attacks {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, a.sql)
		if err == nil {
			for rows.Next() {
			}
			rows.Close()
			err = rows.Err()
		}
		_ = tx.Rollback(ctx)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			through = append(through, a.what)
		case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		default:
			t.Errorf("%s: not a privilege refusal: %v", a.what, err)
		}
	}
	return through
}

// The service roles hold only their rights: a compromised ingest or search
// can do what the service does and nothing else the attacks above try;
// what each service really does still works through its own code. The
// control: the owner's login (what every service used before) lets every
// one of those attacks through, so the check can fail.
func TestServiceRolesHoldOnlyTheirRights(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := metafixture.NewWithRoles(t, metadb.Server(), "metadb_roles")
	pool := func(url string) *pgxpool.Pool {
		db, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	ingest, search := pool(l.Ingest), pool(l.Search)

	// The api's data: a tenant, an API token, a feed and its ingest token.
	if err := metadb.EnsureTenant(ctx, l.Owner, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	token, tokenID, err := authtoken.Issue(ctx, l.Owner, "acme", nil, "analyst", []string{authtoken.ScopeSearch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	feedToken := "feed-token-0123456789abcdef"
	hash := sha256.Sum256([]byte(feedToken))
	if _, err := l.Owner.Exec(ctx, `WITH f AS (INSERT INTO feeds (tenant, name, kind) VALUES ('acme', 'fw', 'http') RETURNING id)
INSERT INTO ingest_tokens (tenant, feed_id, hash) SELECT 'acme', id, $1 FROM f`, hash[:]); err != nil {
		t.Fatal(err)
	}

	t.Run("ingest does its work", func(t *testing.T) {
		if err := metadb.Ready(ctx, ingest); err != nil {
			t.Fatalf("ingest cannot see the schema is ready: %v", err)
		}
		store := &tokens.Store{}
		if n, err := tokens.LoadFromDatabase(ctx, ingest, store, 0); err != nil || n != 1 {
			t.Fatalf("ingest loads the feed tokens: %d %v", n, err)
		}
		if id, ok := store.Lookup(feedToken); !ok || id.Tenant != "acme" || id.Feed != "fw" {
			t.Errorf("the feed token loaded as %+v %v", id, ok)
		}
		shared := &hec.PGShared{DB: ingest}
		block, err := shared.NextBlock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := shared.Commit(ctx, "ch-1", []uint64{block + 1}); err != nil {
			t.Fatal(err)
		}
		if got, err := shared.Committed(ctx, "ch-1", []uint64{block + 1, block + 2}); err != nil || !got[block+1] || got[block+2] {
			t.Errorf("acknowledgements: %v %v", got, err)
		}
		// The tenants' daily usage, shared by the replicas: added to twice
		// (the second an upsert of the same row) and read back.
		q := ingestquota.New(ingestquota.Limits{BytesPerDay: 1 << 30})
		for i := 0; i < 2; i++ {
			if r := q.Take("acme", 10, 1000); r.Quota != "" {
				t.Fatalf("the quota refused: %+v", r)
			}
			if err := q.Sync(ctx, ingest); err != nil {
				t.Fatalf("ingest syncs the tenants' usage: %v", err)
			}
		}
		var bytes int64
		if err := l.Owner.QueryRow(ctx, `SELECT sum(bytes) FROM ingest_usage WHERE tenant = 'acme'`).Scan(&bytes); err != nil || bytes != 2000 {
			t.Errorf("the usage recorded: %d %v", bytes, err)
		}
	})
	t.Run("search does its work", func(t *testing.T) {
		if err := metadb.Ready(ctx, search); err != nil {
			t.Fatalf("search cannot see the schema is ready: %v", err)
		}
		p, err := (&authtoken.Verifier{DB: search}).Verify(ctx, token)
		if err != nil || p.Tenant != "acme" || p.TokenID != tokenID {
			t.Fatalf("search verifies an API token: %+v %v", p, err)
		}
		// Saving checks the tenant's quota of saved searches (a lock of the
		// tenant, which search may take without any right on tenants).
		store := &history.Store{DB: search, MaxSaved: quota.Limit{What: "saved searches", Key: "NANO_SEARCH_MAX_SAVED_SEARCHES", Max: 5}}
		now := time.Now()
		if err := store.Record(ctx, "acme", history.Entry{TokenID: &tokenID, Query: "level:error", From: now.Add(-time.Hour), To: now,
			StartedAt: now, Status: "ok"}); err != nil {
			t.Fatal(err)
		}
		if h, err := store.History(ctx, "acme", 10, 1<<62); err != nil || len(h) != 1 {
			t.Errorf("history: %v %v", h, err)
		}
		saved, err := store.Save(ctx, "acme", &tokenID, history.Saved{Name: "errors", Query: "level:error"})
		if err != nil {
			t.Fatal(err)
		}
		saved.Query = "level:warn"
		if _, err := store.Update(ctx, "acme", saved); err != nil {
			t.Fatal(err)
		}
		if l, err := store.List(ctx, "acme", 10, 0); err != nil || len(l) != 1 || l[0].Query != "level:warn" {
			t.Errorf("saved searches: %v %v", l, err)
		}
		if err := store.Delete(ctx, "acme", saved.ID); err != nil {
			t.Fatal(err)
		}
		// The lookups' datasets: the tenant's own, else the platform's.
		if _, err := l.Owner.Exec(ctx, `INSERT INTO enrichment_datasets (tenant, name, source, format, interval_seconds)
VALUES ('acme', 'threats', 'https://user:secret@feeds.example/t.csv', 'csv', 3600), (NULL, 'threats', 'https://feeds.example/p.csv', 'csv', 3600)`); err != nil {
			t.Fatal(err)
		}
		if ds, err := metadb.Datasets(ctx, search, "acme", []string{"threats", "nothing"}); err != nil || len(ds) != 1 {
			t.Errorf("search finds the datasets a lookup reads: %v %v", ds, err)
		}
		// A browser session the api opened: search verifies it (and stamps
		// it when stale) and records the change it makes in the trail.
		var userID int64
		if err := l.Owner.QueryRow(ctx, `INSERT INTO users (tenant, email, name, role) VALUES ('acme', 'ann@acme.test', 'Ann', 'analyst') RETURNING id`).Scan(&userID); err != nil {
			t.Fatal(err)
		}
		secret, _, _, err := authtoken.NewSession(ctx, l.Owner, "acme", userID, "analyst", authtoken.SessionOptions{TTL: time.Hour, Idle: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Owner.Exec(ctx, `UPDATE sessions SET last_seen_at = now() - interval '5 minutes'`); err != nil {
			t.Fatal(err)
		}
		sp, err := (&authtoken.Verifier{DB: search}).VerifySession(ctx, secret)
		if err != nil || sp.Tenant != "acme" || sp.Email != "ann@acme.test" {
			t.Fatalf("search verifies a session: %+v %v", sp, err)
		}
		if err := audit.Record(ctx, search, audit.Entry{Tenant: "acme", Service: "search", ActorKind: "user", Action: "saved_search.create", Outcome: audit.OK}.By(sp)); err != nil {
			t.Errorf("search records in the audit trail: %v", err)
		}
	})
	t.Run("a compromised ingest", func(t *testing.T) {
		if through := allowed(t, ctx, ingest, ingestAttacks); len(through) > 0 {
			t.Errorf("ingest's role may: %s", strings.Join(through, "; "))
		}
	})
	t.Run("a compromised search", func(t *testing.T) {
		if through := allowed(t, ctx, search, searchAttacks); len(through) > 0 {
			t.Errorf("search's role may: %s", strings.Join(through, "; "))
		}
	})
	t.Run("control: the shared owner login", func(t *testing.T) {
		for _, all := range [][]attack{ingestAttacks, searchAttacks} {
			// Changing the audit trail is refused to the owner too (it is
			// append-only for everyone: TestAuditTrailIsAppendOnly).
			var attacks []attack
			for _, a := range all {
				if !(strings.Contains(a.sql, "audit_log") && !strings.HasPrefix(a.sql, "SELECT")) {
					attacks = append(attacks, a)
				}
			}
			if through := allowed(t, ctx, l.Owner, attacks); len(through) != len(attacks) {
				t.Errorf("the owner was refused some attacks (%d of %d through): the list does not show what roles take away", len(through), len(attacks))
			}
		}
	})
	t.Run("grants follow the code", func(t *testing.T) {
		// A right granted by hand (or by an older version) is taken back
		// at the next migration.
		if _, err := l.Owner.Exec(ctx, "GRANT SELECT ON credentials TO "+pgx.Identifier{l.Roles.Search}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		if err := metadb.MigrateFor(ctx, l.Owner, l.Roles); err != nil {
			t.Fatal(err)
		}
		if through := allowed(t, ctx, search, searchAttacks); len(through) > 0 {
			t.Errorf("after the api's next start search's role may: %s", strings.Join(through, "; "))
		}
	})
}

// A role the deployment has not created stops the migration with an
// error that says so; nothing is applied. Bad names are refused before
// anything runs.
func TestMissingRoleStopsTheMigration(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	url, err := metadb.Server().CreateDatabase(ctx, "metadb_norole")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = metadb.MigrateFor(ctx, db, metadb.Roles{Ingest: "nano_no_such_role"})
	if err == nil || !strings.Contains(err.Error(), `the ingest role "nano_no_such_role" does not exist`) {
		t.Fatalf("migrating with a missing role: %v", err)
	}
	if err := metadb.Ready(ctx, db); err == nil || !strings.Contains(err.Error(), "no schema yet") {
		t.Errorf("after the failed migration: %v", err)
	}
	for _, r := range []metadb.Roles{{Ingest: "Nano"}, {Search: `x"; DROP TABLE users; --`}, {Ingest: "nano_svc", Search: "nano_svc"}} {
		if err := metadb.MigrateFor(ctx, db, r); err == nil {
			t.Errorf("roles %+v accepted", r)
		}
	}
}
