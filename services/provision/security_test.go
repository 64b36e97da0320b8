package provision

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nanosiem/nano/tests/harness"
)

// isolated makes a manager's configuration run operations under
// IsolationUID, with the Pulumi CLI and the tests' plugins (PATH) staged
// where the deployments' uids can run them.
func isolated(t *testing.T, c *Config) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the isolation tests run as root (the endpoint switches to the deployments' uids)")
	}
	stage := t.TempDir()
	if err := harness.Traversable(stage); err != nil {
		t.Fatal(err)
	}
	if err := harness.Traversable(c.DataDir); err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(c.PulumiRoot, "bin")}
	if p := os.Getenv("NANO_STANDIN_PLUGINS"); p != "" {
		dirs = append(dirs, p)
	}
	staged, err := harness.StageForOperations(stage, dirs...)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(stage, "pulumi")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(staged[0], filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	c.PulumiRoot, c.Isolation = root, IsolationUID
	if c.Env == nil {
		c.Env = map[string]string{}
	}
	c.Env["PATH"] = strings.Join(append(staged[1:], "/usr/local/bin", "/usr/bin", "/bin"), string(os.PathListSeparator))
}

// Every config key is checked against the allow-list: nano's own keys
// (settings.Keys) and, per provider, the documented non-secret ones; the
// rest is refused with 400 naming the key. A credential in "config" is
// stored as a secret, never in the record.
func TestConfigKeysAreAllowListed(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 1)
	refused := map[string]string{
		"hcloud:endpoint":                  `config.hcloud:endpoint: is not a key nano accepts (none of namespace hcloud on provider "hetzner"): a provider's endpoint`,
		"aws:endpoints":                    "config.aws:endpoints: is not a key nano accepts",
		"aws:profile":                      "config.aws:profile:",
		"aws:sharedCredentialsFiles":       "config.aws:sharedCredentialsFiles:",
		"aws:assumeRole":                   "config.aws:assumeRole:",
		"kubernetes:kubeconfig":            "config.kubernetes:kubeconfig: is not a key nano accepts",
		"kubernetes:renderYamlToDirectory": "config.kubernetes:renderYamlToDirectory:",
		"gcp:impersonateServiceAccount":    "config.gcp:impersonateServiceAccount:",
		"pulumi:disable-default-providers": "config.pulumi:disable-default-providers: is not a key nano accepts",
		"nanoMove:sourcePostgres":          "config.nanoMove:sourcePostgres:",
		"byoc:awsRoleArn":                  "config.byoc:awsRoleArn: is set by nano itself",
		"colour":                           "config.colour: is not a key nano accepts (of namespace nano it accepts the keys Pulumi.yaml declares)",
	}
	for key, want := range refused {
		req := hobby("keys")
		req.Config = map[string]string{key: "https://attacker.example/"}
		_, _, err := m.plan(req, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: %v, want %q", key, err, want)
		}
		req.Config, req.Secrets = nil, map[string]string{key: "https://attacker.example/"}
		if _, _, err := m.plan(req, nil); err == nil || !strings.Contains(err.Error(), "secrets."+key) {
			t.Errorf("secrets %s: %v, want it refused", key, err)
		}
	}
	// A provider's documented keys, on that provider only.
	gcp := Request{Name: "on-gcp", Tier: "team", Provider: "gcp", Region: "europe-west3", Config: map[string]string{"gcp:project": "acme-logs"}}
	if d, _, err := m.plan(gcp, nil); err != nil || d.Config["gcp:project"] != "acme-logs" {
		t.Errorf("gcp:project on gcp: %v %v", err, d)
	}
	aws := Request{Name: "on-aws", Tier: "team", Provider: "aws", Region: "eu-central-1", Config: map[string]string{"aws:endpoints": "[]"}}
	if _, _, err := m.plan(aws, nil); err == nil || !strings.Contains(err.Error(), "config.aws:endpoints: is not a key nano accepts (of namespace aws it accepts aws:region)") {
		t.Errorf("aws:endpoints on aws: %v", err)
	}
	req := hobby("on-hetzner")
	req.Config = map[string]string{"gcp:project": "acme-logs"}
	if _, _, err := m.plan(req, nil); err == nil || !strings.Contains(err.Error(), `config.gcp:project: only a deployment on provider "gcp" takes it`) {
		t.Errorf("gcp:project on hetzner: %v", err)
	}
	// Credentials in config are forced secret.
	req = hobby("leaky")
	req.Config = map[string]string{"hcloud:token": "hcloud-token-in-config", "probe:secret": "probe-secret-in-config", "probe:parts": "2"}
	d, secrets, err := m.plan(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Config["hcloud:token"]; ok || secrets["hcloud:token"] != "hcloud-token-in-config" || secrets["probe:secret"] != "probe-secret-in-config" {
		t.Errorf("credentials in config: record %v, secrets %v", d.Config, secrets)
	}
	if b, _ := json.Marshal(d); strings.Contains(string(b), "in-config") || d.Mode != "byoc" || d.Config["probe:parts"] != "2" {
		t.Errorf("the record: %s", b)
	}
	// A refusal never repeats a secret.
	req = hobby("echo")
	req.Secrets = map[string]string{"postgresUri": "postgres://u:refusal-must-not-echo@db/nano"}
	if _, _, err := m.plan(req, nil); err == nil || strings.Contains(err.Error(), "refusal-must-not-echo") {
		t.Errorf("refusal: %v", err)
	}
}

