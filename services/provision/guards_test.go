package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Without the Pulumi CLI, create, update and destroy are refused at once
// with 503 and a message saying how to install it; nothing is recorded;
// reading deployments still works.
func TestNoPulumiCLI(t *testing.T) {
	harness.Servers(t)
	m := newManagerWith(t, t.TempDir(), func(c *Config) { c.PulumiRoot = t.TempDir() })
	if err := m.CLIError(); err == nil {
		t.Fatal("an empty directory was taken for the Pulumi CLI")
	}
	resp, msg := createOverHTTP(t, m, "nocli")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(msg, "the Pulumi CLI is not installed") || !strings.Contains(msg, "NANO_PULUMI_ROOT") {
		t.Fatalf("create without the CLI: %d %q", resp.StatusCode, msg)
	}
	if ds, err := m.Deployments(); err != nil || len(ds) != 0 {
		t.Fatalf("deployments after a refused create: %v, %v", ds, err)
	}
	if _, err := m.Destroy("nocli"); err == nil || !strings.Contains(err.Error(), "Pulumi CLI") {
		t.Fatalf("destroy without the CLI: %v", err)
	}
}

// A create that fails before the engine runs (here: a state backend that
// went away after start: its directory replaced by a file) leaves the
// deployment "failed" with that operation as its last, not "creating"
// forever.
func TestStatusFollowsAFailedCreate(t *testing.T) {
	harness.Servers(t)
	state := filepath.Join(t.TempDir(), "state")
	m := newManagerWith(t, t.TempDir(), func(c *Config) { c.BackendURL = "file://" + state })
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	op, err := m.Create(hobby("doomed"))
	if err != nil {
		t.Fatal(err)
	}
	if done := wait(t, m, op.ID); done.State != StateFailed {
		t.Fatalf("operation %s, want failed", done.State)
	}
	d, err := m.Deployment("doomed")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "failed" || d.LastOp != op.ID {
		t.Fatalf("deployment status %q, last operation %q; want failed, %s", d.Status, d.LastOp, op.ID)
	}
}

// An update that would move a deployment to another tier, provider or
// region is refused, naming the key and the way to move data; the
// deployment and its stack are untouched; other changes still apply.
func TestUpdateRefusesATierProviderOrRegionChange(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 2)
	succeed(t, m)(m.Create(hobby("steady")))
	for _, req := range []Request{
		{Tier: "startup"},
		{Region: "nbg1"},
		{Provider: "civo"},
		{Config: map[string]string{"tier": "startup"}},
		{Config: map[string]string{"nano:region": "hel1"}},
	} {
		_, err := m.Update("steady", req)
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "replace") {
			t.Errorf("update %+v: %v, want a refusal saying what would be replaced", req, err)
		}
	}
	d, err := m.Deployment("steady")
	if err != nil {
		t.Fatal(err)
	}
	if d.Tier != "hobby" || d.Region != "fsn1" || d.Config["nano:tier"] != "hobby" || d.Status != "ready" {
		t.Fatalf("after refused updates: %+v", d)
	}
	// The same tier and region again, with another change: accepted.
	succeed(t, m)(m.Update("steady", Request{Tier: "hobby", Region: "fsn1", Config: map[string]string{"probe:parts": "2"}}))
}

// An upgrade moves up the catalog or sideways, never down or nowhere.
func TestTierMoveFollowsTheCatalog(t *testing.T) {
	from := &Deployment{Tier: "team", Provider: "civo", Region: "lon1"}
	for _, c := range []struct {
		to   Request
		want string
	}{
		{Request{Tier: "pro", Provider: "gcp", Region: "europe-west3"}, ""},
		{Request{Tier: "team", Provider: "civo", Region: "fra1"}, ""},
		{Request{Tier: "growth", Provider: "hetzner", Region: "fsn1"}, `tier: "growth" is below "team"`},
		{Request{Tier: "team", Provider: "civo", Region: "lon1"}, "is the deployment's own"},
	} {
		got := strings.Join(lines(tierMoveProblems(from, c.to)), "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("team/civo/lon1 -> %+v: %q, want %q", c.to, got, c.want)
		}
	}
}

