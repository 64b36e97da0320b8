package server

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/metadb"
)

// wantScope is who may call each route, written out apart from the route
// table so that a route added or changed there must be classified here
// too: public (no credential), session (anyone signed in) or a scope (a
// role holds it per authtoken.RoleScopes).
var wantScope = map[string]string{
	"GET /v1/auth/config":               "public",
	"GET /v1/auth/login":                "public",
	"GET /v1/auth/callback":             "public",
	"POST /v1/auth/logout":              "session",
	"GET /v1/session":                   "session",
	"GET /v1/sessions":                  "admin",
	"DELETE /v1/sessions/{id}":          "admin",
	"GET /v1/audit":                     "admin",
	"GET /v1/tokens":                    "admin",
	"POST /v1/tokens":                   "admin",
	"DELETE /v1/tokens/{id}":            "admin",
	"GET /v1/users":                     "admin",
	"POST /v1/users":                    "admin",
	"PATCH /v1/users/{id}":              "admin",
	"DELETE /v1/users/{id}":             "admin",
	"GET /v1/feeds":                     "read",
	"POST /v1/feeds":                    "admin",
	"DELETE /v1/feeds/{id}":             "admin",
	"POST /v1/feeds/{id}/ingest-tokens": "admin",
	"GET /v1/rules":                     "read",
	"POST /v1/rules":                    "write",
	"GET /v1/rules/{id}":                "read",
	"PUT /v1/rules/{id}":                "write",
	"DELETE /v1/rules/{id}":             "write",
	"POST /v1/rules/test":               "write",
	"POST /v1/rules/{id}/test":          "write",
	"GET /v1/rules/{id}/runs":           "read",
	"GET /v1/rules/{id}/baseline":       "read",
	"GET /v1/alerts":                    "read",
	"PATCH /v1/alerts/{id}":             "write",
	"GET /v1/delivery":                  "read",
	"GET /v1/silences":                  "read",
	"POST /v1/silences":                 "alerts",
	"DELETE /v1/silences/{id}":          "alerts",
	"GET /v1/dashboards":                "read",
	"POST /v1/dashboards":               "write",
	"GET /v1/dashboards/{id}":           "read",
	"PUT /v1/dashboards/{id}":           "write",
	"DELETE /v1/dashboards/{id}":        "write",
	"GET /v1/credentials":               "admin",
	"POST /v1/credentials":              "admin",
	"DELETE /v1/credentials/{id}":       "admin",
	"GET /v1/enrichments":               "read",
	"POST /v1/enrichments":              "admin",
	"PUT /v1/enrichments/{id}":          "admin",
	"DELETE /v1/enrichments/{id}":       "admin",
	"GET /v1/scheduler":                 "read",
}

// cred is how a test request authenticates: a bearer token, or a session
// cookie with (csrf) or without its CSRF token.
type cred struct {
	name          string
	token         string
	session, csrf string
	scopes        []string
}

func (c cred) can(scope string) bool {
	p := authtoken.Principal{Scopes: c.scopes}
	return scope == scopeSession || p.Can(scope)
}