// The program's keys come from settings.Keys: every key declared there is
// accepted, secret ones as secrets.
func TestProgramConfigKeysFollowSettings(t *testing.T) {
	r := newKeyRules(ProgramConfigKeys())
	for _, k := range []string{"nano:tier", "nano:webImage", "nano:protectData", "nano:kubeconfig"} {
		if p := r.problem("config."+k, k, "kubernetes"); p != nil {
			t.Errorf("%s: %s", k, p)
		}
	}
	for _, k := range []string{"nano:kubeconfig", "nano:postgresUri", "nano:backupSecretAccessKey", "hcloud:token", "gcp:credentials"} {
		if !r.secret(k) {
			t.Errorf("%s is not kept secret", k)
		}
	}
	for _, k := range []string{"nano:sshPublicKey", "nano:domain", "gcp:project"} {
		if r.secret(k) {
			t.Errorf("%s is forced secret", k)
		}
	}
}

// A kubeconfig is refused, naming the field and the construct, for every
// way it could make the provider run a command, read a file or use a
// proxy; a kubeconfig of embedded credentials passes.
func TestKubeconfigConstructsAreRefused(t *testing.T) {
	const good = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://203.0.113.5:6443
    certificate-authority-data: Y2E=
users:
- name: u
  user:
%s
contexts:
- name: x
  context:
    cluster: c
    user: u
current-context: x
`
	user := func(s string) string { return fmt.Sprintf(good, s) }
	if p := kubeconfigProblems("secrets.kubeconfig", user("    client-certificate-data: Y2VydA==\n    client-key-data: a2V5")); len(p) > 0 {
		t.Fatalf("a kubeconfig of embedded credentials: %v", p)
	}
	if p := kubeconfigProblems("secrets.kubeconfig", user("    token: abc.def")); len(p) > 0 {
		t.Fatalf("a token kubeconfig: %v", p)
	}
	for _, c := range []struct{ kubeconfig, want string }{
		{user("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [-c, id]"),
			`secrets.kubeconfig: users[0] ("u").user.exec: an exec credential plugin (command "/bin/sh") is run as a command`},
		{user("    auth-provider:\n      name: gcp\n      config:\n        cmd-path: /bin/sh"), `users[0] ("u").user.auth-provider: an auth-provider plugin ("gcp")`},
		{user("    tokenFile: /var/lib/nano/passphrase"), `users[0] ("u").user.tokenFile: a file path is read from the host's disk`},
		{user("    client-certificate: /etc/ssl/x.pem\n    client-key-data: a2V5"), `users[0] ("u").user.client-certificate: a file path`},
		{user("    client-certificate-data: Y2VydA==\n    client-key: /root/.ssh/id_rsa"), `users[0] ("u").user.client-key: a file path`},
		{strings.Replace(user("    token: t"), "certificate-authority-data: Y2E=", "certificate-authority: /etc/shadow", 1),
			`clusters[0] ("c").cluster.certificate-authority: a file path`},
		{strings.Replace(user("    token: t"), "certificate-authority-data: Y2E=", "proxy-url: socks5://attacker.example:1080", 1),
			`clusters[0] ("c").cluster.proxy-url: a proxy`},
		{strings.Replace(user("    token: t"), "https://203.0.113.5:6443", "http://169.254.169.254", 1), `clusters[0] ("c").cluster.server: is not an https:// URL`},
		// What a check by field name would miss: unknown fields, a key
		// twice, a key in another case, YAML merge keys.
		{user("    token: t\n    execv2: {command: sh}"), `unknown field "users[0].user.execv2"`},
		{user("    token: t\n    Exec: {command: sh}"), `users[0].user.Exec`},
		{user("    token: t\n    tokenFile: ''\n    tokenFile: /etc/shadow"), `already set`},
		{strings.Replace(user("    <<: *bad"), "kind: Config\n", "kind: Config\nx-bad: &bad {exec: {command: sh}}\n", 1), `exec`},
		{"/var/lib/nano/passphrase", "secrets.kubeconfig: is not a kubeconfig"},
		{strings.Replace(user("    token: t"), "current-context: x", "current-context: other", 1), `current-context: "other" is not one of its contexts`},
	} {
		p := strings.Join(lines(kubeconfigProblems("secrets.kubeconfig", c.kubeconfig)), "\n")
		if !strings.Contains(p, c.want) {
			t.Errorf("want %q among the problems of\n%s\ngot: %s", c.want, c.kubeconfig, p)
		}
	}
}

