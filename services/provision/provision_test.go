package provision

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nanosiem/nano/stacks/model/settings"
)

// The engine tests run the Probe program: component resources only, since
// provider plugins cannot be installed here (the cloud programs are covered
// by the mocks tests in components/). Everything else is real: the Pulumi
// CLI built by tests/setup, the Automation API, the file backend and the
// passphrase secrets provider.

const testToken = "provision-test-token-0123456789"

func newManager(t *testing.T, dir string, maxConcurrent int) *Manager {
	harness.Servers(t)
	t.Helper()
	return newManagerWith(t, dir, func(c *Config) { c.MaxConcurrent = maxConcurrent })
}

// newManagerWith is newManager with its configuration changed by mod.
func newManagerWith(t *testing.T, dir string, mod func(*Config)) *Manager {
	harness.Servers(t)
	t.Helper()
	root := os.Getenv("NANO_PULUMI_ROOT")
	if root == "" {
		t.Fatal("NANO_PULUMI_ROOT is not set: run the tests with tests/run, which builds the Pulumi CLI")
	}
	proj, err := os.ReadFile("../../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DataDir: dir, Project: proj, Program: Probe, PulumiRoot: root,
		Keys: append(ProgramConfigKeys(), ProbeConfigKeys()...),
		Validate: func(name string, cfg map[string]string) error {
			_, err := settings.Load(name, func(k string) string { return cfg["nano:"+k] })
			return err
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	mod(&cfg)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func hobby(name string) Request {
	return Request{Name: name, Tier: "hobby", Provider: "hetzner", Region: "fsn1"}
}

func wait(t *testing.T, m *Manager, id string) *Operation {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		op, err := m.Operation(id)
		if err != nil {
			t.Fatal(err)
		}
		if op.Done() {
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s still %s", id, op.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// succeed returns a function that waits for an operation to succeed.
func succeed(t *testing.T, m *Manager) func(*Operation, error) *Operation {
	return func(op *Operation, err error) *Operation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		done := wait(t, m, op.ID)
		if done.State != StateSucceeded {
			t.Fatalf("%s %s: %s %s", done.Kind, done.Deployment, done.State, done.Error)
		}
		return done
	}
}

// Create, preview, update and destroy a deployment on the real engine,
// its operations isolated as `nano serve` runs them (a uid of its own);
// secrets stay secret in outputs and in the exported state.
func TestRoundTrip(t *testing.T) {
	harness.Servers(t)
	dir := t.TempDir()
	m := newManagerWith(t, dir, func(c *Config) { c.MaxConcurrent = 2; isolated(t, c) })
	req := hobby("acme")
	req.Config = map[string]string{"probe:parts": "2", "probe:protect": "true", "sshAllowedCidrs": `["203.0.113.0/24","2001:db8::/48"]`}
	req.Secrets = map[string]string{"probe:secret": "s3cr3t-round-trip-value"}
	op := succeed(t, m)(m.Create(req))
	if op.Events == 0 || op.Summary["create"] == 0 {
		t.Errorf("create recorded %d events, summary %v", op.Events, op.Summary)
	}
	d, err := m.Deployment("acme")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "ready" || d.Outputs["tier"] != "hobby" || d.Outputs["parts"] != "2" || d.Outputs["secret"] != "[secret]" {
		t.Errorf("deployment %+v", d)
	}
	if st, err := os.Stat(m.workspaceDir("acme")); err != nil || st.Mode().Perm() != 0o700 || st.Sys().(*syscall.Stat_t).Uid != d.UID || d.UID == 0 {
		t.Errorf("the workspace is not the deployment's own (uid %d): %v %v", d.UID, st.Mode(), err)
	}
	if b, err := os.ReadFile(filepath.Join(m.workspaceDir("acme"), "stacks", "Pulumi.acme.yaml")); err != nil ||
		!strings.Contains(string(b), "- 2001:db8::/48") || !strings.Contains(string(b), "secure:") {
		t.Errorf("stack config file: %v\n%s", err, b)
	}
	if _, ok := d.Config["probe:secret"]; ok {
		t.Error("a secret is kept in the deployment record")
	}
	succeed(t, m)(m.Preview("acme"))
	up := succeed(t, m)(m.Update("acme", Request{Config: map[string]string{"probe:parts": "4"}}))
	if up.Summary["create"] != 2 {
		t.Errorf("update summary %v, want 2 parts created", up.Summary)
	}
	if d, _ := m.Deployment("acme"); d.Outputs["parts"] != "4" || d.Outputs["secret"] != "[secret]" {
		t.Errorf("after update %+v", d.Outputs)
	}
	exp := stackExport(t, m, "acme")
	if !strings.Contains(exp, `"outputs"`) || strings.Contains(exp, "s3cr3t-round-trip-value") {
		t.Errorf("pulumi stack export holds the secret in plain text (or no outputs):\n%.400s", exp)
	}
	if !strings.Contains(exp, `"protect": true`) {
		t.Errorf("probe:protect left no protected resource:\n%.400s", exp)
	}
	assertNoPlaintext(t, dir, "s3cr3t-round-trip-value")
	succeed(t, m)(m.Refresh("acme"))
	// DELETE destroys what nano:protectData protects (the probe's root).
	succeed(t, m)(m.Destroy("acme"))
	if _, err := m.Deployment("acme"); err != ErrNotFound {
		t.Errorf("deployment after destroy: %v", err)
	}
}

// stackExport runs `pulumi stack export` (as a user would, without
// --show-secrets) on a deployment's stack, in its workspace.
func stackExport(t *testing.T, m *Manager, name string) string {
	t.Helper()
	d, err := m.Deployment(name)
	if err != nil {
		t.Fatal(err)
	}
	l := m.layoutOf(d)
	pass, err := m.passphraseFile()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(m.cfg.PulumiRoot, "bin", "pulumi"), "stack", "export", "--stack", name)
	cmd.Dir = l.dir
	cmd.Env = append(os.Environ(), "PULUMI_BACKEND_URL="+l.backend, "PULUMI_CONFIG_PASSPHRASE_FILE="+pass,
		"PULUMI_HOME="+t.TempDir(), "PULUMI_SKIP_UPDATE_CHECK=true")
	if l.isolated {
		master, err := os.ReadFile(pass)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "PULUMI_CONFIG_PASSPHRASE_FILE=", "PULUMI_CONFIG_PASSPHRASE="+derivedPassphrase(master, name))
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pulumi stack export: %v", err)
	}
	return string(out)
}

// assertNoPlaintext checks every file the service wrote.
func assertNoPlaintext(t *testing.T, dir, secret string) {
	t.Helper()
	err := walkFiles(dir, func(path string, b []byte) {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret in plain text", path)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The HTTP API: auth, validation naming keys, 409 on a busy deployment,
// Server-Sent Events as the update runs.
func TestHTTPAPI(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 2)
	srv := httptest.NewServer(Handler(m, testToken, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if resp, err := http.Get(srv.URL + "/v1/deployments"); err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v", resp.StatusCode, err)
	}
	code, body := call("POST", "/v1/deployments", `{"name":"web","tier":"hobby","provider":"aws","region":"eu-central-1","config":{"retentionDays":"9999"}}`)
	if code != 400 || !strings.Contains(problemText(body), `nano:provider: tier "hobby" does not run on "aws"`) ||
		!strings.Contains(problemText(body), "nano:retentionDays: 9999 is outside") {
		t.Errorf("invalid create: %d %v", code, body)
	}
	if code, body = call("POST", "/v1/deployments", `{"name":"web","tier":"hobby","colour":"blue"}`); code != 400 || !strings.Contains(problemText(body), `unknown field "colour"`) {
		t.Errorf("unknown field: %d %v", code, body)
	}
	code, body = call("POST", "/v1/deployments", `{"name":"web","tier":"hobby","provider":"hetzner","region":"fsn1","config":{"probe:delayMs":"1500"}}`)
	if code != 202 {
		t.Fatalf("create: %d %v", code, body)
	}
	opID := body["operation"].(map[string]any)["id"].(string)
	code, body = call("PUT", "/v1/deployments/web", `{"config":{"probe:parts":"1"}}`)
	if code != 409 || body["operation"] != opID {
		t.Errorf("second mutation of a busy deployment: %d %v, want 409 naming %s", code, body, opID)
	}
	// Stream the events while the update runs.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/operations/"+opID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var engineEvents int
	var firstEvent time.Duration
	var end string
	for sc.Scan() {
		line := sc.Text()
		if line == "event: engine" {
			engineEvents++
			if engineEvents == 1 {
				firstEvent = time.Since(start)
			}
		}
		if strings.HasPrefix(line, "data: ") && end == "pending" {
			end = strings.TrimPrefix(line, "data: ")
			break
		}
		if line == "event: end" {
			end = "pending"
		}
	}
	if engineEvents == 0 || !strings.Contains(end, `"state":"succeeded"`) {
		t.Errorf("stream: %d engine events, end %q", engineEvents, end)
	}
	t.Logf("first streamed event after %s, %d events", firstEvent, engineEvents)
	if code, body = call("GET", "/v1/deployments/web", ""); code != 200 || body["deployment"].(map[string]any)["status"] != "ready" {
		t.Errorf("get: %d %v", code, body)
	}
	if code, _ = call("GET", "/v1/operations/nope", ""); code != 404 {
		t.Errorf("unknown operation: %d", code)
	}
	if code, body = call("POST", "/v1/operations/"+opID+"/cancel", ""); code != 409 {
		t.Errorf("cancel of a finished operation: %d %v", code, body)
	}
}

// 50 mutating requests over 10 deployments at once: every accepted
// operation runs exactly once, one at a time per deployment; the rest get
// 409 naming the running one.
func TestConcurrentRequests(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 4)
	for i := 0; i < 10; i++ {
		succeed(t, m)(m.Create(hobby(fmt.Sprintf("tenant-%d", i))))
	}
	start := time.Now()
	var mu sync.Mutex
	accepted := map[string]string{} // op -> deployment
	busy := 0
	var wg sync.WaitGroup
	for r := 0; r < 50; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			name := fmt.Sprintf("tenant-%d", r%10)
			op, err := m.Update(name, Request{Config: map[string]string{"probe:parts": fmt.Sprint(r%4 + 1)}})
			mu.Lock()
			defer mu.Unlock()
			if be, ok := err.(*BusyError); ok {
				busy++
				if be.Operation == "" {
					t.Error("409 without the running operation")
				}
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if _, dup := accepted[op.ID]; dup {
				t.Errorf("operation %s accepted twice", op.ID)
			}
			accepted[op.ID] = name
		}(r)
	}
	wg.Wait()
	for id := range accepted {
		if op := wait(t, m, id); op.State != StateSucceeded {
			t.Errorf("%s: %s %s", id, op.State, op.Error)
		}
	}
	elapsed := time.Since(start)
	// No two operations of one deployment overlapped.
	byDep := map[string][]*Operation{}
	for id := range accepted {
		o, err := m.Operation(id)
		if err != nil {
			t.Fatal(err)
		}
		byDep[o.Deployment] = append(byDep[o.Deployment], o)
	}
	for dep, list := range byDep {
		for i := 0; i < len(list); i++ {
			for j := i + 1; j < len(list); j++ {
				a, b := list[i], list[j]
				if a.Started != nil && b.Started != nil && a.Started.Before(*b.Finished) && b.Started.Before(*a.Finished) {
					t.Errorf("%s: operations %s and %s overlapped", dep, a.ID, b.ID)
				}
			}
		}
	}
	if len(accepted)+busy != 50 || len(accepted) < 10 {
		t.Errorf("%d accepted + %d busy of 50", len(accepted), busy)
	}
	t.Logf("50 requests: %d operations ran, %d answered 409; %.2f operations/s", len(accepted), busy, float64(len(accepted))/elapsed.Seconds())
}

// Canceling a running update stops it; the deployment takes the next one.
func TestCancel(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 2)
	succeed(t, m)(m.Create(hobby("slow")))
	op, err := m.Update("slow", Request{Config: map[string]string{"probe:delayMs": "60000"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		o, _ := m.Operation(op.ID)
		if o.State == StateRunning && o.Events > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := m.Cancel(op.ID); err != nil {
		t.Fatal(err)
	}
	done := wait(t, m, op.ID)
	if done.State != StateCanceled {
		t.Errorf("canceled update ended %s %s", done.State, done.Error)
	}
	succeed(t, m)(m.Update("slow", Request{Config: map[string]string{"probe:delayMs": "0"}}))
}

// problemText reads an answer as the endpoint's ErrorBody: its problems,
// "field: message" a line ("" when it is not one).
func problemText(body map[string]any) string {
	b, _ := json.Marshal(body)
	var e ErrorBody
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.Error()
}
