package authtoken

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

func TestIssueVerifyRevokeExpire(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	_, db := metafixture.New(t, pg, "authtoken")
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	token, id, err := Issue(ctx, db, "acme", nil, "ci", []string{ScopeSearch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !Wellformed(token) {
		t.Fatalf("issued token %q is not well-formed", token)
	}
	// Only the hash is stored.
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE position($1::bytea in hash) > 0 OR encode(hash, 'escape') LIKE '%' || $2 || '%'`,
		[]byte(token), token).Scan(&n); err != nil || n != 0 {
		t.Fatalf("token stored in clear? %d %v", n, err)
	}
	now := time.Now()
	v := &Verifier{DB: db, TTL: time.Minute, Now: func() time.Time { return now }}
	p, err := v.Verify(ctx, token)
	if err != nil || p.Tenant != "acme" || p.TokenID != id || !p.Can(ScopeSearch) || p.Can(ScopeWrite) {
		t.Fatalf("%+v %v", p, err)
	}
	other := "A"
	if token[len(token)-1] == 'A' {
		other = "B"
	}
	for _, bad := range []string{"", "nano_short", token[:len(token)-1] + other, "Bearer " + token, "xxxx" + token[4:]} {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// Revocation reaches the verifier when its cache entry ends.
	if _, err := db.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("cached token rejected before its TTL: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, token); !errors.Is(err, ErrInvalid) {
		t.Errorf("revoked token after the TTL: %v", err)
	}
	// An expired token fails, also from the cache.
	soon := time.Now().Add(time.Hour)
	t2, _, err := Issue(ctx, db, "acme", nil, "short", []string{ScopeAdmin}, &soon)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, t2); err != nil || !p.Can(ScopeSearch) {
		t.Fatalf("admin token: %+v %v", p, err)
	}
	now = soon.Add(time.Second)
	if _, err := v.Verify(ctx, t2); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired token from the cache: %v", err)
	}
	if _, _, err := Issue(ctx, db, "acme", nil, "x", []string{"root"}, nil); err == nil {
		t.Error("an unknown scope was issued")
	}
}

func TestFromRequest(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "": ""} {
		r.Header.Set("Authorization", h)
		if got, _ := FromRequest(r); got != want {
			t.Errorf("%q: %q", h, got)
		}
	}
}
