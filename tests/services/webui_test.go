package services

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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

// uiSeed is what the browser test is told about the seeded events, so
// the pages can be checked against it.
type uiSeed struct {
	From             string            `json:"from"`
	Query            string            `json:"query"`
	Matching         int               `json:"matching"`
	NewestMessage    string            `json:"newestMessage"`
	Page2Message     string            `json:"page2Message"`
	NewestAttributes map[string]string `json:"newestAttributes"`
	Services         int               `json:"services"`
	RuleQuery        string            `json:"ruleQuery"`
	RuleWindow       int               `json:"ruleWindow"`
	RuleMatches      int               `json:"ruleMatches"`
	// Receiver is where the api's Alertmanager routes alerts.
	Receiver string `json:"receiver"`
	// Delivered answers how many notifications of the rule's alert the
	// receiver got: the browser silences the alert only after the first,
	// since a silence made before Alertmanager's group wait ends rightly
	// suppresses it.
	Delivered string `json:"delivered"`
}

// seedUIEvents writes acme's events of the last two hours: 130 of
// service checkout 50 s apart (the 15 newest even ones errors, each with
// user.id and http.status), 70 of two other services, and 40 checkout
// events of another tenant that acme must not see.
func seedUIEvents(ctx context.Context, t *testing.T, ch *harness.ClickHouse, database string) uiSeed {
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
	add := func(ev events.Event) {
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	errors := 0
	for i := 0; i < 130; i++ {
		sev, status := "info", "200"
		if i%2 == 0 && i < 30 {
			sev, status = "error", "500"
			errors++
		}
		add(events.Event{Time: now.Add(-time.Duration(i+1) * 50 * time.Second), Tenant: "acme", Feed: "web", Service: "checkout",
			Host: fmt.Sprintf("web-%d", i%3), Severity: sev, Message: fmt.Sprintf("checkout %03d", i),
			Attributes: events.Attrs{{Key: "user.id", Value: fmt.Sprintf("u-%d", i)}, {Key: "http.status", Value: status}}})
	}
	for i := 0; i < 70; i++ {
		add(events.Event{Time: now.Add(-time.Duration(i+1) * 70 * time.Second), Tenant: "acme", Feed: "web", Service: []string{"payments", "cart"}[i%2],
			Host: "web-1", Severity: "info", Message: fmt.Sprintf("other %d", i)})
	}
	for i := 0; i < 40; i++ {
		add(events.Event{Time: now.Add(-time.Duration(i+1) * 30 * time.Second), Tenant: "other", Service: "checkout", Severity: "error", Message: "not acme's"})
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	return uiSeed{From: "-3h", Query: "service:checkout", Matching: 130, NewestMessage: "checkout 000", Page2Message: "checkout 050",
		NewestAttributes: map[string]string{"user.id": "u-0", "http.status": "500"}, Services: 3,
		RuleQuery: "service:checkout level:error", RuleWindow: 3600, RuleMatches: errors}
}

// serviceProcess is one of nano's service binaries running on loopback.
type serviceProcess struct {
	// ops is where its operational endpoints answer: base, but web's
	// are on a port of their own.
	name, base, ops string
	cmd             *exec.Cmd
	log             bytes.Buffer
}

func startService(t *testing.T, bin, name string, env ...string) *serviceProcess {
	t.Helper()
	// The child binds these addresses' ports later.
	addr := harness.FreeAddr(t)
	p := &serviceProcess{name: name, base: "http://" + addr, ops: "http://" + addr}
	if name == "web" {
		ops := harness.FreeAddr(t)
		p.ops = "http://" + ops
		env = append(env, contract.MetricsAddr+"="+ops)
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), append(env, contract.ListenAddr+"="+addr)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	c := http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := c.Get(p.ops + contract.ReadyPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not get ready in 60 s:\n%s", name, p.log.String())
		}
	}
}

// origin stands in for the Compose host's Caddy and the clusters'
// Ingress: one loopback origin where /api/ reaches api, /search/ search
// and every other path web, prefixes kept (as an Ingress keeps them).
// routes maps a prefix to the process that gets it.
func origin(t *testing.T, web *serviceProcess, routes map[string]*serviceProcess) string {
	t.Helper()
	proxy := func(p *serviceProcess) http.Handler {
		u, _ := url.Parse(p.base)
		return httputil.NewSingleHostReverseProxy(u)
	}
	mux := http.NewServeMux()
	for prefix, p := range routes {
		mux.Handle(prefix+"/", proxy(p))
	}
	mux.Handle("/", proxy(web))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String()
}

// runBrowser runs tests/browser/ui.mjs (the given steps, all when none)
// against base; it answers what the script made and its log.
func runBrowser(t *testing.T, base, token string, seed uiSeed, shots string, steps ...string) (map[string]any, string, error) {
	t.Helper()
	if _, err := os.Stat("../browser/node_modules/playwright-core"); err != nil {
		t.Fatal("playwright-core is not installed in tests/browser: run the tests with tests/run (tests/setup installs it)")
	}
	seedJSON, _ := json.Marshal(seed)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "ui.mjs")
	cmd.Dir = "../browser"
	cmd.Env = append(os.Environ(), "NANO_UI_URL="+base, "NANO_UI_TOKEN="+token, "NANO_UI_SEEDED="+string(seedJSON),
		"NANO_UI_SHOTS="+shots, "NANO_UI_STEPS="+strings.Join(steps, ","))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	made := map[string]any{}
	json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &made)
	return made, stderr.String(), err
}

