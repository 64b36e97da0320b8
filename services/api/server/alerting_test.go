package server

import (
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/metadb"
)

// Rules take a severity and labels (checked, bounded); alerts show their
// labels and delivery; without an Alertmanager the api says alerts go
// nowhere and refuses silences with 503 (after checking the request and
// the token's scope).
func TestRuleSeverityLabelsAndDelivery(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_alerting")
	rule := map[string]any{"name": "brute force", "query": "login failed | stats count() by user.id", "schedule": "@every 5m", "window_seconds": 600,
		"threshold_op": ">", "threshold": 5, "severity": "critical", "labels": map[string]string{"team": "secops"}}
	code, out := f.call(t, "POST", "/v1/rules", f.admin, rule)
	if code != 201 || out["severity"] != "critical" || fmt.Sprint(out["labels"]) != "map[team:secops]" {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["id"]
	delete(rule, "severity")
	delete(rule, "labels")
	rule["name"] = "defaults"
	if code, out := f.call(t, "POST", "/v1/rules", f.admin, rule); code != 201 || out["severity"] != "warning" || fmt.Sprint(out["labels"]) != "map[]" {
		t.Errorf("defaults: %d %v", code, out)
	}
	for _, c := range []struct {
		change map[string]any
		field  string
	}{
		{map[string]any{"severity": "page"}, "severity"},
		{map[string]any{"labels": map[string]string{"tenant": "globex"}}, "labels"},
		{map[string]any{"labels": map[string]string{"1x": "y"}}, "labels"},
		{map[string]any{"labels": map[string]string{"x": strings.Repeat("y", 300)}}, "labels"},
	} {
		body := map[string]any{"name": "bad", "query": "x", "schedule": "@every 5m", "window_seconds": 600, "threshold_op": ">", "threshold": 1}
		for k, v := range c.change {
			body[k] = v
		}
		if code, out := f.call(t, "POST", "/v1/rules", f.admin, body); code != 400 || field(out) != c.field {
			t.Errorf("%v: %d %v, want 400 naming %s", c.change, code, out, c.field)
		}
	}

	ctx := context.Background()
	var alert int64
	if err := f.db.QueryRow(ctx, `INSERT INTO alerts (tenant, rule_id, value, window_start, window_end, labels, posted_at, delivered_at)
VALUES ('acme', $1, 12, now(), now(), '{"alertname":"brute force","tenant":"acme"}', now(), now()) RETURNING id`, id).Scan(&alert); err != nil {
		t.Fatal(err)
	}
	code, out = f.call(t, "GET", "/v1/alerts", f.reader, nil)
	a := out["items"].([]any)[0].(map[string]any)
	if code != 200 || fmt.Sprint(a["labels"]) != "map[alertname:brute force tenant:acme]" || a["delivery"].(map[string]any)["state"] != "off" {
		t.Errorf("alerts: %d %v", code, out)
	}
	// Reopened alerts are posted again; acknowledged ones get their end posted.
	path := fmt.Sprintf("/v1/alerts/%d", alert)
	f.call(t, "PATCH", path, f.admin, map[string]any{"status": "acknowledged"})
	f.db.Exec(ctx, `UPDATE alerts SET resolve_posted_at = now() WHERE id = $1`, alert)
	f.call(t, "PATCH", path, f.admin, map[string]any{"status": "open"})
	var posted, resolved *time.Time
	f.db.QueryRow(ctx, `SELECT posted_at, resolve_posted_at FROM alerts WHERE id = $1`, alert).Scan(&posted, &resolved)
	if posted != nil || resolved != nil {
		t.Errorf("a reopened alert keeps its post (%v) or its end (%v)", posted, resolved)
	}

	code, out = f.call(t, "GET", "/v1/delivery", f.reader, nil)
	if code != 200 || out["enabled"] != false || !strings.Contains(fmt.Sprint(out["message"]), "not sent anywhere") {
		t.Errorf("delivery without Alertmanager: %d %v", code, out)
	}
	if code, _ := f.call(t, "GET", "/v1/silences", f.reader, nil); code != 503 {
		t.Errorf("silences without Alertmanager: %d, want 503", code)
	}
	silence := map[string]any{"matchers": []map[string]any{{"name": "alertname", "value": "brute force"}}, "duration": "1h", "comment": "x"}
	if code, _ := f.call(t, "POST", "/v1/silences", f.reader, silence); code != 403 {
		t.Errorf("a read token silences: %d", code)
	}
	if err := metadb.EnsureTenant(ctx, f.db, "acme", "acme"); err != nil {
		t.Fatal(err)
	}
	alerter, _, err := authtoken.Issue(ctx, f.db, "acme", nil, "oncall", []string{authtoken.ScopeAlerts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(t, "POST", "/v1/silences", alerter, silence); code != 503 {
		t.Errorf("a silence without Alertmanager: %d, want 503", code)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"matchers": []map[string]any{}, "duration": "1h", "comment": "x"}, "matchers"},
		{map[string]any{"matchers": []map[string]any{{"name": "tenant", "value": "globex"}}, "duration": "1h", "comment": "x"}, "matchers"},
		{map[string]any{"matchers": []map[string]any{{"name": "alert name", "value": "x"}}, "duration": "1h", "comment": "x"}, "matchers"},
		{map[string]any{"matchers": []map[string]any{{"name": "a", "value": "(", "is_regex": true}}, "duration": "1h", "comment": "x"}, "matchers"},
		{map[string]any{"matchers": []map[string]any{{"name": "a", "value": "b"}}, "duration": "1h", "comment": ""}, "comment"},
		{map[string]any{"matchers": []map[string]any{{"name": "a", "value": "b"}}, "comment": "x"}, "ends_at"},
		{map[string]any{"matchers": []map[string]any{{"name": "a", "value": "b"}}, "duration": "2400h", "comment": "x"}, "ends_at"},
		{map[string]any{"matchers": []map[string]any{{"name": "a", "value": "b"}}, "duration": "soon", "comment": "x"}, "duration"},
	} {
		if code, out := f.call(t, "POST", "/v1/silences", alerter, c.body); code != 400 || field(out) != c.field {
			t.Errorf("%v: %d %v, want 400 naming %s", c.body, code, out, c.field)
		}
	}
	if code, out := f.call(t, "DELETE", "/v1/silences/not-a-uuid", alerter, nil); code != 400 || field(out) != "id" {
		t.Errorf("expire a non-id: %d %v", code, out)
	}
}
