package provision

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanosiem/nano/tests/standinproviders"
)

// BYOC: two deployments' operations, run at once, each see only their own
// credentials in the environment their providers get (the env probe
// plugin reports digests), not the server's; a deployment without any
// sees the server's (Managed); a new credential replaces the old; none is
// kept in plain text or returned.
func TestEachDeploymentSeesOnlyItsOwnCredentials(t *testing.T) {
	plugins := os.Getenv("NANO_STANDIN_PLUGINS")
	if plugins == "" {
		t.Fatal("NANO_STANDIN_PLUGINS is not set: run the tests with tests/run, whose setup builds the env probe plugin")
	}
	dir := t.TempDir()
	m := newManagerWith(t, dir, func(c *Config) {
		c.MaxConcurrent = 2
		// The server's own (ambient) credentials.
		c.Env = map[string]string{"PATH": plugins + string(os.PathListSeparator) + os.Getenv("PATH"),
			"HCLOUD_TOKEN": "server-hcloud-token", "AWS_ACCESS_KEY_ID": "SERVERAWSKEY"}
	})
	names := "HCLOUD_TOKEN,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY"
	req := func(name string, creds map[string]string) Request {
		r := hobby(name)
		r.Config = map[string]string{"probe:envNames": names}
		r.Credentials = creds
		return r
	}
	a, err := m.Create(req("tenant-a", map[string]string{"hcloudToken": "token-of-a"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Create(req("tenant-b", map[string]string{"hcloudToken": "token-of-b", "awsAccessKeyId": "AKIAOFB", "awsSecretAccessKey": "secret-of-b"}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Create(req("managed-c", nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []*Operation{a, b, c} {
		if done := wait(t, m, op.ID); done.State != StateSucceeded {
			t.Fatalf("%s: %s %s", op.Deployment, done.State, done.Error)
		}
	}
	d := standinproviders.EnvDigest
	want := map[string]map[string]string{
		"tenant-a":  {"HCLOUD_TOKEN": d("token-of-a"), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
		"tenant-b":  {"HCLOUD_TOKEN": d("token-of-b"), "AWS_ACCESS_KEY_ID": d("AKIAOFB"), "AWS_SECRET_ACCESS_KEY": d("secret-of-b")},
		"managed-c": {"HCLOUD_TOKEN": d("server-hcloud-token"), "AWS_ACCESS_KEY_ID": d("SERVERAWSKEY"), "AWS_SECRET_ACCESS_KEY": ""},
	}
	modes := map[string]string{"tenant-a": "byoc", "tenant-b": "byoc", "managed-c": "managed"}
	check := func(name string) {
		t.Helper()
		dep, err := m.Deployment(name)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(dep.Outputs["envDigests"]), &got); err != nil {
			t.Fatalf("%s: envDigests %q: %v", name, dep.Outputs["envDigests"], err)
		}
		for k, v := range want[name] {
			if got[k] != v {
				t.Errorf("%s: its providers see %s with digest %q, want %q", name, k, got[k], v)
			}
		}
		if dep.Mode != modes[name] {
			t.Errorf("%s: mode %q, want %q", name, dep.Mode, modes[name])
		}
	}
	for name := range want {
		check(name)
	}

	// Rotation: the new token replaces the old one for every later operation.
	up, err := m.Update("tenant-a", Request{Credentials: map[string]string{"hcloudToken": "rotated-token-of-a"}, Config: map[string]string{"probe:envRound": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if done := wait(t, m, up.ID); done.State != StateSucceeded {
		t.Fatalf("rotation: %s %s", done.State, done.Error)
	}
	want["tenant-a"]["HCLOUD_TOKEN"] = d("rotated-token-of-a")
	check("tenant-a")

	// Bad names are refused, naming them, and nothing is recorded.
	if _, err := m.Create(req("tenant-x", map[string]string{"hcloudTokn": "x", "civoToken": " "})); err == nil ||
		!strings.Contains(err.Error(), "credentials.hcloudTokn: unknown; known: awsAccessKeyId") || !strings.Contains(err.Error(), "credentials.civoToken: empty") {
		t.Errorf("bad credentials: %v", err)
	}
	if _, err := m.Deployment("tenant-x"); err != ErrNotFound {
		t.Errorf("a refused create left a record: %v", err)
	}

	for _, secret := range []string{"token-of-a", "rotated-token-of-a", "token-of-b", "secret-of-b"} {
		assertNoPlaintext(t, dir, secret)
	}
	if _, err := os.Stat(filepath.Join(m.workspaceDir("tenant-b"), ".credentials")); !os.IsNotExist(err) {
		t.Errorf("credential files outlive the operation: %v", err)
	}
}
