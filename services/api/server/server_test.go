package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/services/servicemain"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var (
	pg *harness.Postgres
	// ch holds the events rule tests search (ruletest_test.go).
	ch *harness.ClickHouse
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

type fixture struct {
	url, admin, reader, other string
	// platform is the operator's token (admin of tenant "ops" and platform).
	platform string
	db       *pgxpool.Pool
	srv      *Server
}

func setup(t *testing.T, name string) *fixture {
	harness.Servers(t)
	t.Helper()
	return setupWith(t, name, nil)
}

// setupWith is setup with configure applied to the server before it
// serves (nil: none).
func setupWith(t *testing.T, name string, configure func(*Server)) *fixture {
	t.Helper()
	harness.Servers(t)
	ctx := context.Background()
	_, db := metafixture.New(t, pg, name)
	f := &fixture{db: db}
	issue := func(tenant string, scopes ...string) string {
		if err := metadb.EnsureTenant(ctx, db, tenant, tenant); err != nil {
			t.Fatal(err)
		}
		tok, _, err := authtoken.Issue(ctx, db, tenant, nil, "t", scopes, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	f.admin, f.reader, f.other = issue("acme", authtoken.ScopeAdmin), issue("acme", authtoken.ScopeRead), issue("globex", authtoken.ScopeAdmin)
	f.platform = issue("ops", authtoken.ScopeAdmin, authtoken.ScopePlatform)
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = &Server{DB: db, Tokens: &authtoken.Verifier{DB: db, TTL: time.Second}, Sealer: sealer, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version: "test", EnrichmentDir: "/data", MaxBodyBytes: 8 << 10, Timeout: 10 * time.Second, Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error { return nil }, Leading: func() bool { return false }}
	if configure != nil {
		configure(f.srv)
	}
	api := f.srv.Handler()
	hs := httptest.NewServer(servicemain.Prefixed(contract.APIPrefix, api, f.srv.Internal(api)))
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

// call sends body (a string as is, else JSON) and decodes the answer.
func (f *fixture) call(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	resp := harness.Send(t, method, f.url+path, token, body)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

// problem is the first problem of an error envelope ({"errors":[...]}).
func problem(out map[string]any) map[string]any {
	list, _ := out["errors"].([]any)
	if len(list) == 0 {
		return nil
	}
	p, _ := list[0].(map[string]any)
	return p
}

func field(out map[string]any) string {
	s, _ := problem(out)["field"].(string)
	return s
}

func TestRulesAlertsAndValidation(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_rules")
	rule := map[string]any{"name": "api errors", "query": "level:error service:api", "schedule": "*/5 * * * *", "window_seconds": 600,
		"threshold_op": ">", "threshold": 10}
	code, out := f.call(t, "POST", "/v1/rules", f.admin, rule)
	if code != 201 || out["enabled"] != true {
		t.Fatalf("create: %d %v", code, out)
	}
	id := fmt.Sprint(out["id"])
	if code, _ := f.call(t, "POST", "/v1/rules", f.admin, rule); code != 409 {
		t.Errorf("duplicate name: %d", code)
	}
	for _, c := range []struct {
		change map[string]any
		field  string
	}{
		{map[string]any{"query": "level:error ("}, "query"},
		{map[string]any{"schedule": "every day"}, "schedule"},
		{map[string]any{"window_seconds": 5}, "window_seconds"},
		{map[string]any{"threshold_op": "=="}, "threshold_op"},
		{map[string]any{"threshold": nil}, "threshold"},
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"signal": true, "query": "x | stats count() by host"}, "signal"},
		{map[string]any{"threshold": "ten"}, "threshold"},
	} {
		body := map[string]any{}
		for k, v := range rule {
			body[k] = v
		}
		body["name"] = "other"
		for k, v := range c.change {
			body[k] = v
		}
		code, out := f.call(t, "POST", "/v1/rules", f.admin, body)
		if code != 400 || field(out) != c.field {
			t.Errorf("%v: %d %v, want 400 naming %s", c.change, code, out, c.field)
		}
		// A query that does not parse also points at its column.
		if col, _ := problem(out)["column"].(float64); c.field == "query" && col != 14 {
			t.Errorf("%v: column %v in %v, want 14 (the end of the query)", c.change, col, out)
		}
	}
	rule["threshold"] = 20
	if code, out := f.call(t, "PUT", "/v1/rules/"+id, f.admin, rule); code != 200 || out["threshold"] != 20.0 {
		t.Errorf("update: %d %v", code, out)
	}
	if code, _ := f.call(t, "GET", "/v1/rules/"+id, f.other, nil); code != 404 {
		t.Errorf("another tenant reads the rule: %d", code)
	}
	if code, _ := f.call(t, "POST", "/v1/rules", f.reader, rule); code != 403 {
		t.Errorf("a read token writes: %d", code)
	}
	if code, out := f.call(t, "GET", "/v1/rules", f.reader, nil); code != 200 || len(out["items"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, out)
	}
	// Alerts (raised by the scheduler; inserted here) page and change status.
	for i := 0; i < 3; i++ {
		f.db.Exec(context.Background(), `INSERT INTO alerts (tenant, rule_id, value, window_start, window_end) VALUES ('acme', $1, $2, now(), now())`, id, 11+i)
	}
	code, out = f.call(t, "GET", "/v1/alerts?limit=2", f.reader, nil)
	if code != 200 || len(out["items"].([]any)) != 2 || out["next_cursor"] == nil {
		t.Fatalf("alerts page: %d %v", code, out)
	}
	code, out = f.call(t, "GET", "/v1/alerts?limit=2&cursor="+out["next_cursor"].(string), f.reader, nil)
	if len(out["items"].([]any)) != 1 {
		t.Errorf("second page: %v", out)
	}
	alert := fmt.Sprint(out["items"].([]any)[0].(map[string]any)["id"])
	if code, _ := f.call(t, "PATCH", "/v1/alerts/"+alert, f.admin, map[string]any{"status": "acknowledged"}); code != 204 {
		t.Errorf("acknowledge: %d", code)
	}
	if code, out := f.call(t, "GET", "/v1/alerts?status=acknowledged", f.reader, nil); len(out["items"].([]any)) != 1 {
		t.Errorf("acknowledged alerts: %d %v", code, out)
	}
	if code, out := f.call(t, "PATCH", "/v1/alerts/"+alert, f.admin, map[string]any{"status": "gone"}); code != 400 || field(out) != "status" {
		t.Errorf("bad status: %d %v", code, out)
	}
	if code, _ := f.call(t, "GET", "/v1/rules/"+id+"/baseline", f.reader, nil); code != 404 {
		t.Errorf("baseline before any runs: %d", code)
	}
	if code, _ := f.call(t, "DELETE", "/v1/rules/"+id, f.admin, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := f.call(t, "DELETE", "/v1/rules/"+id, f.admin, nil); code != 404 {
		t.Errorf("delete twice: %d", code)
	}
}

func TestTokensUsersFeeds(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_access")
	code, out := f.call(t, "POST", "/v1/tokens", f.admin, map[string]any{"name": "ci", "scopes": []string{"search", "read"}})
	if code != 201 || !strings.HasPrefix(fmt.Sprint(out["token"]), "nano_") {
		t.Fatalf("issue: %d %v", code, out)
	}
	tok, id := out["token"].(string), fmt.Sprint(out["id"])
	if code, _ := f.call(t, "GET", "/v1/rules", tok, nil); code != 200 {
		t.Errorf("the new token reads: %d", code)
	}
	code, out = f.call(t, "GET", "/v1/tokens", f.admin, nil)
	if b, _ := json.Marshal(out); code != 200 || strings.Contains(string(b), tok) || strings.Contains(string(b), "hash") {
		t.Errorf("the list shows secrets: %s", b)
	}
	if code, out := f.call(t, "POST", "/v1/tokens", f.admin, map[string]any{"name": "x", "scopes": []string{"root"}}); code != 400 || field(out) != "scopes" {
		t.Errorf("unknown scope: %d %v", code, out)
	}
	if code, _ := f.call(t, "DELETE", "/v1/tokens/"+id, f.admin, nil); code != 204 {
		t.Errorf("revoke: %d", code)
	}
	if code, out := f.call(t, "POST", "/v1/users", f.admin, map[string]any{"email": "not-an-address", "role": "admin"}); code != 400 || field(out) != "email" {
		t.Errorf("bad email: %d %v", code, out)
	}
	if code, _ := f.call(t, "POST", "/v1/users", f.admin, map[string]any{"email": "ana@example.com", "name": "Ana", "role": "analyst"}); code != 201 {
		t.Errorf("user: %d", code)
	}
	code, out = f.call(t, "POST", "/v1/feeds", f.admin, map[string]any{"name": "web", "kind": "hec"})
	if code != 201 {
		t.Fatalf("feed: %d %v", code, out)
	}
	code, out = f.call(t, "POST", fmt.Sprintf("/v1/feeds/%v/ingest-tokens", out["id"]), f.admin, nil)
	if code != 201 || !strings.HasPrefix(fmt.Sprint(out["token"]), "nano_") {
		t.Errorf("ingest token: %d %v", code, out)
	}
	var n int
	f.db.QueryRow(context.Background(), `SELECT count(*) FROM ingest_tokens WHERE hash = $1`, authtoken.Hash(out["token"].(string))).Scan(&n)
	if n != 1 {
		t.Error("the ingest token is not stored hashed")
	}
	// OpenTelemetry feeds (the database's kinds allow them, migration 7);
	// an unknown kind is refused naming the field.
	if code, out := f.call(t, "POST", "/v1/feeds", f.admin, map[string]any{"name": "apps", "kind": "otlp"}); code != 201 || out["kind"] != "otlp" {
		t.Errorf("otlp feed: %d %v", code, out)
	}
	if code, out := f.call(t, "POST", "/v1/feeds", f.admin, map[string]any{"name": "other", "kind": "gelf"}); code != 400 || field(out) != "kind" {
		t.Errorf("unknown kind: %d %v", code, out)
	}
	if code, _ := f.call(t, "POST", "/v1/feeds/999/ingest-tokens", f.admin, nil); code != 404 {
		t.Errorf("ingest token of a missing feed: %d", code)
	}
	if code, _ := f.call(t, "GET", "/v1/users", f.reader, nil); code != 403 {
		t.Errorf("a read token lists users: %d", code)
	}
	if code, _ := f.call(t, "GET", "/v1/users", "", nil); code != 401 {
		t.Errorf("no token: %d", code)
	}
}

func TestDashboardsCredentialsEnrichments(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_content")
	code, out := f.call(t, "POST", "/v1/dashboards", f.admin, map[string]any{"name": "ops", "definition": map[string]any{"panels": []any{map[string]any{"query": "level:error"}}}})
	if code != 201 {
		t.Fatalf("dashboard: %d %v", code, out)
	}
	if code, out := f.call(t, "POST", "/v1/dashboards", f.admin, map[string]any{"name": "bad", "definition": []int{1}}); code != 400 || field(out) != "definition" {
		t.Errorf("bad definition: %d %v", code, out)
	}
	if code, _ := f.call(t, "POST", "/v1/dashboards", f.admin, `{"name": "big", "definition": {"x": "`+strings.Repeat("a", 9000)+`"}}`); code != 413 {
		t.Errorf("oversized body: %d", code)
	}
	code, out = f.call(t, "POST", "/v1/credentials", f.admin, map[string]any{"name": "virustotal", "kind": "api_key", "secret": "s3cr3t-key"})
	if code != 201 || out["secret"] != nil {
		t.Fatalf("credential: %d %v", code, out)
	}
	var nonce, ct []byte
	if err := f.db.QueryRow(context.Background(), `SELECT nonce, ciphertext FROM credentials WHERE name = 'virustotal'`).Scan(&nonce, &ct); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("s3cr3t")) {
		t.Error("the credential is stored in clear")
	}
	if got, err := f.srv.Sealer.Open("acme", "virustotal", nonce, ct); err != nil || string(got) != "s3cr3t-key" {
		t.Errorf("open: %q %v", got, err)
	}
	if _, err := f.srv.Sealer.Open("globex", "virustotal", nonce, ct); err == nil {
		t.Error("a sealed secret opened for another tenant")
	}
	for body, want := range map[string]string{
		`{"name": "Bad", "source": "https://x.example/y.csv", "format": "csv", "interval_seconds": 3600}`:      "name",
		`{"name": "ipinfo", "source": "/etc/passwd", "format": "csv", "interval_seconds": 3600}`:               "source",
		`{"name": "ipinfo", "source": "https://x.example/y.csv", "format": "xml", "interval_seconds": 3600}`:   "format",
		`{"name": "ipinfo", "source": "https://x.example/y.csv", "format": "csv", "interval_seconds": 5}`:      "interval_seconds",
		`{"name": "ipinfo", "source": "https://x.example/y.csv", "format": "csv", "interval_seconds": "soon"}`: "interval_seconds",
	} {
		if code, out := f.call(t, "POST", "/v1/enrichments", f.admin, body); code != 400 || field(out) != want {
			t.Errorf("%s: %d %v, want %s", body, code, out, want)
		}
	}
	if code, _ := f.call(t, "POST", "/v1/enrichments", f.platform, `{"platform": true, "name": "ipinfo", "source": "/data/ipinfo.csv", "format": "csv", "interval_seconds": 3600}`); code != 201 {
		t.Errorf("enrichment: %d", code)
	}
	if code, out := f.call(t, "GET", "/v1/scheduler", f.reader, nil); code != 200 || out["this_replica_leads"] != false {
		t.Errorf("scheduler: %d %v", code, out)
	}
}

// Datasets belong to a tenant: another tenant's admin cannot list,
// replace or delete them (404, as for an id nobody has), takes the same
// name without learning it exists, and cannot make or change a platform
// dataset or give itself the platform scope. Sources come back redacted.
// A source inside the deployment is refused naming the field.
func TestEnrichmentsBelongToATenant(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_enrich_owner")
	secret := map[string]any{"name": "threats", "source": "https://feeduser:pa55w0rd@feeds.example.com/list.txt?api_key=SECRET123", "format": "list", "interval_seconds": 3600}
	code, out := f.call(t, "POST", "/v1/enrichments", f.admin, secret)
	if code != 201 || out["owner"] != "tenant" {
		t.Fatalf("acme's dataset: %d %v", code, out)
	}
	id := fmt.Sprint(out["id"])
	redacted := "https://redacted@feeds.example.com/list.txt?api_key=redacted"
	if out["source"] != redacted {
		t.Errorf("created: source %v, want %s", out["source"], redacted)
	}
	names := func(token string) map[string]map[string]any {
		t.Helper()
		code, out := f.call(t, "GET", "/v1/enrichments", token, nil)
		if code != 200 {
			t.Fatalf("list: %d %v", code, out)
		}
		got := map[string]map[string]any{}
		for _, it := range out["items"].([]any) {
			m := it.(map[string]any)
			got[fmt.Sprint(m["owner"], "/", m["name"], "/", m["id"])] = m
			if src := fmt.Sprint(m["source"]); strings.Contains(src, "pa55w0rd") || strings.Contains(src, "SECRET123") {
				t.Errorf("a listed source shows its credentials: %s", src)
			}
		}
		return got
	}
	if got := names(f.reader); len(got) != 1 || got["tenant/threats/"+id]["source"] != redacted {
		t.Errorf("acme's reader lists %v", got)
	}
	if got := names(f.other); len(got) != 0 {
		t.Errorf("globex lists %v", got)
	}
	replacement := map[string]any{"name": "threats", "source": "https://evil.example.net/list.txt", "format": "list", "interval_seconds": 3600}
	if code, out := f.call(t, "PUT", "/v1/enrichments/"+id, f.other, replacement); code != 404 {
		t.Errorf("globex replaces acme's dataset: %d %v", code, out)
	}
	if code, out := f.call(t, "DELETE", "/v1/enrichments/"+id, f.other, nil); code != 404 {
		t.Errorf("globex deletes acme's dataset: %d %v", code, out)
	}
	if code, out := f.call(t, "POST", "/v1/enrichments", f.other, replacement); code != 201 {
		t.Errorf("globex's own dataset of the same name: %d %v", code, out)
	}
	var source string
	if err := f.db.QueryRow(context.Background(), `SELECT source FROM enrichment_datasets WHERE id = $1 AND tenant = 'acme'`, id).Scan(&source); err != nil || source != secret["source"] {
		t.Errorf("acme's dataset after globex's attempts: %q %v", source, err)
	}
	// The owner replaces it; it loads again.
	if code, out := f.call(t, "PUT", "/v1/enrichments/"+id, f.admin, map[string]any{"name": "threats", "source": "https://feeds.example.com/v2.txt", "format": "list", "interval_seconds": 600}); code != 200 || out["interval_seconds"] != float64(600) {
		t.Errorf("acme replaces its dataset: %d %v", code, out)
	}

	// The platform's datasets: every tenant lists them; only the platform
	// scope makes or changes them.
	geo := map[string]any{"platform": true, "name": "geo", "source": "https://feeds.example.com/geo.csv", "format": "csv", "interval_seconds": 3600}
	if code, out := f.call(t, "POST", "/v1/enrichments", f.other, geo); code != 403 {
		t.Errorf("globex makes a platform dataset: %d %v", code, out)
	}
	code, out = f.call(t, "POST", "/v1/enrichments", f.platform, geo)
	if code != 201 || out["owner"] != "platform" {
		t.Fatalf("platform dataset: %d %v", code, out)
	}
	geoID := fmt.Sprint(out["id"])
	if got := names(f.other); got["platform/geo/"+geoID] == nil {
		t.Errorf("globex does not list the platform's dataset: %v", got)
	}
	delete(geo, "platform")
	if code, out := f.call(t, "PUT", "/v1/enrichments/"+geoID, f.other, geo); code != 403 {
		t.Errorf("globex replaces the platform's dataset: %d %v", code, out)
	}
	if code, out := f.call(t, "DELETE", "/v1/enrichments/"+geoID, f.admin, nil); code != 403 {
		t.Errorf("acme deletes the platform's dataset: %d %v", code, out)
	}
	if code, out := f.call(t, "POST", "/v1/tokens", f.other, map[string]any{"name": "escalate", "scopes": []string{"admin", "platform"}}); code != 403 || field(out) != "scopes" {
		t.Errorf("globex issues itself a platform token: %d %v", code, out)
	}
	if code, out := f.call(t, "POST", "/v1/tokens", f.platform, map[string]any{"name": "ops2", "scopes": []string{"platform"}}); code != 201 {
		t.Errorf("the platform issues a platform token: %d %v", code, out)
	}
	if code, out := f.call(t, "DELETE", "/v1/enrichments/"+geoID, f.platform, nil); code != 204 {
		t.Errorf("the platform deletes its dataset: %d %v", code, out)
	}

	// Sources inside the deployment, or files on the server, are refused.
	for source, want := range map[string]string{
		"http://clickhouse:8123/?query=SELECT+1":   "without a dot",
		"http://prometheus:9090/api/v1/query":      "without a dot",
		"http://127.0.0.1:8123/":                   "loopback",
		"http://169.254.169.254/latest/meta-data/": "link-local",
		"/data/ipinfo.csv":                         "platform datasets",
	} {
		code, out := f.call(t, "POST", "/v1/enrichments", f.admin, map[string]any{"name": "inside", "source": source, "format": "list", "interval_seconds": 3600})
		msg, _ := problem(out)["message"].(string)
		if code != 400 || field(out) != "source" || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %v, want 400 naming source and %q", source, code, out, want)
		}
	}
}

// Per-tenant limits: a tenant at its limit of rules, signal rules or
// datasets gets 409 naming the limit, however many requests it sends at
// once; another tenant is not affected; the platform's datasets do not
// count against the tenant that made them.
func TestTenantLimits(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_limits")
	f.srv.Limits = Limits{
		Rules:       quota.Limit{What: "detection rules", Key: "NANO_API_MAX_RULES", Max: 3},
		SignalRules: quota.Limit{What: "signal rules", Key: "NANO_API_MAX_SIGNAL_RULES", Max: 1},
		Datasets:    quota.Limit{What: "enrichment datasets", Key: "NANO_API_MAX_DATASETS", Max: 1},
	}
	rule := func(name string, signal bool) map[string]any {
		return map[string]any{"name": name, "query": "level:error", "schedule": "@every 5m", "window_seconds": 300, "threshold_op": ">", "threshold": 1, "signal": signal}
	}
	limited := func(what string, code int, out map[string]any, key string) {
		t.Helper()
		e := problem(out)
		if code != 409 || e["limit"] != key || !strings.Contains(fmt.Sprint(e["message"]), key) {
			t.Errorf("%s: %d %v, want 409 naming %s", what, code, out, key)
		}
	}
	if code, out := f.call(t, "POST", "/v1/rules", f.admin, rule("s1", true)); code != 201 {
		t.Fatalf("first signal rule: %d %v", code, out)
	}
	code, out := f.call(t, "POST", "/v1/rules", f.admin, rule("s2", true))
	limited("second signal rule", code, out, "NANO_API_MAX_SIGNAL_RULES")
	code, out = f.call(t, "POST", "/v1/rules", f.admin, rule("r2", false))
	if code != 201 {
		t.Fatalf("scheduled rule: %d %v", code, out)
	}
	code, out = f.call(t, "PUT", fmt.Sprintf("/v1/rules/%v", out["id"]), f.admin, rule("r2", true))
	limited("a rule turned signal", code, out, "NANO_API_MAX_SIGNAL_RULES")
	if code, out := f.call(t, "POST", "/v1/rules", f.admin, rule("r3", false)); code != 201 {
		t.Fatalf("third rule: %d %v", code, out)
	}
	code, out = f.call(t, "POST", "/v1/rules", f.admin, rule("r4", false))
	limited("fourth rule", code, out, "NANO_API_MAX_RULES")
	if code, out := f.call(t, "POST", "/v1/rules", f.other, rule("s1", true)); code != 201 {
		t.Errorf("another tenant's signal rule: %d %v", code, out)
	}

	// Eight at once for one place: one wins.
	ds := func(name string) map[string]any {
		return map[string]any{"name": name, "source": "https://feeds.example.com/" + name, "format": "list", "interval_seconds": 3600}
	}
	codes := make(chan int, 8)
	for i := range 8 {
		go func() {
			code, _ := f.call(t, "POST", "/v1/enrichments", f.other, ds(fmt.Sprintf("d%d", i)))
			codes <- code
		}()
	}
	won := 0
	for range 8 {
		switch c := <-codes; c {
		case 201:
			won++
		case 409:
		default:
			t.Errorf("a concurrent dataset: %d", c)
		}
	}
	if won != 1 {
		t.Errorf("%d of 8 concurrent datasets created with a limit of 1", won)
	}
	code, out = f.call(t, "POST", "/v1/enrichments", f.other, ds("late"))
	limited("a dataset over the limit", code, out, "NANO_API_MAX_DATASETS")
	if code, out := f.call(t, "POST", "/v1/enrichments", f.platform, ds("mine")); code != 201 {
		t.Errorf("the operator's tenant dataset: %d %v", code, out)
	}
	p := ds("shared")
	p["platform"] = true
	if code, out := f.call(t, "POST", "/v1/enrichments", f.platform, p); code != 201 {
		t.Errorf("a platform dataset beside the tenant's one: %d %v", code, out)
	}
}

// The public prefix (what Caddy and the Ingress forward, unstripped)
// reaches the API and its OpenAPI document, never the operational
// endpoints; the service's own paths (Prometheus, probes) still do.
func TestOpsEndpointsAreNotPublic(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_ops")
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.url+path, nil)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(contract.APIPrefix + "/openapi.json"); code != 200 {
		t.Errorf("the OpenAPI document under the prefix: %d", code)
	}
	if code, _ := get(contract.APIPrefix + "/v1/alerts"); code != 401 {
		t.Errorf("the API under the prefix: %d, want 401", code)
	}
	for _, path := range []string{"/metrics", "/readyz", "/healthz", "/version", "//metrics", "/./metrics", "/x/../metrics", "/%6detrics", "/metrics/"} {
		code, body := get(contract.APIPrefix + path)
		if code == 200 || strings.Contains(body, "go_goroutines") || strings.Contains(body, "test") && path == "/version" {
			t.Errorf("GET %s%s: %d %.80q, want it refused", contract.APIPrefix, path, code, body)
		}
	}
	for path, want := range map[string]string{"/metrics": "nano_api_requests_total", "/readyz": "ready", "/version": "test", "/healthz": "ok"} {
		if code, body := get(path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s inside the deployment: %d %.80q", path, code, body)
		}
	}
}

// The OpenAPI document lists every route the server serves, with its
// method, and is valid JSON of OpenAPI 3.1.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_openapi")
	resp, err := http.Get(f.url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("%v %v", doc.OpenAPI, err)
	}
	n := 0
	for _, r := range f.srv.routes() {
		op := doc.Paths[r.path][strings.ToLower(r.method)]
		if op == nil || op["summary"] == "" {
			t.Errorf("%s %s is not documented", r.method, r.path)
		}
		n++
	}
	total := 0
	for _, ops := range doc.Paths {
		total += len(ops)
	}
	if total != n {
		t.Errorf("the document has %d operations, the server %d", total, n)
	}
	rules := doc.Paths["/v1/rules"]["post"]["requestBody"].(map[string]any)
	if b, _ := json.Marshal(rules); !strings.Contains(string(b), `"threshold_op"`) {
		t.Errorf("the rule body schema lacks its fields: %s", b)
	}
}
