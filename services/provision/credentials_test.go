package provision

import (
	"encoding/json"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanosiem/nano/tests/standinproviders"
)

// BYOC: two deployments' operations, run at once, each see only their own
// credentials in the environment their providers get (the env probe
// plugin reports digests), not the server's; a deployment without any
// sees the server's (Managed), its credential files copied for its uid; a
// new credential replaces the old; none is kept in plain text or
// returned. The operations run isolated, each as its deployment's uid.
func TestEachDeploymentSeesOnlyItsOwnCredentials(t *testing.T) {
	harness.Servers(t)
	if os.Getenv("NANO_STANDIN_PLUGINS") == "" {
		t.Fatal("NANO_STANDIN_PLUGINS is not set: run the tests with tests/run, whose setup builds the env probe plugin")
	}
	dir := t.TempDir()
	// A credential file of the server's, which only it can read.
	serverCreds := filepath.Join(t.TempDir(), "aws-credentials")
	if err := os.WriteFile(serverCreds, []byte("[default]\naws_access_key_id = SERVERFILEKEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newManagerWith(t, dir, func(c *Config) {
		c.MaxConcurrent = 2
		// The server's own (ambient) credentials.
		c.Env = map[string]string{"HCLOUD_TOKEN": "server-hcloud-token", "AWS_ACCESS_KEY_ID": "SERVERAWSKEY", "AWS_SECRET_ACCESS_KEY": "server-aws-secret",
			"AWS_SHARED_CREDENTIALS_FILE": serverCreds}
		isolated(t, c)
	})
	names := "HCLOUD_TOKEN,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_PROFILE,AWS_CONFIG_FILE@file,AWS_SHARED_CREDENTIALS_FILE@file"
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
	// A role in the customer's account, assumed by the server's identity.
	r, err := m.Create(req("tenant-r", map[string]string{"awsRoleArn": "arn:aws:iam::123456789012:role/nano-deployer"}))
	if err != nil {
		t.Fatal(err)
	}
	// The external id nano generated, answered once.
	externalID := r.issuedExternalID
	if !strings.HasPrefix(externalID, "nano-") {
		t.Fatalf("the role's create answered external id %q", externalID)
	}
	for _, op := range []*Operation{a, b, c, r} {
		if done := wait(t, m, op.ID); done.State != StateSucceeded {
			t.Fatalf("%s: %s %s", op.Deployment, done.State, done.Error)
		}
	}
	d := standinproviders.EnvDigest
	want := map[string]map[string]string{
		"tenant-a": {"HCLOUD_TOKEN": d("token-of-a"), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE@file": ""},
		"tenant-b": {"HCLOUD_TOKEN": d("token-of-b"), "AWS_ACCESS_KEY_ID": d("AKIAOFB"), "AWS_SECRET_ACCESS_KEY": d("secret-of-b")},
		"managed-c": {"HCLOUD_TOKEN": d("server-hcloud-token"), "AWS_ACCESS_KEY_ID": d("SERVERAWSKEY"), "AWS_SECRET_ACCESS_KEY": d("server-aws-secret"), "AWS_PROFILE": "",
			"AWS_SHARED_CREDENTIALS_FILE@file": d("[default]\naws_access_key_id = SERVERFILEKEY\n")},
		// The provider and `aws eks get-token` follow the profile; no key is
		// in the environment to override it.
		"tenant-r": {"HCLOUD_TOKEN": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": d("nano-byoc"),
			"AWS_CONFIG_FILE@file": d("[profile nano-byoc]\nrole_arn = arn:aws:iam::123456789012:role/nano-deployer\nrole_session_name = nano-tenant-r\n" +
				"external_id = " + externalID + "\nsource_profile = nano-byoc-base\n"),
			"AWS_SHARED_CREDENTIALS_FILE@file": d("[nano-byoc-base]\naws_access_key_id = SERVERAWSKEY\naws_secret_access_key = server-aws-secret\n")},
	}
	modes := map[string]string{"tenant-a": "byoc", "tenant-b": "byoc", "managed-c": "managed", "tenant-r": "byoc"}
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
		if uid := dep.Outputs["envUid"]; uid == "0" || uid != fmt.Sprint(dep.UID) || dep.Isolation != IsolationUID {
			t.Errorf("%s: its provider runs as uid %q; the deployment's is %d (%s)", name, uid, dep.UID, dep.Isolation)
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
	_, err = m.Create(req("tenant-x", map[string]string{"hcloudTokn": "x", "civoToken": " ", "awsRoleArn": "arn:aws:iam::12:user/x",
		"awsAccessKeyId": "AKIA\n[nano-byoc-base]"}))
	for _, want := range []string{"credentials.hcloudTokn: unknown; known: awsAccessKeyId", "credentials.civoToken: empty",
		"credentials.awsRoleArn: \"arn:aws:iam::12:user/x\" is not an IAM role ARN", "credentials.awsAccessKeyId: must be one line"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad credentials: want %q in %v", want, err)
		}
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
