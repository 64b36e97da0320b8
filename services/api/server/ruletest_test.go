package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/tests/harness"
)

// ruleTestFixture is the api with a detector over real ClickHouse events
// and the scheduler's leadership row (epoch 7), its clock at now.
type ruleTestFixture struct {
	*fixture
	det *detect.Detector
	now time.Time
}

// setupRuleTests seeds acme's events of the last half hour before now (a
// minute ahead of the wall clock, so rules created now are due then):
//   - 12 api errors, code 404 (i%3 == 0: 4 of them) else 500 (8), latency
//     10*i (0..110), host h0/h1;
//   - 5 web infos, code 200, latency 300;
//   - 150 batch infos with n = 0..149 (no code or latency);
//   - 3 errors of globex and one acme error two hours old, never counted.
func setupRuleTests(t *testing.T, name string) *ruleTestFixture {
	t.Helper()
	harness.Servers(t)
	ctx := context.Background()
	now := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	engine := events.Engine{Version: v, Database: name}
	if err := events.Migrate(ctx, conn, engine); err != nil {
		t.Fatal(err)
	}
	run, err := runner.New(ctx, conn, runner.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	det := &detect.Detector{Conn: conn, Runner: run, Engine: engine, Now: func() time.Time { return now }}
	f := setupWith(t, name, func(s *Server) { s.Detector = func() *detect.Detector { return det } })
	det.DB = f.db
	if _, err := f.db.Exec(ctx, `INSERT INTO scheduler_leader (id, epoch, holder, since) VALUES (1, 7, 'test', now())`); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, events.InsertSQL(engine.Table()))
	if err != nil {
		t.Fatal(err)
	}
	add := func(e events.Event) {
		if err := b.Append(e.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ {
		code := "500"
		if i%3 == 0 {
			code = "404"
		}
		add(events.Event{Time: now.Add(-time.Duration(i+1) * 10 * time.Second), Tenant: "acme", Service: "api", Severity: "error", Host: fmt.Sprintf("h%d", i%2),
			Message: "failed", Attributes: events.Attrs{{Key: "code", Value: code}, {Key: "latency", Value: fmt.Sprint(10 * i)}}})
	}
	for i := 0; i < 5; i++ {
		add(events.Event{Time: now.Add(-time.Duration(i+1) * 20 * time.Second), Tenant: "acme", Service: "web", Severity: "info", Host: "h9",
			Message: "ok", Attributes: events.Attrs{{Key: "code", Value: "200"}, {Key: "latency", Value: "300"}}})
	}
	for i := 0; i < 150; i++ {
		add(events.Event{Time: now.Add(-20*time.Minute - time.Duration(i)*time.Second), Tenant: "acme", Service: "batch", Severity: "info", Host: "b",
			Message: "item", Attributes: events.Attrs{{Key: "n", Value: fmt.Sprint(i)}}})
	}
	for i := 0; i < 3; i++ {
		add(events.Event{Time: now.Add(-time.Minute), Tenant: "globex", Service: "api", Severity: "error", Message: "not acme's",
			Attributes: events.Attrs{{Key: "code", Value: "500"}}})
	}
	add(events.Event{Time: now.Add(-2 * time.Hour), Tenant: "acme", Service: "api", Severity: "error", Message: "old", Attributes: events.Attrs{{Key: "code", Value: "500"}}})
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	return &ruleTestFixture{fixture: f, det: det, now: now}
}

func decodeAnswer(t *testing.T, out map[string]any) RuleTest {
	t.Helper()
	b, _ := json.Marshal(out)
	var a RuleTest
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return a
}

// firing is a test answer's groups that raise an alert, as "group:value".
func firing(a RuleTest) []string {
	var out []string
	for _, g := range a.Groups {
		if g.Fires {
			out = append(out, fmt.Sprintf("%s:%v", g.Group, g.Value))
		}
	}
	slices.Sort(out)
	return out
}

// A rule test answers what the scheduler then records, group for group:
// rules whose queries end in fields, sort or limit (a run counts their
// events), stats by a numeric attribute, avg and max, a rule that does
// not fire, one that fires on nothing (<), and one of more groups than an
// answer lists. Each rule is tested saved (POST /v1/rules/{id}/test) and
// as a draft (POST /v1/rules/test); the tests record nothing; then the
// scheduler's run records exactly the verdicts the tests answered.
// Negative control: a handler that appends "| stats count()" and takes the
// first numeric column (the UI's former JavaScript detector) fails here.
func TestRuleTestsAgreeWithTheScheduler(t *testing.T) {
	harness.Servers(t)
	f := setupRuleTests(t, "api_rule_tests")
	ctx := context.Background()
	cases := []struct {
		name, query, op string
		threshold       float64
		// What the answer must say (so that agreement cannot be vacuous):
		// the run's value and its firing groups.
		value  float64
		firing []string
	}{
		{"fields", "level:error | fields ts", ">", 10, 12, []string{":12"}},
		{"sort", "level:error | sort host", ">=", 13, 12, nil},
		{"limit", "level:error | limit 3", ">", 11, 12, []string{":12"}},
		{"numeric groups", "level:error | stats count() by code", ">", 4, 12, []string{"code=500:8"}},
		{"avg by code", "service:api | stats avg(latency) by code", ">", 55, 105, []string{"code=500:60"}},
		{"max", "| stats max(latency)", ">=", 300, 300, []string{":300"}},
		{"nothing", "service:nothing", "<", 1, 0, []string{":0"}},
		{"first group", "| stats count() by code | sort code | limit 1", ">", 0, 150, []string{"code=:150"}},
	}
	ids := map[string]string{}
	answers := map[string]RuleTest{}
	for _, c := range cases {
		body := map[string]any{"name": c.name, "query": c.query, "schedule": "@every 5m", "window_seconds": 3600, "threshold_op": c.op, "threshold": c.threshold}
		code, out := f.call(t, "POST", "/v1/rules/test", f.admin, body)
		if code != 200 {
			t.Fatalf("%s: draft test: %d %v", c.name, code, out)
		}
		draft := decodeAnswer(t, out)
		code, out = f.call(t, "POST", "/v1/rules", f.admin, body)
		if code != 201 {
			t.Fatalf("%s: create: %d %v", c.name, code, out)
		}
		ids[c.name] = fmt.Sprint(out["id"])
		code, out = f.call(t, "POST", "/v1/rules/"+ids[c.name]+"/test", f.admin, nil)
		if code != 200 {
			t.Fatalf("%s: saved test: %d %v", c.name, code, out)
		}
		saved := decodeAnswer(t, out)
		answers[c.name] = saved
		if fmt.Sprint(draft) != fmt.Sprint(saved) {
			t.Errorf("%s: the draft's test %+v differs from the saved rule's %+v", c.name, draft, saved)
		}
		if saved.Value != c.value || fmt.Sprint(firing(saved)) != fmt.Sprint(c.firing) || saved.Alerts != len(c.firing) {
			t.Errorf("%s: test answered value %v, firing %v (%d alerts), want %v and %v", c.name, saved.Value, firing(saved), saved.Alerts, c.value, c.firing)
		}
		if !saved.WindowEnd.Equal(f.now) || !saved.WindowStart.Equal(f.now.Add(-time.Hour)) || saved.ThresholdOp != c.op || saved.Threshold != c.threshold {
			t.Errorf("%s: window %v-%v, threshold %s %v", c.name, saved.WindowStart, saved.WindowEnd, saved.ThresholdOp, saved.Threshold)
		}
	}
	// More groups than an answer lists: the firing ones first, bounded.
	body := map[string]any{"name": "per n", "query": "| stats count() by n", "schedule": "@every 5m", "window_seconds": 3600, "threshold_op": ">", "threshold": 1}
	code, out := f.call(t, "POST", "/v1/rules", f.admin, body)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	ids["per n"] = fmt.Sprint(out["id"])
	code, out = f.call(t, "POST", "/v1/rules/"+ids["per n"]+"/test", f.admin, nil)
	perN := decodeAnswer(t, out)
	answers["per n"] = perN
	// 151 groups: n=0..149 (one event each) and n="" (the 17 others).
	if code != 200 || perN.TotalGroups != 151 || len(perN.Groups) != maxTestGroups || !perN.Truncated || perN.Alerts != 1 ||
		!perN.Groups[0].Fires || perN.Groups[0].Group != "n=" || perN.Groups[0].Value != 17 || perN.Groups[1].Fires {
		t.Errorf("per n: %d, %d of %d groups listed (truncated %v), %d alerts, first %+v", code, len(perN.Groups), perN.TotalGroups, perN.Truncated, perN.Alerts, perN.Groups[:min(2, len(perN.Groups))])
	}

	// Testing recorded nothing.
	var runs, alerts int
	if err := f.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM rule_runs), (SELECT count(*) FROM alerts)`).Scan(&runs, &alerts); err != nil || runs != 0 || alerts != 0 {
		t.Fatalf("after the tests: %d runs, %d alerts (%v), want none", runs, alerts, err)
	}

	// The scheduler runs every rule (due: created before its clock).
	if err := f.det.RunDue(ctx, 7); err != nil {
		t.Fatal(err)
	}
	for name, id := range ids {
		a := answers[name]
		var value *float64
		var n int
		var msg string
		var started time.Time
		if err := f.db.QueryRow(ctx, `SELECT value, alerts, error, started_at FROM rule_runs WHERE rule_id = $1`, id).Scan(&value, &n, &msg, &started); err != nil {
			t.Errorf("%s: its run: %v", name, err)
			continue
		}
		if value == nil || *value != a.Value || n != a.Alerts || msg != "" || !started.Equal(a.WindowEnd) {
			t.Errorf("%s: the run recorded value %v, %d alerts, error %q at %v; the test answered %v, %d at %v", name, value, n, msg, started, a.Value, a.Alerts, a.WindowEnd)
		}
		rows, err := f.db.Query(ctx, `SELECT group_key, value FROM alerts WHERE rule_id = $1 ORDER BY group_key`, id)
		if err != nil {
			t.Fatal(err)
		}
		var recorded []string
		for rows.Next() {
			var key string
			var v float64
			if err := rows.Scan(&key, &v); err != nil {
				t.Fatal(err)
			}
			recorded = append(recorded, fmt.Sprintf("%s:%v", key, v))
		}
		rows.Close()
		slices.Sort(recorded)
		if fmt.Sprint(recorded) != fmt.Sprint(firing(a)) {
			t.Errorf("%s: the scheduler recorded alerts %v, the test answered %v", name, recorded, firing(a))
		}
	}
}

// Rule tests are bounded and refuse what they cannot answer, each with a
// clear error: the same checks as creating a rule, a draft signal rule, a
// lookup of a dataset nobody has (found when the run compiles), another
// tenant's rule, an oversized body; without a detector (ClickHouse not
// answering yet) 503.
func TestRuleTestRefusals(t *testing.T) {
	harness.Servers(t)
	f := setupRuleTests(t, "api_rule_test_refusals")
	rule := map[string]any{"name": "r", "query": "level:error", "schedule": "@every 5m", "window_seconds": 600, "threshold_op": ">", "threshold": 1}
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for a, b := range rule {
			out[a] = b
		}
		out[k] = v
		return out
	}
	for _, c := range []struct {
		body  map[string]any
		code  int
		field string
		want  string
	}{
		{with("query", "level:error ("), 400, "query", "column"},
		{with("window_seconds", 40*86400), 400, "window_seconds", "2592000"},
		{with("threshold", nil), 400, "threshold", "required"},
		{with("name", ""), 400, "name", "200"},
		{with("signal", true), 400, "signal", "save it"},
		{with("query", "level:error | lookup nosuch on host"), 400, "query", `no enrichment dataset "nosuch"`},
	} {
		code, out := f.call(t, "POST", "/v1/rules/test", f.admin, c.body)
		if code != c.code || field(out) != c.field || !strings.Contains(fmt.Sprint(out), c.want) {
			t.Errorf("%v: %d %v, want %d naming %s (%q)", c.body, code, out, c.code, c.field, c.want)
		}
	}
	if code, out := f.call(t, "POST", "/v1/rules/test", f.admin, `{"name": "`+strings.Repeat("x", 9<<10)+`"}`); code != 413 {
		t.Errorf("oversized body: %d %v", code, out)
	}
	code, out := f.call(t, "POST", "/v1/rules", f.admin, rule)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := fmt.Sprint(out["id"])
	if code, out := f.call(t, "POST", "/v1/rules/"+id+"/test", f.other, nil); code != 404 {
		t.Errorf("another tenant tests acme's rule: %d %v", code, out)
	}
	if code, out := f.call(t, "POST", "/v1/rules/"+id+"/test", f.reader, nil); code != 403 {
		t.Errorf("a read token tests a rule: %d %v", code, out)
	}
	// A saved signal rule reads its view; before the scheduler made it,
	// nothing was counted, as the rule's first run would say.
	signal := with("signal", true)
	signal["name"] = "signal"
	code, out = f.call(t, "POST", "/v1/rules", f.admin, signal)
	if code != 201 {
		t.Fatalf("create a signal rule: %d %v", code, out)
	}
	code, out = f.call(t, "POST", "/v1/rules/"+fmt.Sprint(out["id"])+"/test", f.admin, nil)
	if a := decodeAnswer(t, out); code != 200 || a.Value != 0 || a.Alerts != 0 || len(a.Groups) != 1 {
		t.Errorf("a signal rule before its view exists: %d %+v", code, a)
	}

	// An api whose detector is not ready yet.
	g := setup(t, "api_rule_test_not_ready")
	if code, out := g.call(t, "POST", "/v1/rules/test", g.admin, rule); code != 503 || !strings.Contains(fmt.Sprint(out), "ClickHouse") {
		t.Errorf("no detector: %d %v", code, out)
	}
}
