package main

import (
	"bytes"
	"context"
	"github.com/nanosiem/nano/tests/harness"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// syncBuffer is a log sink safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The api owns the schemas: started before the deployment has created the
// service roles (CloudNativePG reconciles them beside the api's start), it
// says which role is missing and waits; once the roles exist it migrates,
// grants them their rights and serves; it creates the events table in
// ClickHouse, which ingest only waits for.
func TestAPIWaitsForTheServiceRolesThenGrants(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, err := pg.CreateDatabase(ctx, "api_roles")
	if err != nil {
		t.Fatal(err)
	}
	super, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	for _, sql := range []string{`CREATE ROLE api_roles_api LOGIN`, `ALTER DATABASE api_roles OWNER TO api_roles_api`} {
		if _, err := super.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{contract.PostgresURL: metafixture.As(t, url, "api_roles_api"), contract.ClickHouseAddr: ch.Addr,
		contract.ClickHouseDatabase: "api_roles", contract.PostgresIngestRole: "api_roles_ingest", contract.PostgresSearchRole: "api_roles_search"}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(rctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitLog := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), what); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the api never logged %q:\n%s", what, logs.String())
			}
		}
	}
	waitLog(`the ingest role \"api_roles_ingest\" does not exist: the deployment creates it`)
	for _, role := range []string{"api_roles_ingest", "api_roles_search"} {
		if _, err := super.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN"); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get("http://" + ln.Addr().String() + contract.ReadyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api did not serve once the roles existed: %v\n%s", err, logs.String())
		}
	}
	var ingestReadsTokens, ingestWritesAPITokens, searchStampsTokens bool
	if err := super.QueryRow(ctx, `SELECT has_column_privilege('api_roles_ingest', 'ingest_tokens', 'hash', 'SELECT'),
  has_table_privilege('api_roles_ingest', 'api_tokens', 'INSERT'),
  has_column_privilege('api_roles_search', 'api_tokens', 'last_used_at', 'UPDATE')`).Scan(&ingestReadsTokens, &ingestWritesAPITokens, &searchStampsTokens); err != nil {
		t.Fatal(err)
	}
	if !ingestReadsTokens || ingestWritesAPITokens || !searchStampsTokens {
		t.Errorf("grants after the roles appeared: ingest reads feed tokens %v, writes api_tokens %v; search stamps tokens %v",
			ingestReadsTokens, ingestWritesAPITokens, searchStampsTokens)
	}
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = 'api_roles' AND name = 'events'").Scan(&n); err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the api did not create the events table:\n%s", logs.String())
		}
	}
}
