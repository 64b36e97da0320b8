package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var (
	pg *harness.Postgres
	ch *harness.ClickHouse
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

func TestConfigNamesEveryBadVariable(t *testing.T) {
	harness.Servers(t)
	env := map[string]string{
		contract.SearchMaxConcurrent: "0", contract.SearchQueueTimeout: "forever", contract.ClickHouseDatabase: "no-dashes",
		contract.SearchMaxConcurrentPerTenant: "9", contract.SearchDefaultPageRows: "20000",
	}
	_, err := loadConfig(func(k string) string { return env[k] })
	for _, name := range []string{contract.SearchMaxConcurrent, contract.SearchQueueTimeout, contract.ClickHouseDatabase,
		contract.ClickHouseAddr, contract.PostgresURL, contract.SearchDefaultPageRows} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s not named in %v", name, err)
		}
	}
	c, err := loadConfig(func(k string) string {
		return map[string]string{contract.ClickHouseAddr: "ch:9000", contract.PostgresURL: "postgres://x"}[k]
	})
	if err != nil || c.Listen != ":3002" || c.Admission.Global != 8 || c.Limits.MaxExecutionTime != 30*time.Second {
		t.Errorf("defaults: %+v %v", c, err)
	}
}

// The service as main runs it: waits for the api's PostgreSQL schema,
// finds ClickHouse, serves health, readiness, version and an
// authenticated search.
func TestServiceStartsAndSearches(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pgURL, _ := metafixture.New(t, pg, "search_main") // the api's migrations
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{contract.ClickHouseAddr: ch.Addr, contract.PostgresURL: pgURL, contract.ClickHouseDatabase: "default"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ln) }()
	base := "http://" + ln.Addr().String()
	waitReady(t, base)
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	token, _, err := authtoken.Issue(ctx, db, "acme", nil, "t", []string{authtoken.ScopeSearch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// No events table in "default": the search fails cleanly with 502,
	// asked directly and under the public prefix (searchUrl + /v1/search,
	// as an Ingress that does not strip it forwards it).
	var resp *http.Response
	var b []byte
	for _, prefix := range []string{"", contract.SearchPrefix} {
		req, _ := http.NewRequest("POST", base+prefix+"/v1/search", strings.NewReader(`{"query":"level:error"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 502 || !strings.Contains(string(b), "ClickHouse failed the search") {
			t.Errorf("POST %s/v1/search: %d %s", prefix, resp.StatusCode, b)
		}
	}
	resp, err = http.Get(base + "/version")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != version {
		t.Errorf("/version %q", b)
	}
	// Under the public prefix (what Caddy and the Ingress forward) the
	// operational endpoints do not exist; at the service's own paths
	// (Prometheus, probes) they do.
	for _, path := range []string{"/metrics", "/readyz", "/healthz", "/version"} {
		for prefix, want := range map[string]int{contract.SearchPrefix: 404, "": 200} {
			resp, err := http.Get(base + prefix + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s%s: %d, want %d", prefix, path, resp.StatusCode, want)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// With NANO_CLICKHOUSE_TLS and a CA file the service reaches a ClickHouse
// that serves the native protocol only over TLS (as ClickHouse Cloud's
// 9440) and gets ready; a wrong CA file is named at start-up.
func TestServiceDialsClickHouseOverTLS(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	files, err := harness.WriteTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsCH, err := harness.StartClickHouseTLS(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer tlsCH.Stop()
	pgURL, _ := metafixture.New(t, pg, "search_tls")
	env := map[string]string{contract.ClickHouseAddr: fmt.Sprintf("127.0.0.1:%d", tlsCH.SecurePort), contract.PostgresURL: pgURL,
		contract.ClickHouseDatabase: "default", contract.ClickHouseTLS: "true", contract.ClickHouseCAFile: files.CA}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ln) }()
	waitReady(t, "http://"+ln.Addr().String())
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	env[contract.ClickHouseCAFile] = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), contract.ClickHouseCAFile+":") {
		t.Errorf("a missing CA file: %v", err)
	}
}

// waitReady waits up to 20 s for the service at base to be ready. The
// listener exists before the service serves it, so each poll is bounded.
func waitReady(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(base + contract.ReadyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
	}
}