// The data addresses are required, parsed and distinct, each problem
// naming its field.
func TestUpgradeDataAddressesAreChecked(t *testing.T) {
	ok := DataAddresses{SourceClickhouse: "clickhouse://u:p@10.0.0.1:9000/nano", TargetClickhouse: "clickhouse://u:p@10.0.0.2:9000/nano",
		TargetCluster: "events", SourcePostgres: "postgres://u:p@10.0.0.1/nano", TargetPostgres: "postgres://u:p@10.0.0.2/nano"}
	if p := ok.problems(); len(p) > 0 {
		t.Errorf("good addresses: %v", p)
	}
	same := ok
	same.TargetClickhouse, same.TargetPostgres = same.SourceClickhouse, same.SourcePostgres
	bad := ok
	bad.SourceClickhouse, bad.TargetCluster, bad.SourcePostgres = "", "no spaces", "postgres://u@h:notaport/x"
	for _, c := range []struct {
		a    DataAddresses
		want []string
	}{
		{same, []string{"move.targetClickhouse: is the source's database", "move.targetPostgres: is the source's database"}},
		{bad, []string{"move.sourceClickhouse: is required", `move.targetClickhouse/move.targetCluster: the DSN's path names nano's database: events schema: cluster "no spaces"`, "move.sourcePostgres: "}},
	} {
		got := strings.Join(lines(c.a.problems()), "\n")
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("problems %q lack %q", got, w)
			}
		}
	}
	if keys := moveConfigKeys(); len(keys) != 6 || keys[0] != "nanoMove:sourceClickhouse" {
		t.Errorf("the stack keys of the addresses: %v", keys)
	}
}

// An operation the CLI refuses before its engine starts ends, failed, with
// the CLI's reason, and releases the deployment: the CLI opens the event
// stream the Automation API closes the operation's event channel on only
// once the engine runs (here the CLI's config validation stops it first:
// the project requires a key the stack does not set).
func TestAnOperationTheCLIRefusesEarlyEnds(t *testing.T) {
	harness.Servers(t)
	project := []byte("name: nano\nruntime: go\nstackConfigDir: stacks\nconfig:\n  mustBeSet:\n    type: string\n    description: a required key no request sets\n")
	m := newManagerWith(t, t.TempDir(), func(c *Config) { c.Project = project; c.MaxConcurrent = 1 })
	op, err := m.Create(hobby("early"))
	if err != nil {
		t.Fatal(err)
	}
	done := wait(t, m, op.ID)
	if done.State != StateFailed || !strings.Contains(done.Error, "missing configuration value 'mustBeSet'") {
		t.Fatalf("operation %s: %q; want failed on the missing key", done.State, done.Error)
	}
	// The deployment is free again: its next operation runs (and fails the
	// same way) rather than waiting for the first.
	op, err = m.Preview("early")
	if err != nil {
		t.Fatalf("the deployment is still claimed: %v", err)
	}
	if done := wait(t, m, op.ID); done.State != StateFailed {
		t.Fatalf("preview %s, want failed", done.State)
	}
}

// While nano serve prepares the CLI (Config.CLIPreparing), operations are
// refused with 503, a Retry-After and a message saying it is being
// prepared; once it says ready, the CLI itself is looked for.
func TestPulumiCLIBeingPrepared(t *testing.T) {
	harness.Servers(t)
	var preparing atomic.Bool
	preparing.Store(true)
	m := newManagerWith(t, t.TempDir(), func(c *Config) {
		c.PulumiRoot = t.TempDir()
		c.CLIPreparing = func() error {
			if preparing.Load() {
				return errors.New("building v3.0.0 from source")
			}
			return nil
		}
	})
	resp, msg := createOverHTTP(t, m, "early")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(msg, "being prepared") || !strings.Contains(msg, "building v3.0.0 from source") {
		t.Fatalf("create while the CLI is prepared: %d %q (Retry-After %q)", resp.StatusCode, msg, resp.Header.Get("Retry-After"))
	}
	preparing.Store(false)
	var ne *NoCLIError
	if err := m.CLIError(); !errors.As(err, &ne) || ne.Preparing {
		t.Fatalf("once prepared, the CLI itself is looked for (an empty root here): %v", err)
	}
}

// lines are problems as "field: message", the form the error envelope's
// readers print.
func lines(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// createOverHTTP asks m's HTTP handler to create a Hobby deployment name
// and returns the answer (its body read) and its problems as one string.
func createOverHTTP(t *testing.T, m *Manager, name string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(Handler(m, testToken, m.cfg.Log))
	defer srv.Close()
	body, _ := json.Marshal(hobby(name))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/deployments", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out ErrorBody
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	return resp, fmt.Sprint(out.Errors)
}
