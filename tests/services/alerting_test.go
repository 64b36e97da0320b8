package services

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// Alerts that reach people, on real parts: nano's api (binaries of this
// checkout, two replicas electing a scheduler leader) over a real
// PostgreSQL and ClickHouse, a real Alertmanager cluster of two (as the HA
// tiers run it) built from its module, a real SMTP server (Mailpit) and
// local servers standing in for a webhook endpoint, Slack and PagerDuty
// (their receivers' URLs point here, so what Alertmanager sends them is
// seen). The test walks what an operator and an analyst see: with the
// default configuration nothing is sent, and nano says so; a rule firing
// on ClickHouse's events becomes one e-mail, webhook, Slack message and
// PagerDuty event carrying the rule's name, counts, sample events and
// link; acknowledging it sends the resolved notification; a silence made
// through nano's API stops the next notification (and expiring it lets
// it through); the api leader killed in the middle of a delivery gives
// exactly one notification per group; and, the control of that, two
// Alertmanagers that do not gossip send every notification twice.

// alertEvents writes acme's events of the last minutes: failed logins
// (12 of user u-7, 3 of u-8), port scans and malware.
func alertEvents(ctx context.Context, t *testing.T, ch *harness.ClickHouse, database string) {
	t.Helper()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: database}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, events.InsertSQL(e.Table()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	add := func(i int, host, msg string, attrs events.Attrs) {
		ev := events.Event{Time: now.Add(-time.Duration(i+1) * 10 * time.Second), Tenant: "acme", Feed: "auth", Service: "sshd",
			Host: host, Severity: "warn", Message: msg, Attributes: attrs}
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		add(i, "web-1", fmt.Sprintf("login failed for u-7 from 198.51.100.%d", i), events.Attrs{{Key: "user.id", Value: "u-7"}})
	}
	for i := range 3 {
		add(i, "web-2", "login failed for u-8", events.Attrs{{Key: "user.id", Value: "u-8"}})
	}
	for i := range 4 {
		add(i, "fw-1", "port scan detected", nil)
	}
	for i := range 2 {
		add(i, "pc-9", "malware found", nil)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// receivers stand in for a webhook endpoint, Slack and PagerDuty: each
// path's bodies, in order.
type receivers struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies map[string][]string
}

func startReceivers(t *testing.T) *receivers {
	r := &receivers{bodies: map[string][]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// GET /count?path=P&match=S: how many bodies sent to P contain S,
		// for a browser step that waits on a delivery.
		if req.Method == http.MethodGet && req.URL.Path == "/count" {
			fmt.Fprint(w, len(r.matching(req.URL.Query().Get("path"), req.URL.Query().Get("match"))))
			return
		}
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], string(b))
		r.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/pagerduty") {
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{"status":"success","message":"Event processed","dedup_key":"x"}`))
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// matching are the bodies sent to path that contain every one of subs.
func (r *receivers) matching(path string, subs ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies[path] {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(b, s)
		}
		if ok {
			out = append(out, b)
		}
	}
	return out
}

// alertmanagerConfig routes every alert to one receiver that mails,
// calls the webhook, Slack and PagerDuty, grouped by rule and tenant, with
// short waits so a test sees its notifications in seconds.
func alertmanagerConfig(smtp string, r *receivers) string {
	return fmt.Sprintf(`global:
  smtp_smarthost: %s
  smtp_from: nano@rig.test
  smtp_require_tls: false
route:
  receiver: team
  group_by: [alertname, tenant]
  group_wait: 1s
  group_interval: 8s
  repeat_interval: 1h
receivers:
  - name: team
    email_configs:
      - to: soc@rig.test
        send_resolved: true
    webhook_configs:
      - url: %[2]s/webhook
        send_resolved: true
    slack_configs:
      - api_url: %[2]s/slack
        channel: '#soc'
        send_resolved: true
    pagerduty_configs:
      - routing_key: 0123456789abcdef0123456789abcdef
        url: %[2]s/pagerduty
        send_resolved: true
`, smtp, r.srv.URL)
}

// mails are Mailpit's messages whose subject holds all of subs, with
// their bodies.
func mails(ctx context.Context, t *testing.T, m *harness.Mailpit, subs ...string) []harness.Mail {
	t.Helper()
	all, err := m.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []harness.Mail
	for _, x := range all {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(x.Subject, s)
		}
		if !ok {
			continue
		}
		full, err := m.Message(ctx, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		full.Created = x.Created // when Mailpit received it (the list says)
		out = append(out, full)
	}
	return out
}

// amProxy stands between the api and one Alertmanager; armed, it passes
// the first post of alerts whose body holds armWith to Alertmanager, runs
// onPosted, and never answers the api (which onPosted kills).
type amProxy struct {
	srv      *httptest.Server
	target   string
	armWith  atomic.Value // string; "" disarmed
	onPosted func()
}

func newAMProxy(t *testing.T, target string, onPosted func()) *amProxy {
	p := &amProxy{target: target, onPosted: onPosted}
	p.armWith.Store("")
	u, _ := url.Parse(target)
	rp := &http.Client{Timeout: 10 * time.Second}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, u.String()+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := rp.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if arm := p.armWith.Load().(string); arm != "" && r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/alerts") &&
			bytes.Contains(body, []byte(arm)) && resp.StatusCode == 200 {
			// Alertmanager has the alerts; the api never learns it.
			p.armWith.Store("")
			p.onPosted()
			<-r.Context().Done()
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(answer)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func TestAlertsReachPeople(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pg, err := harness.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	ch, err := harness.StartClickHouse()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.Stop)
	pgURL, db := metafixture.New(t, pg, "alerting")
	alertEvents(ctx, t, ch, "alerting")
	token := func(tenant string, scopes ...string) string {
		if err := metadb.EnsureTenant(ctx, db, tenant, tenant); err != nil {
			t.Fatal(err)
		}
		tok, _, err := authtoken.Issue(ctx, db, tenant, nil, "analyst", scopes, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	analyst := token("acme", authtoken.ScopeRead, authtoken.ScopeWrite, authtoken.ScopeAlerts)
	writer := token("acme", authtoken.ScopeRead, authtoken.ScopeWrite)
	other := token("globex", authtoken.ScopeRead, authtoken.ScopeWrite, authtoken.ScopeAlerts)
	if err := metadb.EnsureTenant(ctx, db, contract.PlatformTenant, "x"); err == nil {
		t.Error("a tenant named platform was created: its alerts would pass for the deployment's own")
	}

	mail, err := harness.StartMailpit()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Stop)
	hooks := startReceivers(t)
	cfg := alertmanagerConfig(mail.SMTPAddr, hooks)
	if err := amconfig.Check(cfg); err != nil {
		t.Fatalf("the test's configuration: %v", err)
	}
	startAM := func(config string, o harness.AlertmanagerOptions) *harness.Alertmanager {
		a, err := harness.StartAlertmanager(config, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("alertmanager %s:\n%s", a.URL, tail(a.Log(), 3000))
			}
			a.Stop()
		})
		return a
	}

	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "../../services/api").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	apiEnv := func(replica string, alertmanagers ...string) []string {
		return []string{contract.PostgresURL + "=" + pgURL, contract.ClickHouseAddr + "=" + ch.Addr, contract.ClickHouseDatabase + "=alerting",
			contract.APIReplicaID + "=" + replica, contract.APILeaderRetry + "=100ms", contract.APILeaderHeartbeat + "=100ms",
			// Resent every minute (the default): an alert nobody resends ends
			// by itself only after four, so the resolved e-mail the test waits
			// a minute for is the api's doing.
			contract.AlertmanagerURLs + "=" + strings.Join(alertmanagers, ","), contract.AlertmanagerResend + "=1m",
			contract.WebURL + "=https://logs.rig.test"}
	}
	api := func(t *testing.T, p *serviceProcess, tok, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var raw []byte
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		return call(ctx, t, http.DefaultClient, method, p.base+contract.APIPrefix+path, map[string]string{"Authorization": "Bearer " + tok}, raw)
	}
	leads := func(t *testing.T, p *serviceProcess, replica string) {
		t.Helper()
		waitFor(t, 60*time.Second, replica+" to lead the scheduler", func() bool {
			_, out := api(t, p, analyst, "GET", "/v1/scheduler", nil)
			return out["leader"] == replica && out["this_replica_leads"] == true
		})
	}
	rule := func(t *testing.T, p *serviceProcess, name, query string, threshold int) float64 {
		t.Helper()
		code, out := api(t, p, analyst, "POST", "/v1/rules", map[string]any{"name": name, "query": query, "schedule": "@every 1h",
			"window_seconds": 900, "threshold_op": ">", "threshold": threshold, "severity": "critical", "labels": map[string]string{"team": "secops"}})
		if code != 201 {
			t.Fatalf("rule %s: %d %v", name, code, out)
		}
		return out["id"].(float64)
	}
	alertsOf := func(t *testing.T, p *serviceProcess, ruleID float64) []map[string]any {
		t.Helper()
		_, out := api(t, p, analyst, "GET", "/v1/alerts?status=", nil)
		var mine []map[string]any
		items, _ := out["items"].([]any)
		for _, x := range items {
			if a := x.(map[string]any); a["rule_id"] == ruleID {
				mine = append(mine, a)
			}
		}
		return mine
	}

	// 1. The default configuration: Alertmanager takes the alerts and
	// sends them nowhere, and nano says so.
	t.Run("unconfigured", func(t *testing.T) {
		am0 := startAM(amconfig.Unconfigured, harness.AlertmanagerOptions{})
		a0 := startService(t, filepath.Join(bin, "api"), "api-0", apiEnv("zero", am0.URL)...)
		leads(t, a0, "zero")
		id := rule(t, a0, "unsent", `"login failed"`, 0)
		waitFor(t, 60*time.Second, "the unsent rule's alert to reach Alertmanager", func() bool {
			a := alertsOf(t, a0, id)
			return len(a) == 1 && a[0]["delivery"].(map[string]any)["state"] == "sent"
		})
		_, dv := api(t, a0, analyst, "GET", "/v1/delivery", nil)
		if dv["enabled"] != true || dv["configured"] != false || !strings.Contains(fmt.Sprint(dv["message"]), "not sent anywhere") {
			t.Errorf("the delivery status with the default configuration: %v", dv)
		}
		time.Sleep(4 * time.Second)
		if got := mails(ctx, t, mail); len(got) != 0 {
			t.Errorf("the default configuration sent %d mails", len(got))
		}
		// Out of the way: its alert ends, its rule goes.
		a := alertsOf(t, a0, id)[0]
		api(t, a0, analyst, "PATCH", fmt.Sprintf("/v1/alerts/%v", a["id"]), map[string]any{"status": "closed"})
		api(t, a0, analyst, "DELETE", fmt.Sprintf("/v1/rules/%v", id), nil)
		a0.cmd.Process.Kill()
		a0.cmd.Wait()
	})

	// The deployment's Alertmanager cluster: two members gossiping, each
	// behind a proxy that can let a post through and the api die.
	// The peer timeout is how long the second member waits for the
	// first's notification log before it sends (15s by default). It must
	// stay under the group interval (8s): a member waiting out its peer
	// timeout sends the alerts as they were when its flush began, so when
	// the first member's flush after the resolve came within that wait,
	// the second sent a stale FIRING and then a second RESOLVED (seen here
	// with a 2s group interval: the check of one resolved e-mail below).
	am1 := startAM(cfg, harness.AlertmanagerOptions{Cluster: true, PeerTimeout: 3 * time.Second})
	am2 := startAM(cfg, harness.AlertmanagerOptions{Cluster: true, Peers: []string{am1.Mesh}, PeerTimeout: 3 * time.Second})
	var a, b *serviceProcess
	var killedAt atomic.Int64
	var kill sync.Once
	killLeader := func() {
		kill.Do(func() {
			killedAt.Store(time.Now().UnixNano())
			a.cmd.Process.Kill()
		})
	}
	p1, p2 := newAMProxy(t, am1.URL, killLeader), newAMProxy(t, am2.URL, killLeader)
	a = startService(t, filepath.Join(bin, "api"), "api-a", apiEnv("a", p1.srv.URL, p2.srv.URL)...)
	leads(t, a, "a")
	b = startService(t, filepath.Join(bin, "api"), "api-b", apiEnv("b", p1.srv.URL, p2.srv.URL)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("api a:\n%s\napi b:\n%s", tail(a.log.String(), 3000), tail(b.log.String(), 3000))
		}
	})

	// 2. A rule fires on ClickHouse's events: one mail, webhook call, Slack
	// message and PagerDuty event, with the rule's name, counts, samples
	// and link.
	var bruteForce float64
	t.Run("fires", func(t *testing.T) {
		created := time.Now()
		bruteForce = rule(t, a, "brute force", `"login failed" | stats count() by user.id`, 5)
		var got []harness.Mail
		waitFor(t, 90*time.Second, "the brute force e-mail", func() bool {
			got = mails(ctx, t, mail, "FIRING", "brute force")
			return len(got) > 0
		})
		alerts := alertsOf(t, a, bruteForce)
		if len(alerts) != 1 {
			t.Fatalf("%d alerts of the brute force rule, want 1 (u-7 only crosses 5)", len(alerts))
		}
		raised, _ := time.Parse(time.RFC3339Nano, alerts[0]["created_at"].(string))
		t.Logf("timing: rule created to e-mail %s; alert raised (detection) to e-mail %s",
			got[0].Created.Sub(created).Round(time.Millisecond), got[0].Created.Sub(raised).Round(time.Millisecond))
		body := html.UnescapeString(got[0].HTML + got[0].Text)
		for _, want := range []string{"brute force", "acme", "critical", "secops", "u-7", "12", "&gt; 5", "login failed for u-7 from 198.51.100.",
			"https://logs.rig.test/#/search?", "user.id%3A%22u-7%22"} {
			if !strings.Contains(body, html.UnescapeString(want)) {
				t.Errorf("the e-mail lacks %q:\n%s", html.UnescapeString(want), tail(body, 4000))
			}
		}
		waitFor(t, 30*time.Second, "the webhook, Slack and PagerDuty calls", func() bool {
			return len(hooks.matching("/webhook", "brute force")) > 0 && len(hooks.matching("/slack", "brute force")) > 0 &&
				len(hooks.matching("/pagerduty", "brute force")) > 0
		})
		var wh struct {
			Status string `json:"status"`
			Alerts []struct {
				Labels       map[string]string `json:"labels"`
				Annotations  map[string]string `json:"annotations"`
				GeneratorURL string            `json:"generatorURL"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal([]byte(hooks.matching("/webhook", "brute force")[0]), &wh); err != nil || len(wh.Alerts) != 1 {
			t.Fatalf("webhook body: %v %+v", err, wh)
		}
		l, an := wh.Alerts[0].Labels, wh.Alerts[0].Annotations
		if l["alertname"] != "brute force" || l["tenant"] != "acme" || l["rule_id"] != fmt.Sprint(bruteForce) || l["severity"] != "critical" ||
			l["team"] != "secops" || l["user_id"] != "u-7" || wh.Status != "firing" {
			t.Errorf("webhook labels %v (status %s)", l, wh.Status)
		}
		if an["count"] != "12" || an["threshold"] != "> 5" || strings.Count(an["samples"], "login failed for u-7") != 3 ||
			!strings.HasPrefix(an["link"], "https://logs.rig.test/#/search?") || wh.Alerts[0].GeneratorURL != an["link"] {
			t.Errorf("webhook annotations %v, source %s", an, wh.Alerts[0].GeneratorURL)
		}
		link, err := url.Parse(strings.Replace(an["link"], "/#/search?", "/search?", 1))
		if err != nil || link.Query().Get("q") != `("login failed") user.id:"u-7"` || link.Query().Get("from") == "" {
			t.Errorf("the link's search %v (%v)", link, err)
		}
		// Slack and PagerDuty get their payloads made from nano's labels.
		slack := hooks.matching("/slack", "brute force")[0]
		for _, want := range []string{`"channel":"#soc"`, "[FIRING:1] brute force acme", "secops", "u-7"} {
			if !strings.Contains(slack, want) {
				t.Errorf("the Slack payload lacks %s: %s", want, slack)
			}
		}
		pd := hooks.matching("/pagerduty", "brute force")[0]
		for _, want := range []string{`"routing_key":"0123456789abcdef0123456789abcdef"`, `"event_action":"trigger"`, "[FIRING:1] brute force acme", "u-7"} {
			if !strings.Contains(pd, want) {
				t.Errorf("the PagerDuty event lacks %s: %s", want, pd)
			}
		}
		t.Logf("Slack payload: %s", tail(slack, 600))
		t.Logf("PagerDuty payload: %s", tail(pd, 600))

		// Where it stands, as the Alerts page shows it.
		waitFor(t, 15*time.Second, "the alert's delivery state", func() bool {
			d := alertsOf(t, a, bruteForce)[0]["delivery"].(map[string]any)
			return d["state"] == "sent" && d["delivered_at"] != nil
		})
		_, dv := api(t, a, analyst, "GET", "/v1/delivery", nil)
		held, _ := dv["alerts"].([]any)
		if dv["configured"] != true || fmt.Sprint(dv["receivers"]) != "[team]" || len(held) != 1 ||
			held[0].(map[string]any)["state"] != "active" || fmt.Sprint(held[0].(map[string]any)["receivers"]) != "[team]" {
			t.Errorf("delivery status %v", dv)
		}
		if _, dv := api(t, a, other, "GET", "/v1/delivery", nil); len(dv["alerts"].([]any)) != 0 {
			t.Errorf("globex sees acme's alerts in Alertmanager: %v", dv["alerts"])
		}
		// Still one of each after more resends and group intervals.
		time.Sleep(8 * time.Second)
		if n := len(mails(ctx, t, mail, "FIRING", "brute force")); n != 1 {
			t.Errorf("%d firing e-mails for one alert, want 1", n)
		}
		if n := len(hooks.matching("/webhook", "brute force")); n != 1 {
			t.Errorf("%d webhook calls for one alert, want 1", n)
		}
	})

	// 3. Acknowledged in nano: the resolved notification goes out.
	t.Run("acknowledged", func(t *testing.T) {
		alert := alertsOf(t, a, bruteForce)[0]
		acked := time.Now()
		if code, out := api(t, a, analyst, "PATCH", fmt.Sprintf("/v1/alerts/%v", alert["id"]), map[string]any{"status": "acknowledged"}); code != 204 {
			t.Fatalf("ack: %d %v", code, out)
		}
		var got []harness.Mail
		deadline := time.Now().Add(60 * time.Second)
		waitFor(t, 60*time.Second, "the resolved e-mail", func() bool {
			got = mails(ctx, t, mail, "RESOLVED", "brute force")
			if len(got) == 0 && time.Now().After(deadline) {
				// waitFor fails next: what nano and Mailpit saw says which side stopped.
				var subjects []string
				for _, m := range mails(ctx, t, mail) {
					subjects = append(subjects, m.Subject)
				}
				t.Logf("no resolved e-mail; the alert's delivery %v; the webhook's resolved calls %d; Mailpit's subjects %q",
					alertsOf(t, a, bruteForce)[0]["delivery"], len(hooks.matching("/webhook", "brute force", `"status":"resolved"`)), subjects)
			}
			return len(got) > 0
		})
		t.Logf("timing: acknowledged to resolved e-mail %s", got[0].Created.Sub(acked).Round(time.Millisecond))
		waitFor(t, 15*time.Second, "the resolved webhook call", func() bool {
			return len(hooks.matching("/webhook", "brute force", `"status":"resolved"`)) > 0
		})
		if d := alertsOf(t, a, bruteForce)[0]["delivery"].(map[string]any); d["state"] != "resolved" {
			t.Errorf("after the ack the delivery is %v", d)
		}
		// One of each: the members' gossip keeps the second from sending
		// its own (the unclustered control below sends two) within the
		// peer timeout.
		time.Sleep(8 * time.Second)
		if n := len(mails(ctx, t, mail, "RESOLVED", "brute force")); n != 1 {
			t.Errorf("%d resolved e-mails for one alert, want 1", n)
		}
		if n := len(hooks.matching("/webhook", "brute force", `"status":"resolved"`)); n != 1 {
			t.Errorf("%d resolved webhook calls for one alert, want 1", n)
		}
	})

	// 4. A silence made through nano's API stops the next notification;
	// a rule fired at the same time without one is the control.
	t.Run("silenced", func(t *testing.T) {
		body := map[string]any{"matchers": []map[string]any{{"name": "alertname", "value": "port scan"}}, "duration": "1h", "comment": "scanner test"}
		if code, out := api(t, a, writer, "POST", "/v1/silences", body); code != 403 {
			t.Errorf("a token without the alerts scope made a silence: %d %v", code, out)
		}
		tenantless := map[string]any{"matchers": []map[string]any{{"name": "tenant", "value": "globex"}}, "duration": "1h", "comment": "x"}
		if code, out := api(t, a, analyst, "POST", "/v1/silences", tenantless); code != 400 || harness.FirstProblem(out)["field"] != "matchers" {
			t.Errorf("a silence of another tenant's alerts: %d %v", code, out)
		}
		code, sil := api(t, a, analyst, "POST", "/v1/silences", body)
		if code != 201 || sil["state"] != "active" || !strings.Contains(fmt.Sprint(sil["matchers"]), "name:tenant") || !strings.Contains(fmt.Sprint(sil["matchers"]), "value:acme") {
			t.Fatalf("silence: %d %v", code, sil)
		}
		id := sil["id"].(string)
		if _, out := api(t, a, other, "GET", "/v1/silences", nil); len(out["items"].([]any)) != 0 {
			t.Errorf("globex sees acme's silences: %v", out)
		}
		if code, _ := api(t, a, other, "DELETE", "/v1/silences/"+id, nil); code != 404 {
			t.Errorf("globex expired acme's silence: %d", code)
		}
		scan := rule(t, a, "port scan", `"port scan"`, 0)
		rule(t, a, "malware", `"malware found"`, 0)
		waitFor(t, 90*time.Second, "the malware e-mail (the control)", func() bool { return len(mails(ctx, t, mail, "FIRING", "malware")) == 1 })
		waitFor(t, 15*time.Second, "the port scan alert silenced in Alertmanager", func() bool {
			_, dv := api(t, a, analyst, "GET", "/v1/delivery", nil)
			for _, x := range dv["alerts"].([]any) {
				h := x.(map[string]any)
				if h["labels"].(map[string]any)["alertname"] == "port scan" {
					return h["state"] == "suppressed" && fmt.Sprint(h["silenced_by"]) == "["+id+"]"
				}
			}
			return false
		})
		time.Sleep(5 * time.Second)
		if n := len(mails(ctx, t, mail, "port scan")); n != 0 {
			t.Errorf("%d e-mails of the silenced rule", n)
		}
		if n := len(hooks.matching("/webhook", "port scan")); n != 0 {
			t.Errorf("%d webhook calls of the silenced rule", n)
		}
		if d := alertsOf(t, a, scan)[0]["delivery"].(map[string]any); d["state"] != "sent" {
			t.Errorf("the silenced alert's delivery %v", d)
		}
		// Expired through nano, the next notification goes out.
		if code, out := api(t, a, analyst, "DELETE", "/v1/silences/"+id, nil); code != 204 {
			t.Fatalf("expire: %d %v", code, out)
		}
		waitFor(t, 60*time.Second, "the port scan e-mail after the silence expired", func() bool { return len(mails(ctx, t, mail, "FIRING", "port scan")) == 1 })
		_, out := api(t, a, analyst, "GET", "/v1/silences", nil)
		if items := out["items"].([]any); len(items) != 1 || items[0].(map[string]any)["state"] != "expired" {
			t.Errorf("silences after the expiry: %v", out)
		}
	})

	// 5. The leader dies between Alertmanager taking its post and learning
	// it did: the next leader posts the same alerts again, and each group
	// is notified once.
	t.Run("leader killed mid-delivery", func(t *testing.T) {
		p1.armWith.Store("failover-")
		p2.armWith.Store("failover-")
		names := []string{"failover-a", "failover-b", "failover-c"}
		for _, n := range names {
			rule(t, a, n, `"login failed"`, 0)
		}
		waitFor(t, 60*time.Second, "the leader to die mid-delivery", func() bool { return killedAt.Load() != 0 })
		leads(t, b, "b")
		t.Logf("timing: leader killed to the next leader's term %s", time.Since(time.Unix(0, killedAt.Load())).Round(time.Millisecond))
		// The new leader posts them (the dead one recorded nothing).
		waitFor(t, 30*time.Second, "the new leader's post", func() bool {
			var n int
			db.QueryRow(ctx, `SELECT count(*) FROM alerts a JOIN detection_rules r ON r.id = a.rule_id WHERE r.name LIKE 'failover-%' AND a.delivered_at IS NOT NULL`).Scan(&n)
			return n == len(names)
		})
		for _, n := range names {
			waitFor(t, 30*time.Second, "the "+n+" e-mail", func() bool { return len(mails(ctx, t, mail, "FIRING", n)) > 0 })
		}
		// Resends and group intervals pass; nothing more comes.
		time.Sleep(10 * time.Second)
		for _, n := range names {
			m, w := len(mails(ctx, t, mail, "FIRING", n)), len(hooks.matching("/webhook", n))
			t.Logf("measured after the failover: %s: %d e-mail, %d webhook call", n, m, w)
			if m != 1 || w != 1 {
				t.Errorf("%s: %d e-mails and %d webhook calls, want exactly 1 each", n, m, w)
			}
		}
	})

	// 6. The control of 5: Alertmanagers that do not form a cluster each
	// notify, so one alert gives two notifications (why the HA tiers'
	// members gossip).
	t.Run("unclustered control", func(t *testing.T) {
		am3 := startAM(cfg, harness.AlertmanagerOptions{})
		am4 := startAM(cfg, harness.AlertmanagerOptions{})
		c := startService(t, filepath.Join(bin, "api"), "api-c", apiEnv("c", am3.URL, am4.URL)...)
		b.cmd.Process.Kill()
		leads(t, c, "c")
		rule(t, c, "unclustered", `"malware found"`, 0)
		waitFor(t, 90*time.Second, "two unclustered e-mails", func() bool { return len(mails(ctx, t, mail, "FIRING", "unclustered")) == 2 })
		time.Sleep(5 * time.Second)
		if n := len(mails(ctx, t, mail, "FIRING", "unclustered")); n != 2 {
			t.Errorf("%d e-mails from two unclustered Alertmanagers, want 2", n)
		}
	})
}
