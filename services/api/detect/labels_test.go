package detect

import (
	"context"
	"encoding/json"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/fielderr"
)

// An alert's labels: nano's four, the rule's own, and each group-by value
// under a label name (group_<name> where nano's or the rule's took it);
// values bounded.
func TestAlertLabels(t *testing.T) {
	r := Rule{ID: 42, Tenant: "acme", Name: "brute force", Severity: "critical", Labels: map[string]string{"team": "secops", "tenant": "spoofed"}}
	got := AlertLabels(r, []GroupValue{{Field: "user.id", Value: "u-7"}, {Field: "tenant", Value: "globex"}, {Field: "team", Value: "x"},
		{Field: "host", Value: strings.Repeat("é", 200)}})
	for k, v := range map[string]string{"alertname": "brute force", "tenant": "acme", "rule_id": "42", "severity": "critical", "team": "secops",
		"user_id": "u-7", "group_tenant": "globex", "group_team": "x"} {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if h := got["host"]; len(h) > MaxLabelValue || !strings.HasSuffix(h, "…") {
		t.Errorf("a long value is not cut: %d bytes", len(h))
	}
	if AlertLabels(Rule{Tenant: "acme"}, nil)["severity"] != "warning" {
		t.Error("no default severity")
	}
}

func TestValidateLabels(t *testing.T) {
	many := map[string]string{}
	for i := range MaxRuleLabels + 1 {
		many[string(rune('a'+i))] = "v"
	}
	for _, bad := range []map[string]string{
		{"tenant": "x"}, {"alertname": "x"}, {"1team": "x"}, {"__meta": "x"}, {"team-name": "x"}, {"team": ""},
		{"team": strings.Repeat("x", MaxLabelValue+1)}, {"team": "a\nb"}, many,
	} {
		err := ValidateLabels(bad)
		fe, ok := err.(*fielderr.Error)
		if !ok || fe.Field != "labels" {
			t.Errorf("ValidateLabels(%v) = %v, want an error naming labels", bad, err)
		}
	}
	if err := ValidateLabels(map[string]string{"team": "secops", "region": "eu"}); err != nil {
		t.Error(err)
	}
	if !ValidSeverity("critical") || ValidSeverity("page") {
		t.Error("severities")
	}
}

// A rule's alert is raised with its labels (the rule's severity and its
// own, its group's values) and a few of the events it counted, newest
// first.
func TestAlertsKeepLabelsAndSamples(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "detect_samples")
	f.d.SampleEvents = 3
	ctx := context.Background()
	f.insert(t, errorsAt(f.now, 12, "api")...)
	r := f.rule(t, Rule{Name: "per host", Query: "level:error | stats count() by host", Schedule: "@every 5m", Window: 10 * time.Minute, Op: ">=", Threshold: 6})
	if _, err := f.db.Exec(ctx, `UPDATE detection_rules SET severity = 'critical', labels = '{"team":"sre"}' WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.d.RunDue(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	rows, err := f.db.Query(ctx, `SELECT group_key, labels, group_values, samples FROM alerts ORDER BY group_key`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var key string
		var labels map[string]string
		var group []GroupValue
		var samples []Sample
		if err := rows.Scan(&key, &labels, &group, &samples); err != nil {
			t.Fatal(err)
		}
		got = append(got, key)
		host := strings.TrimPrefix(key, "host=")
		if labels["alertname"] != "per host" || labels["severity"] != "critical" || labels["team"] != "sre" || labels["host"] != host || labels["tenant"] != "acme" {
			t.Errorf("%s: labels %v", key, labels)
		}
		if len(group) != 1 || group[0] != (GroupValue{Field: "host", Value: host}) {
			t.Errorf("%s: group values %v", key, group)
		}
		if len(samples) != 3 {
			t.Fatalf("%s: %d samples, want 3", key, len(samples))
		}
		for i, s := range samples {
			if s.Host != host || s.Message != "boom" || s.Service != "api" {
				t.Errorf("%s: sample %+v is not of its group", key, s)
			}
			if i > 0 && s.Time > samples[i-1].Time {
				t.Errorf("%s: samples are not newest first: %v", key, samples)
			}
		}
		b, _ := json.Marshal(samples)
		if len(b) > 4096 {
			t.Errorf("samples of %d bytes", len(b))
		}
	}
	if strings.Join(got, ",") != "host=h0,host=h1" {
		t.Errorf("alerts %v, want one per host", got)
	}
	// With none asked for, none are kept.
	f.d.SampleEvents = 0
	if s, err := f.d.samples(ctx, r, nil, f.now.Add(-time.Hour), f.now); err != nil || len(s) != 0 {
		t.Errorf("samples with SampleEvents 0: %v %v", s, err)
	}
}
