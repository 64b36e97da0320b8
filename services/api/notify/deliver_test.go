package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

// The link shows the events: the rule's filter and lookups, the group's
// values as phrases; not its stats.
func TestLinkQuery(t *testing.T) {
	for _, c := range []struct {
		rule  string
		group []detect.GroupValue
		want  string
	}{
		{`level:error service:api`, nil, `(level:error service:api)`},
		{`"login failed" | stats count() by user.id`, []detect.GroupValue{{Field: "user.id", Value: `u"7`}}, `("login failed") user.id:"u\"7"`},
		{`src:* | lookup bad_ips on src | stats count() by src | sort count desc`, []detect.GroupValue{{Field: "src", Value: "10.0.0.1"}},
			`(src:*) src:"10.0.0.1" | lookup bad_ips on src`},
		{`| stats count() by host`, []detect.GroupValue{{Field: "host", Value: "web-1"}}, `host:"web-1"`},
	} {
		if got := linkQuery(c.rule, c.group); got != c.want {
			t.Errorf("linkQuery(%q) = %q, want %q", c.rule, got, c.want)
		}
	}
}

// amAlerts are the alerts Alertmanager holds (active ones).
func amAlerts(t *testing.T, base string) []map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return out
}

// One pass posts each open alert (label set) once, with the newest row's
// values and the first row's start; passes within Resend post nothing;
// an alert whose rows are all acknowledged gets its end posted, one still
// open elsewhere does not; with Alertmanager gone the rows say why and
// the task fails.
func TestDeliverFiresAndEnds(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	_, db := metafixture.New(t, pg, "notify_deliver")
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	db.Exec(ctx, `INSERT INTO scheduler_leader (id, epoch, holder, since) VALUES (1, 3, 'test', now())`)
	var rule int64
	if err := db.QueryRow(ctx, `INSERT INTO detection_rules (tenant, name, query, schedule, window_seconds, threshold_op, threshold, severity)
VALUES ('acme', 'brute force', '"login failed" | stats count() by user.id', '@every 5m', 600, '>', 5, 'critical') RETURNING id`).Scan(&rule); err != nil {
		t.Fatal(err)
	}
	insert := func(user string, value float64, age time.Duration) int64 {
		var id int64
		labels, _ := json.Marshal(map[string]string{"alertname": "brute force", "tenant": "acme", "severity": "critical", "user_id": user})
		group, _ := json.Marshal([]detect.GroupValue{{Field: "user.id", Value: user}})
		samples, _ := json.Marshal([]detect.Sample{{Time: "2026-12-05T10:00:00Z", Host: "web-1", Message: "login failed for " + user}})
		if err := db.QueryRow(ctx, `INSERT INTO alerts (tenant, rule_id, group_key, value, window_start, window_end, labels, group_values, samples, created_at)
VALUES ('acme', $1, $2, $3, now() - interval '10 minutes', now(), $4, $5, $6, now() - $7::interval) RETURNING id`,
			rule, "user.id="+user, value, labels, group, samples, age.String()).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	older, newer := insert("u-7", 9, 3*time.Minute), insert("u-7", 12, time.Minute)
	other := insert("u-8", 7, time.Minute)

	am, err := harness.StartAlertmanager(amconfig.Unconfigured, harness.AlertmanagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Stop)
	u, _ := url.Parse(am.URL)
	reg := prometheus.NewRegistry()
	d := &Deliverer{DB: db, AM: NewClient([]*url.URL{u}, 5*time.Second), Resend: time.Minute, WebURL: "https://logs.example.com",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(reg)}
	if err := d.Deliver(ctx, 3); err != nil {
		t.Fatal(err)
	}
	held := amAlerts(t, am.URL)
	if len(held) != 2 {
		t.Fatalf("Alertmanager holds %d alerts, want 2 (one per label set)", len(held))
	}
	for _, a := range held {
		l, an := a["labels"].(map[string]any), a["annotations"].(map[string]any)
		if l["user_id"] != "u-7" {
			continue
		}
		starts, _ := time.Parse(time.RFC3339Nano, a["startsAt"].(string))
		if an["count"] != "12" || an["threshold"] != "> 5" || !strings.Contains(an["samples"].(string), "login failed for u-7") ||
			!strings.HasPrefix(an["link"].(string), "https://logs.example.com/#/search?") || a["generatorURL"] != an["link"] ||
			!strings.Contains(an["summary"].(string), "brute force: 12 events in 10m0s (user.id=u-7)") || time.Since(starts) < 150*time.Second {
			t.Errorf("u-7's alert in Alertmanager: %v", a)
		}
	}
	var delivered int
	db.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE delivered_at IS NOT NULL AND posted_at IS NOT NULL AND delivery_error = ''`).Scan(&delivered)
	if delivered != 3 {
		t.Errorf("%d rows recorded delivered, want 3", delivered)
	}
	if err := d.Deliver(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(d.Metrics.Posted.WithLabelValues("firing")); n != 2 {
		t.Errorf("%v firing posts after two passes within Resend, want 2", n)
	}

	// One of u-7's rows acknowledged: it stays firing (the other is open);
	// both: its end is posted. u-8's stays.
	db.Exec(ctx, `UPDATE alerts SET status = 'acknowledged' WHERE id = $1`, older)
	if err := d.Deliver(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(d.Metrics.Posted.WithLabelValues("resolved")); n != 0 || len(amAlerts(t, am.URL)) != 2 {
		t.Errorf("an alert with an open row left was ended (%v resolved posts)", n)
	}
	db.Exec(ctx, `UPDATE alerts SET status = 'closed' WHERE id = $1`, newer)
	if err := d.Deliver(ctx, 3); err != nil {
		t.Fatal(err)
	}
	held = amAlerts(t, am.URL)
	if len(held) != 1 || held[0]["labels"].(map[string]any)["user_id"] != "u-8" {
		t.Errorf("after both of u-7's rows were acknowledged, Alertmanager holds %v", held)
	}
	var ended int
	db.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE resolve_posted_at IS NOT NULL`).Scan(&ended)
	if ended != 2 {
		t.Errorf("%d rows recorded ended, want 2", ended)
	}

	// A deposed leader records nothing.
	db.Exec(ctx, `UPDATE alerts SET posted_at = NULL WHERE id = $1`, other)
	if err := d.Deliver(ctx, 2); err == nil {
		t.Error("a pass of an old epoch succeeded")
	}

	// Alertmanager gone: the rows say why, the task fails, a later pass
	// delivers.
	am.Stop()
	fresh := insert("u-9", 30, 0)
	if err := d.Deliver(ctx, 3); err == nil || !strings.Contains(err.Error(), "cannot post") {
		t.Errorf("a pass with Alertmanager down: %v", err)
	}
	var msg string
	db.QueryRow(ctx, `SELECT delivery_error FROM alerts WHERE id = $1`, fresh).Scan(&msg)
	if !strings.Contains(msg, "connection refused") {
		t.Errorf("the undelivered alert's error: %q", msg)
	}
}
