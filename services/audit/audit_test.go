package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

// Entries are recorded as given (the actor from a principal, long fields
// clipped, a large summary replaced by its size) and listed newest first,
// per tenant, filtered and paged.
func TestRecordAndList(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	_, db := metafixture.New(t, pg, "audit_list")
	uid := int64(7)
	user := authtoken.Principal{SessionID: 3, Tenant: "acme", UserID: &uid, Email: "ann@example.com", Role: "admin"}
	token := authtoken.Principal{TokenID: 9, TokenName: "ci", Tenant: "acme"}
	big := json.RawMessage(`{"query": "` + strings.Repeat("x", maxSummary) + `"}`)
	for i, e := range []Entry{
		Entry{Service: "api", Action: "rule.create", ObjectType: "rule", ObjectID: "1", Outcome: OK, After: json.RawMessage(`{"name": "r"}`)}.By(user),
		Entry{Service: "api", Action: "rule.update", ObjectType: "rule", ObjectID: "1", Outcome: OK, Before: json.RawMessage(`{"name": "r"}`), After: big}.By(token),
		Entry{Service: "api", Action: "feed.create", Outcome: Denied, Detail: strings.Repeat("d", 900)}.By(user),
		Entry{Service: "search", Action: "saved_search.create", Outcome: OK}.By(authtoken.Principal{TokenID: 1, TokenName: "g", Tenant: "globex"}),
		{Service: "api", Action: "signin.failed", ActorKind: ActorAnonymous, Outcome: Failed},
	} {
		if err := Record(ctx, db, e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if err := Record(ctx, db, Entry{Action: "x"}); err == nil {
		t.Error("an entry without service and outcome was recorded")
	}
	list := func(f Filter) []Entry {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 50
		}
		out, _, err := List(ctx, db, f)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := list(Filter{Tenant: "acme"})
	if len(all) != 3 || all[0].Action != "feed.create" || all[2].Action != "rule.create" {
		t.Fatalf("acme's trail: %+v", all)
	}
	if e := all[2]; e.ActorKind != ActorUser || e.Actor != "ann@example.com" || *e.ActorID != 7 || *e.SessionID != 3 || string(e.After) != `{"name": "r"}` {
		t.Errorf("a user's entry: %+v", e)
	}
	if e := all[1]; e.ActorKind != ActorToken || e.Actor != "ci" || *e.ActorID != 9 || !strings.Contains(string(e.After), `"truncated": true`) {
		t.Errorf("a token's entry with a large summary: %+v %s", e, e.After)
	}
	if len(all[0].Detail) != 500 {
		t.Errorf("detail of %d bytes, want it clipped to 500", len(all[0].Detail))
	}
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{Tenant: "acme", Actor: "ci"}, 1},
		{Filter{Tenant: "acme", ActorKind: ActorUser}, 2},
		{Filter{Tenant: "acme", Action: "rule."}, 2},
		{Filter{Tenant: "acme", Action: "rule.update"}, 1},
		{Filter{Tenant: "acme", Action: "rule"}, 0},
		{Filter{Tenant: "acme", Outcome: Denied}, 1},
		{Filter{Tenant: "acme", ObjectType: "rule", ObjectID: "1"}, 2},
		{Filter{Tenant: "globex"}, 1},
		{Filter{Tenant: ""}, 1},
		{Filter{AllTenants: true}, 5},
	} {
		if got := list(c.f); len(got) != c.want {
			t.Errorf("%+v: %d entries, want %d", c.f, len(got), c.want)
		}
	}
	now := time.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	if got := list(Filter{Tenant: "acme", Since: &past, Until: &future}); len(got) != 3 {
		t.Errorf("within the hour: %d", len(got))
	}
	if got := list(Filter{Tenant: "acme", Since: &future}); len(got) != 0 {
		t.Errorf("since an hour ahead: %d", len(got))
	}
	// Paging: two pages of acme's three.
	page, next, err := List(ctx, db, Filter{Tenant: "acme", Limit: 2})
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("page 1: %d %q %v", len(page), next, err)
	}
	var cursor int64
	fmt.Sscan(next, &cursor)
	page, next, err = List(ctx, db, Filter{Tenant: "acme", Limit: 2, Before: cursor})
	if err != nil || len(page) != 1 || next != "" || page[0].Action != "rule.create" {
		t.Errorf("page 2: %+v %q %v", page, next, err)
	}
	for field, f := range map[string]Filter{
		"limit":      {Limit: 501},
		"action":     {Limit: 1, Action: "Rule; DROP"},
		"actor_kind": {Limit: 1, ActorKind: "root"},
		"outcome":    {Limit: 1, Outcome: "maybe"},
		"until":      {Limit: 1, Since: &future, Until: &past},
	} {
		if got, err := f.Validate(); got != field || err == nil {
			t.Errorf("bad %s: named %q (%v)", field, got, err)
		}
	}
}

