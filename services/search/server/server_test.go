package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/history"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/search/sqlgen"
	"github.com/nanosiem/nano/services/servicemain"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var (
	pg *harness.Postgres
	ch *harness.ClickHouse
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fixture is a running search API over real ClickHouse and PostgreSQL.
type fixture struct {
	srv                  *Server
	url                  string
	acme, other, noScope string
	// viewer searches but keeps no saved searches (no write scope).
	viewer                  string
	db                      *pgxpool.Pool
	acmeEvents, otherEvents int
}

func setup(t *testing.T, name string, limits runner.Limits, adm admission.Config) *fixture {
	harness.Servers(t)
	t.Helper()
	ctx := context.Background()
	_, db := metafixture.New(t, pg, name)
	f := &fixture{db: db}
	for _, tenant := range []string{"acme", "other"} {
		if err := metadb.EnsureTenant(ctx, db, tenant, tenant); err != nil {
			t.Fatal(err)
		}
	}
	issue := func(tenant string, scopes ...string) string {
		tok, _, err := authtoken.Issue(ctx, db, tenant, nil, "test", scopes, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	f.acme, f.other, f.noScope = issue("acme", authtoken.ScopeSearch, authtoken.ScopeWrite), issue("other", authtoken.ScopeSearch, authtoken.ScopeWrite), issue("acme", authtoken.ScopeRead)
	f.viewer = issue("acme", authtoken.RoleScopes[authtoken.RoleViewer]...)

	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: name}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, events.InsertSQL(e.Table()))
	if err != nil {
		t.Fatal(err)
	}
	// 300 acme events a second apart, then 25 at one instant (ties), and
	// 50 of another tenant.
	add := func(ev events.Event) {
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
		if ev.Tenant == "acme" {
			f.acmeEvents++
		} else {
			f.otherEvents++
		}
	}
	for i := 0; i < 300; i++ {
		add(events.Event{Time: now.Add(-time.Duration(i+1) * time.Second), Tenant: "acme", Feed: "http", Service: []string{"api", "web", "db"}[i%3],
			Host: fmt.Sprintf("h%d", i%5), Severity: []string{"info", "error"}[i%2], Message: fmt.Sprintf("event %d", i),
			Attributes: events.Attrs{{Key: "n", Value: fmt.Sprint(i)}}})
	}
	tie := now.Add(-30*time.Minute + 123456789)
	for i := 0; i < 25; i++ {
		add(events.Event{Time: tie, Tenant: "acme", Feed: "http", Service: "tie", Message: fmt.Sprintf("tie %d", i)})
	}
	for i := 0; i < 50; i++ {
		add(events.Event{Time: now.Add(-time.Duration(i+1) * time.Second), Tenant: "other", Service: "api", Severity: "error", Message: "secret of other"})
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(ctx, conn, limits)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	if adm.Global == 0 {
		adm = admission.Config{Global: 4, PerTenant: 2, MaxWaiting: 8, Wait: time.Second}
	}
	ac, err := admission.New(adm, m)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = &Server{
		Config: Config{Table: e.Table(), DefaultRange: 24 * time.Hour, DefaultPageRows: 100, MaxPageRows: 1000, MaxBodyBytes: 4 << 10,
			Timeout: 20 * time.Second, Version: "test"},
		Runner: r, Store: &history.Store{DB: db}, Tokens: &authtoken.Verifier{DB: db, TTL: time.Second}, Admission: ac, Metrics: m,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(context.Context) error { return nil }, Now: func() time.Time { return now },
	}
	api := f.srv.Handler()
	hs := httptest.NewServer(servicemain.Prefixed(contract.SearchPrefix, api, f.srv.Internal(api)))
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

type result struct {
	Columns []struct{ Name, Type string } `json:"columns"`
	Rows    [][]any                       `json:"rows"`
	Count   int                           `json:"count"`
	Next    *string                       `json:"next_cursor"`
	Stats   struct {
		RowsRead  uint64  `json:"rows_read"`
		BytesRead uint64  `json:"bytes_read"`
		ElapsedMS float64 `json:"elapsed_ms"`
	} `json:"stats"`
	// Errors is the error envelope, or the tail's of a search that failed
	// after rows were sent.
	Errors []jsonhttp.Problem `json:"errors"`
}

// problem is the first problem answered (the zero Problem for none).
func (r result) problem() jsonhttp.Problem {
	if len(r.Errors) == 0 {
		return jsonhttp.Problem{}
	}
	return r.Errors[0]
}

func (f *fixture) call(t *testing.T, method, path, token string, body any) (*http.Response, []byte) {
	t.Helper()
	resp := harness.Send(t, method, f.url+path, token, body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (f *fixture) search(t *testing.T, token string, body map[string]any) (int, result) {
	t.Helper()
	resp, b := f.call(t, "POST", "/v1/search", token, body)
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return resp.StatusCode, r
}

func TestSearchResultsAndIsolation(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_results", runner.Limits{}, admission.Config{})
	code, r := f.search(t, f.acme, map[string]any{"query": "level:error service:api | fields ts, service, n", "page_size": 1000})
	if code != 200 || len(r.Errors) != 0 {
		t.Fatalf("%d %+v", code, r.Errors)
	}
	if r.Count != 50 || len(r.Rows) != 50 || r.Next != nil {
		t.Errorf("count %d rows %d next %v, want 50 and no next page", r.Count, len(r.Rows), r.Next)
	}
	if len(r.Columns) != 3 || r.Columns[0].Name != "timestamp" || r.Columns[0].Type != "DateTime64(9)" || r.Columns[2].Name != "n" {
		t.Errorf("columns %+v", r.Columns)
	}
	if r.Stats.RowsRead == 0 || r.Stats.BytesRead == 0 || r.Stats.ElapsedMS <= 0 {
		t.Errorf("stats %+v, want rows and bytes read and the time it took", r.Stats)
	}
	// An event search newest first (windowed keyset reads) reports them too.
	if _, r := f.search(t, f.acme, map[string]any{"query": "level:error service:api"}); r.Count == 0 || r.Stats.RowsRead == 0 || r.Stats.ElapsedMS <= 0 {
		t.Errorf("newest-first event search: count %d stats %+v, want rows read and the time it took", r.Count, r.Stats)
	}
	// The other tenant's events are invisible to acme, and acme's to it.
	_, r = f.search(t, f.acme, map[string]any{"query": `"secret of other"`})
	if r.Count != 0 {
		t.Errorf("acme sees %d events of other", r.Count)
	}
	_, r = f.search(t, f.other, map[string]any{"query": `| stats count()`})
	if len(r.Rows) != 1 || r.Rows[0][0] != float64(f.otherEvents) {
		t.Errorf("other counts %v, want %d", r.Rows, f.otherEvents)
	}
	// The time range bounds the search.
	_, r = f.search(t, f.acme, map[string]any{"query": `| stats count()`, "from": "-10s", "to": "now"})
	if r.Rows[0][0] != float64(10) {
		t.Errorf("last 10 s: %v events, want 10", r.Rows[0][0])
	}
}

// Paging through every acme event, 7 at a time, returns each exactly once,
// newest first, across 25 events that share one timestamp.
func TestCursorPagination(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_pages", runner.Limits{}, admission.Config{})
	seen := map[string]bool{}
	var last string
	body := map[string]any{"query": "", "page_size": 7}
	pages := 0
	for {
		code, r := f.search(t, f.acme, body)
		if code != 200 {
			t.Fatalf("page %d: %d %+v", pages, code, r.Errors)
		}
		pages++
		for _, row := range r.Rows {
			ts, msg := row[0].(string), row[5].(string)
			if last != "" && ts > last {
				t.Fatalf("page %d: %s after %s", pages, ts, last)
			}
			last = ts
			if seen[msg] {
				t.Fatalf("page %d: %q twice", pages, msg)
			}
			seen[msg] = true
		}
		if r.Next == nil {
			break
		}
		body["cursor"] = *r.Next
	}
	if len(seen) != f.acmeEvents {
		t.Errorf("%d events over %d pages, want %d", len(seen), pages, f.acmeEvents)
	}
	// Stats pages by offset; | limit caps the total across pages.
	body = map[string]any{"query": "| stats count() by n | sort n | limit 20", "page_size": 8}
	total := 0
	for {
		_, r := f.search(t, f.acme, body)
		total += r.Count
		if r.Next == nil {
			break
		}
		body["cursor"] = *r.Next
	}
	if total != 20 {
		t.Errorf("stats pages held %d rows, want the limit of 20", total)
	}
	// A cursor only continues its own query.
	_, r := f.search(t, f.acme, map[string]any{"query": "", "page_size": 3})
	code, r2 := f.search(t, f.acme, map[string]any{"query": "level:error", "cursor": *r.Next})
	if code != 400 || !strings.Contains(r2.problem().Message, "another query") {
		t.Errorf("foreign cursor: %d %+v", code, r2.Errors)
	}
	code, r2 = f.search(t, f.acme, map[string]any{"query": "", "cursor": "!!"})
	if code != 400 {
		t.Errorf("garbage cursor: %d", code)
	}
}

func TestBadRequests(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_bad", runner.Limits{}, admission.Config{})
	code, r := f.search(t, f.acme, map[string]any{"query": "level:error (a OR"})
	if code != 400 || r.problem().Column != 18 || !strings.Contains(r.problem().Message, "expected a search term") {
		t.Errorf("parse error: %d %+v", code, r.Errors)
	}
	code, r = f.search(t, f.acme, map[string]any{"query": "x>abc"})
	if code != 400 || r.problem().Column != 3 {
		t.Errorf("compile error: %d %+v", code, r.Errors)
	}
	for body, want := range map[string]string{
		`{"query": "a", "page_size": 100000}`: "page_size", `{"query": "a", "from": "yesterday"}`: `"field":"from"`,
		`{"query": "a", "from": "now", "to": "-1h"}`: `"message":"before from","field":"to"`, `{"query": "a", "bogus": 1}`: "unknown field",
		`{"query": "a"} {}`: "more than one", `not json`: "not the expected JSON",
	} {
		resp, b := f.call(t, "POST", "/v1/search", f.acme, body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	resp, _ := f.call(t, "POST", "/v1/search", f.acme, `{"query": "`+strings.Repeat("a", 5000)+`"}`)
	if resp.StatusCode != 413 {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
	resp, _ = f.call(t, "POST", "/v1/search", "", `{}`)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	resp, _ = f.call(t, "POST", "/v1/search", "nano_"+strings.Repeat("A", 43), `{}`)
	if resp.StatusCode != 401 {
		t.Errorf("unknown token: %d", resp.StatusCode)
	}
	resp, _ = f.call(t, "POST", "/v1/search", f.noScope, `{}`)
	if resp.StatusCode != 403 {
		t.Errorf("token without the search scope: %d", resp.StatusCode)
	}
}

// A search over the server's limits fails with 422 and the history says so.
func TestLimitsAndHistory(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_limits", runner.Limits{MaxRowsToRead: 50}, admission.Config{})
	code, r := f.search(t, f.acme, map[string]any{"query": "event"})
	if code != 422 || !strings.Contains(r.problem().Message, "exceeded a limit") {
		t.Errorf("over max rows: %d %+v", code, r.Errors)
	}
	f.search(t, f.acme, map[string]any{"query": "level:"})
	resp, b := f.call(t, "GET", "/v1/history?limit=10", f.acme, nil)
	var h struct {
		Items []history.Entry `json:"items"`
	}
	if err := json.Unmarshal(b, &h); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if len(h.Items) != 2 || h.Items[0].Query != "level:" || h.Items[0].Status != "invalid" || h.Items[1].Status != "failed" ||
		!h.Items[1].To.Equal(now) || h.Items[1].Error == "" {
		t.Errorf("history %+v", h.Items)
	}
	_, b = f.call(t, "GET", "/v1/history", f.other, nil)
	if !strings.Contains(string(b), `"items":[]`) {
		t.Errorf("other tenant's history: %s", b)
	}
}

// Searches beyond the tenant's slots wait, then get 429 with Retry-After;
// metrics count them.
func TestAdmissionControl(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_admission", runner.Limits{}, admission.Config{Global: 2, PerTenant: 1, MaxWaiting: 4, Wait: 200 * time.Millisecond})
	release, err := f.srv.Admission.Acquire(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	resp, b := f.call(t, "POST", "/v1/search", f.acme, map[string]any{"query": ""})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), "this tenant") {
		t.Errorf("busy tenant: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	// Another tenant still runs.
	if code, _ := f.search(t, f.other, map[string]any{"query": ""}); code != 200 {
		t.Errorf("other tenant: %d", code)
	}
	// A waiting search is admitted when the slot frees.
	go func() { time.Sleep(50 * time.Millisecond); release() }()
	if code, _ := f.search(t, f.acme, map[string]any{"query": ""}); code != 200 {
		t.Errorf("search after the slot freed: %d", code)
	}
	_, b = f.call(t, "GET", "/metrics", "", nil)
	for _, want := range []string{`nano_search_rejected_total{reason="tenant_busy"} 1`, "nano_search_admitted_total 3", "nano_search_queued 0",
		"nano_search_running 0", `nano_search_query_duration_seconds_count{kind="events",status="ok"} 2`, `nano_search_requests_total{code="429",route="search"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestSavedSearches(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_saved", runner.Limits{}, admission.Config{})
	resp, b := f.call(t, "POST", "/v1/saved-searches", f.acme, map[string]any{"name": "errors", "query": "level:error", "from": "-24h"})
	var s history.Saved
	if err := json.Unmarshal(b, &s); err != nil || resp.StatusCode != 201 || s.ID == 0 || s.From != "-24h" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if resp, _ = f.call(t, "POST", "/v1/saved-searches", f.acme, map[string]any{"name": "errors", "query": "x"}); resp.StatusCode != 409 {
		t.Errorf("duplicate name: %d", resp.StatusCode)
	}
	resp, b = f.call(t, "POST", "/v1/saved-searches", f.acme, map[string]any{"name": "bad", "query": "a OR"})
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"column":5`) {
		t.Errorf("bad query: %d %s", resp.StatusCode, b)
	}
	if resp, _ = f.call(t, "POST", "/v1/saved-searches", f.acme, map[string]any{"name": "", "query": "a"}); resp.StatusCode != 400 {
		t.Errorf("empty name: %d", resp.StatusCode)
	}
	id := fmt.Sprint(s.ID)
	resp, b = f.call(t, "PUT", "/v1/saved-searches/"+id, f.acme, map[string]any{"name": "errors", "query": "level>=error", "to": "now"})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `level\u003e=error`) {
		t.Errorf("update: %d %s", resp.StatusCode, b)
	}
	if resp, _ = f.call(t, "GET", "/v1/saved-searches/"+id, f.other, nil); resp.StatusCode != 404 {
		t.Errorf("other tenant reads acme's saved search: %d", resp.StatusCode)
	}
	for i := 0; i < 3; i++ {
		f.call(t, "POST", "/v1/saved-searches", f.acme, map[string]any{"name": fmt.Sprint("s", i), "query": "x"})
	}
	resp, b = f.call(t, "GET", "/v1/saved-searches?limit=2", f.acme, nil)
	var list struct {
		Items []history.Saved `json:"items"`
		Next  string          `json:"next_cursor"`
	}
	json.Unmarshal(b, &list)
	if len(list.Items) != 2 || list.Next == "" {
		t.Fatalf("list: %s", b)
	}
	_, b = f.call(t, "GET", "/v1/saved-searches?limit=2&cursor="+list.Next, f.acme, nil)
	json.Unmarshal(b, &list)
	if len(list.Items) != 2 {
		t.Errorf("second page: %s", b)
	}
	if resp, _ = f.call(t, "DELETE", "/v1/saved-searches/"+id, f.acme, nil); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ = f.call(t, "DELETE", "/v1/saved-searches/"+id, f.acme, nil); resp.StatusCode != 404 {
		t.Errorf("delete twice: %d", resp.StatusCode)
	}
	if resp, _ = f.call(t, "GET", "/v1/saved-searches/abc", f.acme, nil); resp.StatusCode != 400 {
		t.Errorf("bad id: %d", resp.StatusCode)
	}

	// A viewer reads saved searches but changes none; the refusal and every
	// change are in the audit trail, with the saved search before and after.
	if resp, _ = f.call(t, "GET", "/v1/saved-searches", f.viewer, nil); resp.StatusCode != 200 {
		t.Errorf("viewer lists saved searches: %d", resp.StatusCode)
	}
	if resp, b = f.call(t, "POST", "/v1/saved-searches", f.viewer, map[string]any{"name": "mine", "query": "x"}); resp.StatusCode != 403 ||
		!strings.Contains(string(b), "write scope") {
		t.Errorf("viewer saves a search: %d %s", resp.StatusCode, b)
	}
	rows, err := f.db.Query(context.Background(), `SELECT action, outcome, object_id, coalesce(before->>'query', ''), coalesce(after->>'query', ''), service
FROM audit_log WHERE tenant = 'acme' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for rows.Next() {
		var action, outcome, object, before, after, service string
		rows.Scan(&action, &outcome, &object, &before, &after, &service)
		if service != "search" {
			t.Errorf("entry of service %q", service)
		}
		trail = append(trail, fmt.Sprintf("%s %s %s [%s]->[%s]", action, outcome, object, before, after))
	}
	want := []string{
		"saved_search.create ok " + id + " []->[level:error]",
		"saved_search.update ok " + id + " [level:error]->[level>=error]",
	}
	if len(trail) < 7 || trail[0] != want[0] || trail[1] != want[1] || !strings.HasPrefix(trail[5], "saved_search.delete ok "+id+" [level>=error]->[]") ||
		!strings.HasPrefix(trail[len(trail)-1], "saved_search.create denied") {
		t.Errorf("audit trail:\n%s", strings.Join(trail, "\n"))
	}
}

// A tenant at its limit of saved searches gets 409 naming the limit;
// another tenant still saves.
func TestSavedSearchLimit(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_saved_limit", runner.Limits{}, admission.Config{})
	f.srv.Store.MaxSaved = quota.Limit{What: "saved searches", Key: "NANO_SEARCH_MAX_SAVED_SEARCHES", Max: 2}
	for i, want := range []int{201, 201, 409, 409} {
		resp, b := f.call(t, "POST", "/v1/saved-searches", f.acme, map[string]any{"name": fmt.Sprint("s", i), "query": "level:error"})
		if resp.StatusCode != want {
			t.Fatalf("saved search %d: %d %s, want %d", i, resp.StatusCode, b, want)
		}
		if want == 409 && (!strings.Contains(string(b), `"limit":"NANO_SEARCH_MAX_SAVED_SEARCHES"`) || !strings.Contains(string(b), "has 2 saved searches")) {
			t.Errorf("over the limit: %s", b)
		}
	}
	if resp, b := f.call(t, "POST", "/v1/saved-searches", f.other, map[string]any{"name": "s0", "query": "level:error"}); resp.StatusCode != 201 {
		t.Errorf("another tenant: %d %s", resp.StatusCode, b)
	}
}

// Server-side failures get honest statuses: a ClickHouse that does not
// answer is 503 (retry), a query too complex for it is 400, never a bare
// 502 "EOF".
func TestSearchFailureStatuses(t *testing.T) {
	harness.Servers(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, runErr := (&runner.Runner{Conn: conn}).Run(context.Background(), &sqlgen.Statement{SQL: "SELECT 1"}, func([]any) error { return nil })
	if code, msg, _ := searchFailure(runErr, false); code != http.StatusServiceUnavailable {
		t.Errorf("unreachable ClickHouse (%v): %d %s, want 503", runErr, code, msg)
	}
	if code, _, _ := searchFailure(fmt.Errorf("cannot run the search: %w", &clickhouse.Exception{Code: 167, Message: "AST is too deep"}), false); code != http.StatusBadRequest {
		t.Errorf("TOO_DEEP_AST: %d, want 400", code)
	}
	if code, _, _ := searchFailure(fmt.Errorf("cannot run the search: %w", &clickhouse.Exception{Code: 158, Message: "Limit for rows"}), false); code != http.StatusUnprocessableEntity {
		t.Errorf("TOO_MANY_ROWS: %d, want 422", code)
	}
}

// | lookup keeps the events whose field is in an enrichment dataset, as the
// api's enrichment sync loads them (enrich_<id>, String columns). A name
// resolves to the tenant's own dataset, else the platform's: one tenant
// never reads another's, whatever it names; a dataset or column that is
// not loaded is the query's fault (400).
func TestLookupStage(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_lookup", runner.Limits{}, admission.Config{})
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// register stores a dataset's row as the api does (tenant "" is the
	// platform's) and returns its id.
	register := func(tenant, name string) int64 {
		var id int64
		if err := f.db.QueryRow(ctx, `INSERT INTO enrichment_datasets (tenant, name, source, format, interval_seconds)
VALUES (NULLIF($1, ''), $2, 'https://feeds.example.com/x', 'list', 3600) RETURNING id`, tenant, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	load := func(tenant, dataset string, cols []string, rows ...[]any) {
		table := events.EnrichmentTable("search_lookup", register(tenant, dataset))
		if err := conn.Exec(ctx, "CREATE TABLE "+table+" ("+strings.Join(cols, " String, ")+" String) ENGINE = MergeTree() ORDER BY tuple()"); err != nil {
			t.Fatal(err)
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+")")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	load("acme", "hot", []string{"indicator"}, []any{"7"}, []any{"8"}, []any{"9"}, []any{"1000"})
	load("", "owners", []string{"host", "owner"}, []any{"h1", "ops"})
	// acme's private list, and the other tenant's own "hot" (different rows).
	load("acme", "secret", []string{"indicator"}, []any{"api"})
	load("other", "hot", []string{"indicator"}, []any{"api"})
	// A platform dataset named like acme's own: acme's wins for acme.
	load("", "hot", []string{"indicator"}, []any{"1"}, []any{"2"})
	for _, c := range []struct {
		query string
		want  float64
	}{
		{"| lookup hot on n | stats count()", 3},
		// service api is every 3rd event, host h1 every 5th from the 2nd.
		{"service:api | lookup owners.host on host | stats count()", 20},
		{"| lookup hot on n | lookup owners.host on host | stats count()", 0},
		{"NOT service:api | lookup hot on n | stats count()", 2},
	} {
		code, r := f.search(t, f.acme, map[string]any{"query": c.query})
		if code != 200 || len(r.Rows) != 1 || r.Rows[0][0] != c.want {
			t.Errorf("%s: %d %v %+v, want %v", c.query, code, r.Rows, r.Errors, c.want)
		}
	}
	// The other tenant's events stay invisible through a lookup of a
	// platform dataset.
	if _, r := f.search(t, f.other, map[string]any{"query": "| lookup owners.host on host | stats count()"}); len(r.Rows) != 1 || r.Rows[0][0] != float64(0) {
		t.Errorf("other tenant through a lookup: %v", r.Rows)
	}
	// "hot" is the other tenant's own list for it (its 50 events have
	// service api, none an n), never acme's.
	if code, r := f.search(t, f.other, map[string]any{"query": "| lookup hot on service | stats count()"}); code != 200 || len(r.Rows) != 1 || r.Rows[0][0] != float64(50) {
		t.Errorf("other tenant's own hot: %d %v %+v", code, r.Rows, r.Errors)
	}
	// acme's private dataset does not exist for the other tenant: the same
	// answer as a name nobody has.
	for _, q := range []string{"| lookup secret on service", "| lookup nobody_has_this on service"} {
		code, r := f.search(t, f.other, map[string]any{"query": q})
		if code != 400 || len(r.Errors) == 0 || !strings.Contains(r.problem().Message, "of this tenant or the platform") || r.problem().Column != 3 {
			t.Errorf("%s by the other tenant: %d %+v, want 400 at column 3", q, code, r.Errors)
		}
	}
	if code, r := f.search(t, f.acme, map[string]any{"query": "| lookup owners.nope on host"}); code != 400 || len(r.Errors) == 0 || !strings.Contains(r.problem().Message, "enrichment dataset or column that is not loaded") {
		t.Errorf("missing column: %d %+v, want 400 naming the missing column", code, r.Errors)
	}
	if code, r := f.search(t, f.acme, map[string]any{"query": "| stats count() | lookup hot on n"}); code != 400 || len(r.Errors) == 0 || r.problem().Column != 19 {
		t.Errorf("lookup after stats: %d %+v, want 400 at column 19", code, r.Errors)
	}
	// The histogram resolves the same way.
	if resp, b := f.call(t, "POST", "/v1/histogram", f.other, map[string]any{"query": "| lookup secret on service"}); resp.StatusCode != 400 || !strings.Contains(string(b), "of this tenant or the platform") {
		t.Errorf("histogram lookup of another tenant's dataset: %d %s", resp.StatusCode, b)
	}
}

// The histogram counts a query's events per step of its range: every
// bucket present, zeros included, the tenant's events only, and the
// buckets add up to what a stats count() answers for the same range.
func TestHistogram(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_histogram", runner.Limits{}, admission.Config{})
	type histogram struct {
		StepSeconds int64 `json:"step_seconds"`
		Buckets     []struct {
			T      int64  `json:"t"`
			Events uint64 `json:"events"`
		} `json:"buckets"`
		Total uint64 `json:"total"`
	}
	get := func(body map[string]any) (int, histogram, []byte) {
		resp, b := f.call(t, "POST", "/v1/histogram", f.acme, body)
		var h histogram
		json.Unmarshal(b, &h)
		return resp.StatusCode, h, b
	}
	// 300 events a second apart end at now: over the last hour, 1-minute
	// buckets, five of them non-empty (60 each); the 25 ties 30 min ago.
	code, h, b := get(map[string]any{"query": "", "from": "-1h", "to": "now"})
	if code != 200 || h.StepSeconds != 60 || len(h.Buckets) != 61 || h.Total != 325 {
		t.Fatalf("%d step %d buckets %d total %d: %s", code, h.StepSeconds, len(h.Buckets), h.Total, b)
	}
	var sum uint64
	nonEmpty := 0
	for i, bk := range h.Buckets {
		if bk.T%60 != 0 || (i > 0 && bk.T != h.Buckets[i-1].T+60) {
			t.Fatalf("bucket %d at %d: not consecutive minutes", i, bk.T)
		}
		sum += bk.Events
		if bk.Events > 0 {
			nonEmpty++
		}
	}
	if sum != 325 || nonEmpty != 6 || h.Buckets[len(h.Buckets)-2].Events != 60 {
		t.Errorf("sum %d, %d non-empty buckets, last full minute %d: %+v", sum, nonEmpty, h.Buckets[len(h.Buckets)-2].Events, h.Buckets)
	}
	_, r := f.search(t, f.acme, map[string]any{"query": "service:api | stats count()", "from": "-1h", "to": "now"})
	if _, h, _ := get(map[string]any{"query": "service:api | stats count() by host", "from": "-1h", "to": "now"}); float64(h.Total) != r.Rows[0][0] {
		t.Errorf("service:api histogram total %d, stats count %v", h.Total, r.Rows[0][0])
	}
	// A bad query names its column; a bad range names the field.
	if code, _, b := get(map[string]any{"query": "level:error AND", "from": "-1h"}); code != 400 || !strings.Contains(string(b), `"column":16`) {
		t.Errorf("bad query: %d %s", code, b)
	}
	if code, _, b := get(map[string]any{"query": "", "from": "yesterday-ish"}); code != 400 || !strings.Contains(string(b), `"field":"from"`) {
		t.Errorf("bad range: %d %s", code, b)
	}
}