// The AWS external id is nano's: generated once per deployment when a
// role is first named, never taken from the caller.
func TestAWSExternalIDIsGenerated(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 1)
	req := Request{Name: "role-a", Tier: "team", Provider: "aws", Region: "eu-central-1", Config: map[string]string{"aws:region": "eu-central-1"},
		Credentials: map[string]string{"awsRoleArn": "arn:aws:iam::123456789012:role/nano", "awsRoleExternalId": "another-customers-id"}}
	_, _, err := m.plan(req, nil)
	if err == nil || !strings.Contains(err.Error(), "credentials.awsRoleExternalId: is generated by nano") {
		t.Fatalf("a caller-chosen external id: %v", err)
	}
	delete(req.Credentials, "awsRoleExternalId")
	d, secrets, err := m.plan(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := secrets[externalIDKey]
	if !regexp.MustCompile(`^nano-[0-9a-f]{40}$`).MatchString(id) || hasKey(d.SecretKeys, externalIDKey) {
		t.Fatalf("generated id %q, record's secret keys %v", id, d.SecretKeys)
	}
	_, again, _ := m.plan(req, nil)
	if again[externalIDKey] == id {
		t.Error("two deployments got the same external id")
	}
	// Once the stack holds it, a later request keeps it.
	d.SecretKeys = append(d.SecretKeys, externalIDKey)
	_, later, err := m.plan(req, d)
	if err != nil || later[externalIDKey] != "" {
		t.Errorf("a later request: %v, regenerated %q", err, later[externalIDKey])
	}
}