// Retention drops the months wholly older than it, never the current one,
// never a table that is not a month of the trail.
func TestExpireDropsWholeMonths(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	_, db := metafixture.New(t, pg, "audit_expire")
	for _, sql := range []string{
		`CREATE TABLE audit_log_202001 PARTITION OF audit_log FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00')`,
		`CREATE TABLE audit_log_202002 PARTITION OF audit_log FOR VALUES FROM ('2020-02-01 00:00:00+00') TO ('2020-03-01 00:00:00+00')`,
		`INSERT INTO audit_log (at, tenant, service, actor_kind, action, outcome) VALUES ('2020-01-10', 'acme', 'api', 'user', 'old', 'ok'), ('2020-02-20', 'acme', 'api', 'user', 'old', 'ok')`,
		`INSERT INTO audit_log (tenant, service, actor_kind, action, outcome) VALUES ('acme', 'api', 'user', 'new', 'ok')`,
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	// 2020-03-05 keeping 30 days: January ended more than 30 days before, February did not.
	dropped, err := Expire(ctx, db, 30, time.Date(2020, 3, 5, 0, 0, 0, 0, time.UTC))
	if err != nil || len(dropped) != 1 || dropped[0] != "audit_log_202001" {
		t.Fatalf("dropped %v %v", dropped, err)
	}
	dropped, err = Expire(ctx, db, 400, time.Now())
	if err != nil || len(dropped) != 1 || dropped[0] != "audit_log_202002" {
		t.Fatalf("dropped %v %v", dropped, err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 1 {
		t.Errorf("entries left %d %v, want this month's", n, err)
	}
	if _, err := Expire(ctx, db, 1, time.Now()); err == nil {
		t.Error("a retention of 1 day was accepted (minimum 30)")
	}
}

// The client's address: the peer unless it is a trusted proxy, then the
// right-most address of X-Forwarded-For that is not one.
func TestClientIP(t *testing.T) {
	for _, c := range []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"}, // an untrusted peer's header is ignored
		{"10.0.0.2:1234", "198.51.100.1", "198.51.100.1"},
		{"10.0.0.2:1234", "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"}, // a forged left-most entry is not believed
		{"10.0.0.2:1234", "", "10.0.0.2"},
		{"10.0.0.2:1234", "garbage", "10.0.0.2"},
		{"[::ffff:10.0.0.2]:1234", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := ClientIP(r, DefaultTrustedProxies); got != c.want {
			t.Errorf("%s via %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if _, err := ParseTrusted("10.0.0.0/8, nonsense"); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

// The limiter lets a client add a few entries a minute, and all clients a
// bounded number, then refuses until the next minute.
func TestLimiter(t *testing.T) {
	l := &Limiter{PerClient: 2, Total: 3}
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	got := []bool{l.Allow("a", now), l.Allow("a", now), l.Allow("a", now), l.Allow("b", now), l.Allow("c", now), l.Allow("c", now.Add(time.Minute))}
	want := []bool{true, true, false, true, false, true}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d: %v, want %v", i, got[i], want[i])
		}
	}
}
