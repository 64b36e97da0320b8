package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// Search as a deployment runs it: logged in to ClickHouse as nano_search
// (readonly 2: it reads and sends its limits as settings) and to
// PostgreSQL as its own role, with the schemas the api created.
// Everything it does works: token verification, a search over events,
// the histogram, the history it records, saved searches.
func TestSearchAsItsOwnUsers(t *testing.T) {
	harness.Servers(t)
	const password = "search-ch-password-0123456789"
	e := events.Engine{Database: "search_roles", RetentionDays: 90}
	users, err := events.UsersXML(e.ServiceUsers(), map[string]string{
		contract.IngestDBUser: "ingest-ch-password-0123456789", contract.SearchDBUser: password})
	if err != nil {
		t.Fatal(err)
	}
	server, err := harness.StartClickHouseWith(harness.ClickHouseOptions{UsersD: map[string][]byte{"nano-services.xml": users}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The api's part: the events schema, events (as an owner here).
	owner, err := server.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if e.Version, err = events.DetectVersion(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if err := events.Migrate(ctx, owner, e); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := owner.Exec(ctx, "INSERT INTO search_roles.events (ts, tenant, feed, severity, message) SELECT ?, 'acme', 'http', 'error', concat('disk full ', toString(number)) FROM system.numbers LIMIT 3", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	l := metafixture.NewWithRoles(t, pg, "search_roles")
	if err := metadb.EnsureTenant(ctx, l.Owner, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	token, _, err := authtoken.Issue(ctx, l.Owner, "acme", nil, "analyst", []string{authtoken.ScopeSearch, authtoken.ScopeWrite}, nil)
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := loadConfig(func(k string) string {
		return map[string]string{contract.ClickHouseAddr: server.Addr, contract.ClickHouseDatabase: e.Database,
			contract.ClickHouseUser: contract.SearchDBUser, contract.ClickHousePassword: password, contract.PostgresURL: l.Search}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	waitReady(t, base)
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &out)
		if len(out) == 0 {
			out["raw"] = string(raw)
		}
		return resp.StatusCode, out
	}
	if code, out := call("POST", "/v1/search", `{"query":"disk","from":"-1h"}`); code != 200 || out["count"] != float64(3) {
		t.Fatalf("search as nano_search: %d %v", code, out)
	}
	if code, out := call("POST", "/v1/histogram", `{"query":"disk","from":"-1h"}`); code != 200 {
		t.Errorf("histogram as nano_search: %d %v", code, out)
	}
	if code, out := call("GET", "/v1/history", ""); code != 200 || len(out["items"].([]any)) < 1 {
		t.Errorf("history as nano_search: %d %v", code, out)
	}
	code, out := call("POST", "/v1/saved-searches", `{"name":"disk","query":"disk","from":"-1h"}`)
	if code != 201 {
		t.Fatalf("save as nano_search: %d %v", code, out)
	}
	id := jsonNumber(out["id"])
	if code, out := call("PUT", "/v1/saved-searches/"+id, `{"name":"disk","query":"disk full","from":"-1h"}`); code != 200 {
		t.Errorf("update as nano_search: %d %v", code, out)
	}
	if code, out := call("DELETE", "/v1/saved-searches/"+id, ""); code != 204 {
		t.Errorf("delete as nano_search: %d %v", code, out)
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