// Deployment tokens: stored hashed, scoped to their deployment (403 on
// another's routes, operations and the admin routes), revocable, removed
// with their deployment.
func TestDeploymentTokens(t *testing.T) {
	harness.Servers(t)
	dir := t.TempDir()
	m := newManager(t, dir, 2)
	srv := httptest.NewServer(Handler(m, testToken, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	call := func(token, method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	opA := succeed(t, m)(m.Create(hobby("tenant-a")))
	opB := succeed(t, m)(m.Create(hobby("tenant-b")))
	if code, _ := call(testToken, "POST", "/v1/tokens", `{"deployment":"nope"}`); code != 404 {
		t.Errorf("a token for no deployment: %d", code)
	}
	code, body := call(testToken, "POST", "/v1/tokens", `{"deployment":"tenant-a","name":"ci"}`)
	secret, _ := body["secret"].(string)
	if code != 201 || !strings.HasPrefix(secret, tokenPrefix) {
		t.Fatalf("create token: %d %v", code, body)
	}
	tokenID := body["token"].(map[string]any)["id"].(string)
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/deployments/tenant-a", "", 200},
		{"GET", "/v1/operations/" + opA.ID, "", 200},
		{"GET", "/v1/deployments/tenant-b", "", 403},
		{"PUT", "/v1/deployments/tenant-b", `{"config":{"probe:parts":"1"}}`, 403},
		{"DELETE", "/v1/deployments/tenant-b", "", 403},
		{"POST", "/v1/deployments/tenant-b/preview", "", 403},
		{"GET", "/v1/operations/" + opB.ID, "", 403},
		{"GET", "/v1/operations/" + opB.ID + "/events", "", 403},
		{"POST", "/v1/operations/" + opB.ID + "/cancel", "", 403},
		{"GET", "/v1/deployments", "", 403},
		{"POST", "/v1/deployments", `{"name":"tenant-c","tier":"hobby","provider":"hetzner","region":"fsn1"}`, 403},
		{"POST", "/v1/deployments/tenant-a/upgrade", `{}`, 403},
		{"POST", "/v1/tokens", `{"deployment":"tenant-b"}`, 403},
		{"GET", "/v1/tokens", "", 403},
		{"DELETE", "/v1/tokens/" + tokenID, "", 403},
	} {
		if code, body := call(secret, c.method, c.path, c.body); code != c.want {
			t.Errorf("deployment token: %s %s: %d %v, want %d", c.method, c.path, code, body, c.want)
		}
	}
	// Its own deployment's update goes through.
	code, body = call(secret, "PUT", "/v1/deployments/tenant-a", `{"config":{"probe:parts":"1"}}`)
	if code != 202 {
		t.Fatalf("update with the deployment token: %d %v", code, body)
	}
	wait(t, m, body["operation"].(map[string]any)["id"].(string))
	// Listed without its secret; stored as a hash only.
	code, body = call(testToken, "GET", "/v1/tokens?deployment=tenant-a", "")
	if b, _ := json.Marshal(body); code != 200 || !strings.Contains(string(b), tokenID) || strings.Contains(string(b), secret) || strings.Contains(string(b), hashToken(secret)) {
		t.Errorf("list: %d %s", code, b)
	}
	assertNoPlaintext(t, dir, secret)
	if err := walkFiles(dir, func(path string, b []byte) {}); err != nil {
		t.Fatal(err)
	}
	// Revoked: 401.
	if code, _ := call(testToken, "DELETE", "/v1/tokens/"+tokenID, ""); code != 204 {
		t.Errorf("revoke: %d", code)
	}
	if code, _ := call(secret, "GET", "/v1/deployments/tenant-a", ""); code != 401 {
		t.Errorf("a revoked token: %d", code)
	}
	// A destroyed deployment takes its tokens along: a new deployment of
	// the name does not accept them.
	_, body = call(testToken, "POST", "/v1/tokens", `{"deployment":"tenant-b"}`)
	secretB := body["secret"].(string)
	succeed(t, m)(m.Destroy("tenant-b"))
	succeed(t, m)(m.Create(hobby("tenant-b")))
	if code, _ := call(secretB, "GET", "/v1/deployments/tenant-b", ""); code != 401 {
		t.Errorf("the token of a destroyed deployment on its namesake: %d", code)
	}
}