// TestWebUIInABrowser drives the analyst UI in Debian's Chromium against
// the real web, api and search services (binaries of this checkout) on a
// real PostgreSQL and ClickHouse: sign in (a bad token refused), a search
// with its histogram and rows, paging, an event's attributes, a bad query's
// column, a stats chart, a saved search and the history, a detection rule
// created, tested and edited, the alert the api's scheduler raises from it
// acknowledged, and a feed with an ingest token shown once. Each page's
// screenshot is kept in tests/artifacts/webui. Negative control: with
// /search/ routed to the web service (a proxy that forgets the route),
// the search step fails.
func TestWebUIInABrowser(t *testing.T) {
	harness.Servers(t)
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("/usr/bin/chromium is missing: run the tests with tests/run (tests/setup installs Debian's chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
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
	pgURL, db := metafixture.New(t, pg, "webui")
	seed := seedUIEvents(ctx, t, ch, "webui")
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	token, _, err := authtoken.Issue(ctx, db, "acme", nil, "analyst",
		[]string{authtoken.ScopeRead, authtoken.ScopeWrite, authtoken.ScopeAdmin, authtoken.ScopeSearch}, nil)
	if err != nil {
		t.Fatal(err)
	}

	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "../../services/api", "../../services/search", "../../services/web").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := []string{contract.PostgresURL + "=" + pgURL, contract.ClickHouseAddr + "=" + ch.Addr, contract.ClickHouseDatabase + "=webui"}
	// Alerts go to a real Alertmanager, which calls a webhook here.
	hooks := startReceivers(t)
	seed.Receiver = "team"
	seed.Delivered = hooks.srv.URL + "/count?path=/webhook&match=" + url.QueryEscape("checkout errors")
	am, err := harness.StartAlertmanager("route: {receiver: team, group_wait: 1s}\nreceivers:\n  - name: team\n    webhook_configs: [{url: '"+hooks.srv.URL+"/webhook'}]\n", harness.AlertmanagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Stop)
	api := startService(t, filepath.Join(bin, "api"), "api", append(env, contract.AlertmanagerURLs+"="+am.URL, contract.AlertmanagerResend+"=2s")...)
	search := startService(t, filepath.Join(bin, "search"), "search", env...)
	web := startService(t, filepath.Join(bin, "web"), "web")

	shots, err := filepath.Abs(filepath.Join("..", "artifacts", "webui"))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(shots)
	base := origin(t, web, map[string]*serviceProcess{contract.APIPrefix: api, contract.SearchPrefix: search})
	made, log, err := runBrowser(t, base, token, seed, shots)
	t.Logf("browser (screenshots in %s):\n%s", shots, log)
	if err != nil {
		t.Fatalf("the browser test failed: %v\napi:\n%s\nsearch:\n%s\nweb:\n%s", err, tail(api.log.String(), 4000), tail(search.log.String(), 4000), tail(web.log.String(), 4000))
	}

	// What the browser did is in PostgreSQL.
	var acked, rules int
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'acknowledged') FROM alerts WHERE tenant = 'acme'`).Scan(&acked); err != nil || acked != 1 {
		t.Errorf("acknowledged alerts %d (%v), want 1", acked, err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM detection_rules WHERE tenant = 'acme' AND name = 'checkout errors' AND threshold = 3`).Scan(&rules); err != nil || rules != 1 {
		t.Errorf("edited rules %d (%v), want 1", rules, err)
	}
	ingest, _ := made["ingestToken"].(string)
	var tokens int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM ingest_tokens i JOIN feeds f ON f.id = i.feed_id WHERE i.hash = $1 AND f.name = 'firewall' AND f.kind = 'hec'`,
		authtoken.Hash(ingest)).Scan(&tokens); err != nil || tokens != 1 {
		t.Errorf("the ingest token shown (%q) is not the firewall feed's: %d (%v)", ingest, tokens, err)
	}
	otlpToken, _ := made["otlpToken"].(string)
	if err := db.QueryRow(ctx, `SELECT count(*) FROM ingest_tokens i JOIN feeds f ON f.id = i.feed_id WHERE i.hash = $1 AND f.name = 'otel-apps' AND f.kind = 'otlp'`,
		authtoken.Hash(otlpToken)).Scan(&tokens); err != nil || tokens != 1 {
		t.Errorf("the token in the collector snippet (%q) is not the otel-apps feed's: %d (%v)", otlpToken, tokens, err)
	}
	for _, p := range []*serviceProcess{api, search, web} {
		if strings.Contains(p.log.String(), token) {
			t.Errorf("%s logged the API token", p.name)
		}
	}
	pngs, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(pngs) < 15 {
		t.Errorf("%d screenshots in %s, want one per page (15)", len(pngs), shots)
	}
	// The silence the analyst made is in Alertmanager, for acme only.
	var silences []struct {
		ID       string `json:"id"`
		Comment  string `json:"comment"`
		Matchers []struct {
			Name, Value string
			IsRegex     bool `json:"isRegex"`
		} `json:"matchers"`
		Status struct{ State string } `json:"status"`
	}
	if err := getJSONTo(ctx, am.URL+"/api/v2/silences", &silences); err != nil {
		t.Fatal(err)
	}
	if len(silences) != 1 || silences[0].ID != made["silence"] || silences[0].Comment != "known checkout incident" || silences[0].Status.State != "active" ||
		!strings.Contains(fmt.Sprint(silences[0].Matchers), "{tenant acme false}") || !strings.Contains(fmt.Sprint(silences[0].Matchers), "{alertname checkout errors false}") {
		t.Errorf("Alertmanager's silences after the browser made one (%v): %+v", made["silence"], silences)
	}
	if n := len(hooks.matching("/webhook", "checkout errors")); n != 1 {
		t.Errorf("the webhook got %d notifications of the rule's alert, want 1 (then silenced)", n)
	}

	// Negative control: an api without Alertmanager; the page says the
	// alert was not sent, and the delivery step fails.
	offline := startService(t, filepath.Join(bin, "api"), "api-offline", env...)
	unsent := origin(t, web, map[string]*serviceProcess{contract.APIPrefix: offline, contract.SearchPrefix: search})
	_, log, err = runBrowser(t, unsent, token, seed, filepath.Join(shots, "negative-control-delivery"), "signin", "silence")
	if err == nil || !strings.Contains(log, "silence FAILED") || !strings.Contains(log, "not sent (no Alertmanager)") {
		t.Errorf("the delivery step passed without Alertmanager: %v\n%s", err, log)
	}

	// Negative control: a proxy that sends /search/ to the web service.
	broken := origin(t, web, map[string]*serviceProcess{contract.APIPrefix: api})
	_, log, err = runBrowser(t, broken, token, seed, filepath.Join(shots, "negative-control"), "signin", "search")
	if err == nil || !strings.Contains(log, "search FAILED") {
		t.Errorf("the browser test passed with /search/ misrouted: %v\n%s", err, log)
	}
}

// getJSONTo GETs url and decodes its JSON answer into out.
func getJSONTo(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
