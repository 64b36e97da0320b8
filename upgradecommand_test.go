package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/provision"

	"github.com/nanosiem/nano/tests/harness"
)

// `nano upgrade` against the real endpoint handler (provision.Handler over
// a real Manager running the probe program on the real engine): a refusal
// (4xx) ends it at once with every problem printed and no second request;
// 5xx answers and a busy deployment's 409 are retried with backoff; the
// retrying stops after -retry-for.
func TestUpgradeClientAgainstTheEndpoint(t *testing.T) {
	harness.Servers(t)
	root := os.Getenv("NANO_PULUMI_ROOT")
	if root == "" {
		t.Fatal("NANO_PULUMI_ROOT is not set: run the tests with tests/run, which builds the Pulumi CLI")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := provision.New(provision.Config{DataDir: t.TempDir(), Project: project, Program: provision.Probe, PulumiRoot: root,
		Keys: append(provision.ProgramConfigKeys(), provision.ProbeConfigKeys()...), Validate: validateDeployment, MaxConcurrent: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const token = "upgrade-client-test-token"
	t.Setenv("NANO_PROVISION_TOKEN", token)
	// Every request is counted; the first `outage` get a proxy's 502.
	var requests, outage atomic.Int32
	h := provision.Handler(m, token, log)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if outage.Add(-1) >= 0 {
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	upgrade := func(args ...string) (string, error, int32) {
		t.Helper()
		requests.Store(0)
		var out bytes.Buffer
		err := upgradeCommand(&out, append([]string{"-endpoint", srv.URL}, args...))
		return out.String(), err, requests.Load()
	}
	op, err := m.Create(provision.Request{Name: "web", Tier: "hobby", Provider: "hetzner", Region: "fsn1"})
	if err != nil {
		t.Fatal(err)
	}
	waitOp(t, m, op.ID)
	file := filepath.Join(t.TempDir(), "upgrade.json")
	os.WriteFile(file, []byte(`{"name":"web","tier":"team","provider":"civo","region":"fra1"}`), 0o600)

	// A 400 with several problems: printed, and not sent again (-retry-for
	// bounds the negative control, which retries it).
	_, err, n := upgrade("-retry-for", "3s", "-f", file, "web")
	if err == nil || n != 1 || !strings.Contains(err.Error(), "400 Bad Request") ||
		!strings.Contains(err.Error(), "\n  name: is the deployment being upgraded") || !strings.Contains(err.Error(), "\n  move.sourceClickhouse: is required") {
		t.Errorf("a refused upgrade: %d requests, %v; want 1 request and the problems", n, err)
	}
	// A 404 and a 401: not retried either.
	if _, err, n := upgrade("-retry-for", "3s", "-complete", "nope"); err == nil || n != 1 || !strings.Contains(err.Error(), "404 Not Found\n  not found") {
		t.Errorf("an unknown deployment: %d requests, %v", n, err)
	}
	t.Setenv("NANO_PROVISION_TOKEN", "not-the-token-at-all")
	if _, err, n := upgrade("-retry-for", "3s", "-complete", "web"); err == nil || n != 1 || !strings.Contains(err.Error(), "401 Unauthorized\n  a valid token is required") {
		t.Errorf("a wrong token: %d requests, %v", n, err)
	}
	t.Setenv("NANO_PROVISION_TOKEN", token)
	// Two 502s, retried, then the endpoint's own refusal.
	outage.Store(2)
	out, err, n := upgrade("-f", file, "web")
	if err == nil || n != 3 || !strings.Contains(err.Error(), "400 Bad Request") || strings.Count(out, "(retrying in") != 2 {
		t.Errorf("through an outage: %d requests, %v\n%s; want 3 and the 400", n, err, out)
	}
	// An outage longer than -retry-for: given up, bounded.
	outage.Store(1 << 20)
	start := time.Now()
	_, err, n = upgrade("-retry-for", "2s", "-complete", "web")
	if err == nil || n < 2 || !strings.Contains(err.Error(), "502 Bad Gateway") || time.Since(start) > time.Minute {
		t.Errorf("a long outage: %d requests in %s, %v", n, time.Since(start), err)
	}
	outage.Store(0)
	// A busy deployment (409 naming its operation) is retried until the
	// operation ends; then -complete on a deployment no upgrade targets is
	// refused.
	busy, err := m.Update("web", provision.Request{Config: map[string]string{"probe:delayMs": "2500"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err, n = upgrade("-retry-for", "30s", "-complete", "web")
	if err == nil || n < 2 || !strings.Contains(out, "409 Conflict\n  the deployment has an operation under way: "+busy.ID) ||
		!strings.Contains(err.Error(), "is not the target of an upgrade") {
		t.Errorf("a busy deployment: %d requests, %v\n%s", n, err, out)
	}
	waitOp(t, m, busy.ID)
}

func waitOp(t *testing.T, m *provision.Manager, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		op, err := m.Operation(id)
		if err != nil {
			t.Fatal(err)
		}
		if op.Done() {
			if op.State != provision.StateSucceeded {
				t.Fatalf("%s %s: %s %s", op.Kind, op.Deployment, op.State, op.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s still %s", id, op.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
