package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// secretFile writes v into a file of the test's (as a Secret's mount
// holds it, with a trailing newline) and returns its path.
func secretFile(t *testing.T, v string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// `api token create` as the documented `kubectl exec ... api token create`
// runs it on a Kubernetes tier: the pod sets only NANO_POSTGRES_URL_FILE.
// The printed token verifies; a file that cannot be read is named.
func TestTokenCreateReadsTheURLFile(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	pgURL, err := pg.CreateDatabase(ctx, "api_token_create_file")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{contract.PostgresURLFile: secretFile(t, pgURL)}
	var stdout, stderr bytes.Buffer
	if code := tokenCreate([]string{"-tenant", "acme"}, func(k string) string { return env[k] }, &stdout, &stderr); code != 0 {
		t.Fatalf("token create with %s: exit %d: %s", contract.PostgresURLFile, code, stderr.String())
	}
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := (&authtoken.Verifier{DB: db}).Verify(ctx, strings.TrimSpace(stdout.String()))
	if err != nil || p.Tenant != "acme" {
		t.Errorf("the printed token: %+v %v", p, err)
	}

	env[contract.PostgresURLFile] = filepath.Join(t.TempDir(), "absent")
	stderr.Reset()
	if code := tokenCreate([]string{"-tenant", "acme"}, func(k string) string { return env[k] }, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), contract.PostgresURLFile) {
		t.Errorf("an unreadable %s: exit %d: %s", contract.PostgresURLFile, code, stderr.String())
	}
}

// The scheduler's lock session may come from a file (its URL carries a
// password), like the metadata database's; without either, it is the
// metadata database's.
func TestLeaderURLFromItsFile(t *testing.T) {
	t.Parallel()
	env := map[string]string{contract.PostgresURLFile: secretFile(t, "postgres://api:pw@pg:5432/nano"), contract.ClickHouseAddr: "ch:9000",
		contract.APILeaderPostgresURLFile: secretFile(t, "postgres://api:pw@pg-primary:5432/nano")}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PostgresURL != "postgres://api:pw@pg:5432/nano" || cfg.LeaderURL != "postgres://api:pw@pg-primary:5432/nano" {
		t.Errorf("from files: metadata %q, leader %q", cfg.PostgresURL, cfg.LeaderURL)
	}
	delete(env, contract.APILeaderPostgresURLFile)
	if cfg, err = loadConfig(func(k string) string { return env[k] }); err != nil || cfg.LeaderURL != cfg.PostgresURL {
		t.Errorf("without a leader URL: %q (metadata %q), %v", cfg.LeaderURL, cfg.PostgresURL, err)
	}
}