func (f *fixture) as(t *testing.T, method, path string, c cred, body any) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, harness.RequestBody(t, body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.session != "" {
		req.AddCookie(&http.Cookie{Name: authtoken.SessionCookie, Value: c.session})
	}
	if c.csrf != "" {
		req.Header.Set(authtoken.CSRFHeader, c.csrf)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out, resp.Header
}

// person creates a user of tenant with role and opens a session for it.
func (f *fixture) person(t *testing.T, tenant, email, role string) cred {
	t.Helper()
	ctx := context.Background()
	if err := metadb.EnsureTenant(ctx, f.db, tenant, tenant); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := f.db.QueryRow(ctx, `INSERT INTO users (tenant, email, name, role, oidc_issuer, oidc_subject) VALUES ($1, $2, $2, $3, 'https://idp.example', $2)
RETURNING id`, tenant, email, role).Scan(&id); err != nil {
		t.Fatal(err)
	}
	secret, _, _, err := authtoken.NewSession(ctx, f.db, tenant, id, role, authtoken.SessionOptions{TTL: time.Hour, Idle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return cred{name: role + " session", session: secret, csrf: authtoken.CSRFToken(secret), scopes: authtoken.RoleScopes[role]}
}

// computing are the routes that take a POST body and change nothing (they
// compute an answer, as a GET does): not audited as changes.
var computing = map[string]bool{"POST /v1/rules/test": true, "POST /v1/rules/{id}/test": true}

// The route table and wantScope agree, route for route; every change and
// every admin route is audited.
func TestRouteTableMatchesTheRoleModel(t *testing.T) {
	s := &Server{}
	seen := map[string]bool{}
	for _, rt := range s.routes() {
		key := rt.method + " " + rt.path
		seen[key] = true
		want, ok := wantScope[key]
		switch {
		case !ok:
			t.Errorf("%s is not in wantScope: say who may call it", key)
		case want != rt.scope:
			t.Errorf("%s needs %q, want %q", key, rt.scope, want)
		}
		if rt.method != "GET" && rt.audit == nil {
			t.Errorf("%s changes something and is not audited", key)
		}
		if (rt.audit == computes) != computing[key] {
			t.Errorf("%s: marked as computing (not a change) %v, want %v", key, rt.audit == computes, computing[key])
		}
		if rt.scope == authtoken.ScopeAdmin && rt.audit == nil {
			t.Errorf("%s is an admin action and is not audited", key)
		}
	}
	for key := range wantScope {
		if !seen[key] {
			t.Errorf("wantScope names %s, which the route table lacks", key)
		}
	}
	if authtoken.RoleScopes[authtoken.RoleViewer][0] != authtoken.ScopeSearch || len(authtoken.RoleScopes) != 3 {
		t.Errorf("role scopes: %v", authtoken.RoleScopes)
	}
}

// Every route, called by every kind of principal (tokens of each scope,
// sessions of each role): refused with 403 exactly when the principal
// lacks the route's scope, never 401; a session's change without its CSRF
// token is refused; public routes need no credential.
func TestEveryRouteEnforcesItsRole(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_roles")
	ctx := context.Background()
	issue := func(name string, scopes ...string) cred {
		tok, _, err := authtoken.Issue(ctx, f.db, "acme", nil, name, scopes, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cred{name: name + " token", token: tok, scopes: scopes}
	}
	creds := []cred{
		issue("search", authtoken.ScopeSearch), issue("read", authtoken.ScopeRead), issue("write", authtoken.ScopeWrite),
		issue("read-write", authtoken.ScopeRead, authtoken.ScopeWrite), issue("admin", authtoken.ScopeAdmin),
		f.person(t, "acme", "vic@example.com", authtoken.RoleViewer),
		f.person(t, "acme", "ann@example.com", authtoken.RoleAnalyst),
		f.person(t, "acme", "ada@example.com", authtoken.RoleAdmin),
	}
	checked := 0
	for _, rt := range f.srv.routes() {
		key := rt.method + " " + rt.path
		path := strings.ReplaceAll(rt.path, "{id}", "999999")
		if rt.scope == scopePublic {
			code, _, _ := f.as(t, rt.method, path, cred{}, nil)
			if code == 401 || code == 403 || code == 0 {
				t.Errorf("%s without a credential: %d", key, code)
			}
			continue
		}
		if code, _, _ := f.as(t, rt.method, path, cred{}, "{}"); code != 401 {
			t.Errorf("%s without a credential: %d, want 401", key, code)
		}
		if key == "POST /v1/auth/logout" {
			continue // it ends the session: TestSessions
		}
		for _, c := range creds {
			var body any
			if rt.method != "GET" {
				body = "{}"
			}
			code, out, _ := f.as(t, rt.method, path, c, body)
			allowed := c.can(rt.scope)
			switch {
			case code == 401:
				t.Errorf("%s as %s: 401 %v", key, c.name, out)
			case allowed && code == 403:
				t.Errorf("%s as %s: 403 %v, want allowed", key, c.name, out)
			case !allowed && code != 403:
				t.Errorf("%s as %s: %d %v, want 403", key, c.name, code, out)
			}
			checked++
			if c.session != "" && rt.method != "GET" && allowed {
				noCSRF := c
				noCSRF.csrf = ""
				if code, out, _ := f.as(t, rt.method, path, noCSRF, body); code != 403 || !strings.Contains(fmt.Sprint(out), authtoken.CSRFHeader) {
					t.Errorf("%s as %s without its CSRF token: %d %v", key, c.name, code, out)
				}
				wrong := c
				wrong.csrf = authtoken.CSRFToken("nanosess_" + strings.Repeat("A", 43))
				if code, _, _ := f.as(t, rt.method, path, wrong, body); code != 403 {
					t.Errorf("%s as %s with another session's CSRF token: %d", key, c.name, code)
				}
			}
		}
	}
	if want := (len(wantScope) - 4) * len(creds); checked != want { // all but the 3 public routes and sign-out
		t.Errorf("%d calls checked, want %d", checked, want)
	}
	// A viewer's refusal names its role and is in the audit trail.
	viewer := creds[5]
	code, out, _ := f.as(t, "POST", "/v1/rules", viewer, map[string]any{"name": "x"})
	if code != 403 || !strings.Contains(fmt.Sprint(out), "viewer role") {
		t.Errorf("viewer creates a rule: %d %v", code, out)
	}
	var n int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'rule.create' AND outcome = 'denied' AND actor = 'vic@example.com'`).Scan(&n); err != nil || n < 2 {
		t.Errorf("the viewer's refusals in the trail: %d %v", n, err)
	}
}

// A session: who it is (with its CSRF token, never cached), sign-out ends
// it at once and clears the cookie, an admin revokes another, disabling a
// user ends its sessions; each is audited.
func TestSessions(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_sessions")
	ctx := context.Background()
	ann := f.person(t, "acme", "ann@example.com", authtoken.RoleAnalyst)
	ada := f.person(t, "acme", "ada@example.com", authtoken.RoleAdmin)
	other := f.person(t, "globex", "gus@example.com", authtoken.RoleAdmin)
	code, out, hdr := f.as(t, "GET", "/v1/session", ann, nil)
	if code != 200 || out["kind"] != "user" || out["role"] != "analyst" || out["email"] != "ann@example.com" || out["csrf_token"] != ann.csrf ||
		hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("ann's session: %d %v %v", code, out, hdr)
	}
	code, out, _ = f.as(t, "GET", "/v1/session", cred{token: f.admin}, nil)
	if code != 200 || out["kind"] != "token" || out["csrf_token"] != nil || out["tenant"] != "acme" {
		t.Errorf("a token's session info: %d %v", code, out)
	}
	// A session's cookie alongside a bearer token: the token speaks.
	both := ann
	both.token = f.reader
	if code, out, _ := f.as(t, "GET", "/v1/session", both, nil); code != 200 || out["kind"] != "token" {
		t.Errorf("token and cookie: %d %v", code, out)
	}

	// The admin lists the tenant's sessions (not globex's) and revokes ann's.
	code, out, _ = f.as(t, "GET", "/v1/sessions", ada, nil)
	items, _ := out["items"].([]any)
	if code != 200 || len(items) != 2 {
		t.Fatalf("sessions: %d %v", code, out)
	}
	var annID float64
	for _, it := range items {
		if m := it.(map[string]any); m["email"] == "ann@example.com" {
			annID = m["id"].(float64)
		}
	}
	if code, _, _ := f.as(t, "DELETE", fmt.Sprintf("/v1/sessions/%d", int64(annID)), other, nil); code != 404 {
		t.Errorf("globex's admin revokes acme's session: %d", code)
	}
	if code, out, _ := f.as(t, "DELETE", fmt.Sprintf("/v1/sessions/%d", int64(annID)), ada, nil); code != 204 {
		t.Fatalf("revoke: %d %v", code, out)
	}
	if code, _, _ := f.as(t, "GET", "/v1/rules", ann, nil); code != 401 {
		t.Errorf("a revoked session still works: %d", code)
	}

	// Sign-out: 204, the cookie cleared, the credential dead.
	code, _, hdr = f.as(t, "POST", "/v1/auth/logout", other, nil)
	if code != 204 || !strings.Contains(hdr.Get("Set-Cookie"), authtoken.SessionCookie+"=;") || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign-out: %d %v", code, hdr)
	}
	if code, _, _ := f.as(t, "GET", "/v1/session", other, nil); code != 401 {
		t.Errorf("a signed-out session still works: %d", code)
	}
	if code, _, _ := f.as(t, "POST", "/v1/auth/logout", cred{token: f.admin}, nil); code != 400 {
		t.Errorf("a token signs out: %d", code)
	}

	// Disabling a user ends its sessions; an admin cannot disable itself.
	ann2 := f.person(t, "acme", "ann2@example.com", authtoken.RoleAnalyst)
	var uid int64
	f.db.QueryRow(ctx, `SELECT id FROM users WHERE email = 'ann2@example.com'`).Scan(&uid)
	if code, out, _ := f.as(t, "PATCH", fmt.Sprintf("/v1/users/%d", uid), ada, map[string]any{"disabled": true}); code != 200 || out["disabled_at"] == nil {
		t.Fatalf("disable: %d %v", code, out)
	}
	if code, _, _ := f.as(t, "GET", "/v1/rules", ann2, nil); code != 401 {
		t.Errorf("a disabled user's session still works: %d", code)
	}
	var adaID int64
	f.db.QueryRow(ctx, `SELECT id FROM users WHERE email = 'ada@example.com'`).Scan(&adaID)
	if code, out, _ := f.as(t, "PATCH", fmt.Sprintf("/v1/users/%d", adaID), ada, map[string]any{"disabled": true}); code != 400 {
		t.Errorf("an admin disables itself: %d %v", code, out)
	}
	rows, _ := f.db.Query(ctx, `SELECT action || ' ' || actor || ' ' || outcome FROM audit_log WHERE action IN ('session.revoke', 'signout', 'user.update') ORDER BY id`)
	var trail []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		trail = append(trail, s)
	}
	want := "session.revoke ada@example.com ok|signout gus@example.com ok|user.update ada@example.com ok"
	if strings.Join(trail, "|") != want {
		t.Errorf("audit: %q, want %q", strings.Join(trail, "|"), want)
	}
}

// Every change through the api is in the trail with who, the object
// before and after, and never a secret; GET /v1/audit filters and pages a
// tenant's trail (every tenant's only for the platform); a change whose
// entry cannot be written is not made.
func TestAuditTrailOfChanges(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_audit")
	ctx := context.Background()
	ada := f.person(t, "acme", "ada@example.com", authtoken.RoleAdmin)
	ann := f.person(t, "acme", "ann@example.com", authtoken.RoleAnalyst)
	rule := map[string]any{"name": "errors", "query": "level:error", "schedule": "@every 1m", "window_seconds": 600, "threshold_op": ">", "threshold": 10}
	code, out, _ := f.as(t, "POST", "/v1/rules", ada, rule)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := int64(out["id"].(float64))
	rule["threshold"] = 3
	if code, out, _ := f.as(t, "PUT", fmt.Sprintf("/v1/rules/%d", id), ada, rule); code != 200 {
		t.Fatalf("update: %d %v", code, out)
	}
	var alert int64
	if err := f.db.QueryRow(ctx, `INSERT INTO alerts (tenant, rule_id, value, window_start, window_end) VALUES ('acme', $1, 12, now(), now()) RETURNING id`, id).Scan(&alert); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := f.as(t, "PATCH", fmt.Sprintf("/v1/alerts/%d", alert), ann, map[string]any{"status": "acknowledged"}); code != 204 {
		t.Fatalf("acknowledge: %d %v", code, out)
	}
	code, out, _ = f.as(t, "POST", "/v1/tokens", cred{token: f.admin}, map[string]any{"name": "ci", "scopes": []string{"read"}})
	secretToken, _ := out["token"].(string)
	if code != 201 || secretToken == "" {
		t.Fatalf("token: %d %v", code, out)
	}
	if code, out, _ := f.as(t, "POST", "/v1/credentials", ada, map[string]any{"name": "slack", "kind": "api_key", "secret": "hunter2-very-secret"}); code != 201 {
		t.Fatalf("credential: %d %v", code, out)
	}
	if code, out, _ := f.as(t, "POST", "/v1/enrichments", ada, map[string]any{"name": "feed", "source": "https://user:pw-in-url@feeds.example.com/x.txt?key=querysecret",
		"format": "list", "interval_seconds": 3600}); code != 201 {
		t.Fatalf("enrichment: %d %v", code, out)
	}

	// The trail as the admin reads it.
	code, out, _ = f.as(t, "GET", "/v1/audit?action=rule.", ada, nil)
	items, _ := out["items"].([]any)
	if code != 200 || len(items) != 2 {
		t.Fatalf("rule entries: %d %v", code, out)
	}
	upd := items[0].(map[string]any)
	before, _ := upd["before"].(map[string]any)
	after, _ := upd["after"].(map[string]any)
	if upd["action"] != "rule.update" || upd["actor"] != "ada@example.com" || upd["actor_kind"] != "user" || upd["object_id"] != fmt.Sprint(id) ||
		before["threshold"] != float64(10) || after["threshold"] != float64(3) || upd["route"] != "PUT /v1/rules/{id}" || upd["ip"] != "127.0.0.1" {
		t.Errorf("the update's entry: %v", upd)
	}
	code, out, _ = f.as(t, "GET", "/v1/audit?actor=ann@example.com&outcome=ok", ada, nil)
	items, _ = out["items"].([]any)
	if code != 200 || len(items) != 1 || items[0].(map[string]any)["action"] != "alert.update" ||
		items[0].(map[string]any)["after"].(map[string]any)["status"] != "acknowledged" || items[0].(map[string]any)["before"].(map[string]any)["status"] != "open" {
		t.Errorf("ann's entries: %d %v", code, out)
	}
	code, out, _ = f.as(t, "GET", "/v1/audit?actor_kind=token&action=token.create", ada, nil)
	if items, _ = out["items"].([]any); code != 200 || len(items) != 1 || items[0].(map[string]any)["after"].(map[string]any)["name"] != "ci" {
		t.Errorf("the token's creation: %d %v", code, out)
	}
	code, out, _ = f.as(t, "GET", "/v1/audit?action=enrichment.create", ada, nil)
	if items, _ = out["items"].([]any); code != 200 || len(items) != 1 {
		t.Fatalf("enrichment entry: %d %v", code, out)
	}
	// No secret anywhere in the trail.
	var leaks int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE concat_ws(' ', before::text, after::text, detail, actor) ~ $1`,
		secretToken+"|hunter2|pw-in-url|querysecret|nanosess_").Scan(&leaks); err != nil || leaks != 0 {
		t.Errorf("%d entries hold a secret (%v)", leaks, err)
	}
	// Paging: newest first, a cursor to the next page.
	code, out, _ = f.as(t, "GET", "/v1/audit?limit=2", ada, nil)
	items, _ = out["items"].([]any)
	next, _ := out["next_cursor"].(string)
	if code != 200 || len(items) != 2 || next == "" {
		t.Fatalf("page 1: %d %v", code, out)
	}
	_, out2, _ := f.as(t, "GET", "/v1/audit?limit=2&cursor="+next, ada, nil)
	items2, _ := out2["items"].([]any)
	if len(items2) != 2 || items2[0].(map[string]any)["id"].(float64) >= items[1].(map[string]any)["id"].(float64) {
		t.Errorf("page 2 does not continue page 1: %v", out2)
	}
	for _, q := range []string{"limit=0", "since=yesterday", "outcome=maybe", "action=DROP%20TABLE", "cursor=-1"} {
		if code, out, _ := f.as(t, "GET", "/v1/audit?"+q, ada, nil); code != 400 || field(out) == "" {
			t.Errorf("bad filter %s: %d %v", q, code, out)
		}
	}
	// Another tenant's admin reads none of acme's; the platform reads all.
	if _, out, _ := f.as(t, "GET", "/v1/audit?action=rule.", cred{token: f.other}, nil); len(out["items"].([]any)) != 0 {
		t.Errorf("globex reads acme's trail: %v", out)
	}
	if code, _, _ := f.as(t, "GET", "/v1/audit?tenant=*", ada, nil); code != 403 {
		t.Errorf("a tenant's admin reads every tenant's trail: %d", code)
	}
	if code, out, _ := f.as(t, "GET", "/v1/audit?tenant=*&action=rule.", cred{token: f.platform}, nil); code != 200 || len(out["items"].([]any)) != 2 {
		t.Errorf("the platform's view: %d %v", code, out)
	}

	// Fail closed: without this month's partition no entry can be written,
	// and the change is not made.
	month := "audit_log_" + time.Now().UTC().Format("200601")
	if _, err := f.db.Exec(ctx, `ALTER TABLE audit_log DETACH PARTITION `+month); err != nil {
		t.Fatal(err)
	}
	rule["name"] = "unaudited"
	if code, out, _ := f.as(t, "POST", "/v1/rules", ada, rule); code != 503 {
		t.Errorf("a change that cannot be audited: %d %v", code, out)
	}
	var n int
	if err := f.db.QueryRow(ctx, `SELECT count(*) FROM detection_rules WHERE name = 'unaudited'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the unaudited rule was made: %d %v", n, err)
	}
}
