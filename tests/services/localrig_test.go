package services

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/local"
	"github.com/nanosiem/nano/tests/harness"
)

// `go run . local up|stop|down` as a user runs them, on the Compose rig's
// real Docker engine: the third-party images the Hobby project names are
// the rig's (no registry here; a user's engine pulls them), nano's are
// built from this checkout by the command itself. up brings the project
// up and the web UI answers over HTTPS on localhost with a certificate of
// Caddy's CA, and the admin token it prints works; stop stops every
// container and keeps the volumes (a feed created before is there after
// the next up); down removes containers, volumes, network and the state.
// The engine caps open files at 20000, hence -clickhouse-nofile.
func TestLocalNanoUnderDocker(t *testing.T) {
	harness.Servers(t)
	rig, err := harness.OpenComposeRig(os.Getenv("NANO_COMPOSE_RIG"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := harness.StartDocker(rig.ComposeBin(), rig.EngineDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dockerd's output (last 4 KiB):\n%s", tail(d.Logs(), 4096))
		}
		// Whatever the test reached: no project, no volumes left.
		if ids, _ := d.Run(context.Background(), "ps", "-aq", "--filter", "label=com.docker.compose.project="+local.Project); ids != "" {
			_, _ = d.Run(context.Background(), append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
		}
		if vols, _ := d.Run(context.Background(), "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+local.Project); vols != "" {
			_, _ = d.Run(context.Background(), append([]string{"volume", "rm", "-f"}, strings.Fields(vols)...)...)
		}
		_, _ = d.Run(context.Background(), "network", "rm", local.Project+"_default")
		d.Stop()
	})
	for _, spec := range []harness.ImageSpec{
		rig.Caddy(contract.CaddyImage), rig.Prometheus(contract.PrometheusImage), rig.PostgresExporter(contract.PostgresExporterImage),
		rig.ClickHouse(contract.ClickHouseImage), rig.Postgres(contract.PostgresImage), rig.Alertmanager(contract.AlertmanagerImage),
	} {
		img, err := spec.Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Load(ctx, img, spec.Ref); err != nil {
			t.Fatal(err)
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "local")
	// The checkout the commands run in: this one, or with
	// NANO_LOCAL_CLONE=1 a fresh clone of its HEAD (no web UI build, no
	// image layout: the time from git clone to a running nano).
	checkout := "../.."
	started := time.Now()
	if os.Getenv("NANO_LOCAL_CLONE") == "1" {
		checkout = filepath.Join(t.TempDir(), "nano")
		if out, err := exec.CommandContext(ctx, "git", "clone", "--quiet", "../..", checkout).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
	}
	// The user's command, with this engine's client settings; /usr/bin's
	// docker (Debian's client) first, as the rig's own runs.
	nano := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", append([]string{"run", ".", "local"}, append(args, "-dir", state)...)...)
		cmd.Dir = checkout
		cmd.Env = append(append(os.Environ(), d.ClientEnv()...), "PATH="+filepath.Dir(goBin)+":/usr/bin:/usr/sbin:/bin:/sbin")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	project := func(args ...string) string {
		t.Helper()
		out, err := d.Run(ctx, append(args, "--filter", "label=com.docker.compose.project="+local.Project)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	out, err := nano("up", "-clickhouse-nofile", "20000")
	if err != nil {
		t.Fatalf("local up: %v\n%s", err, out)
	}
	t.Logf("first local up in %s (checkout %s; images built from it and loaded, project created):\n%s", time.Since(started).Round(time.Second), checkout, out)
	token := checkLocalUp(ctx, t, out, state)
	auth := map[string]string{"Authorization": "Bearer " + token}
	c := localClient(t, state)
	code, feed := call(ctx, t, c, "POST", "https://localhost"+contract.APIPrefix+"/v1/feeds", auth, []byte(`{"name":"local-check","kind":"http"}`))
	if code != 201 && code != 200 {
		t.Fatalf("creating a feed: %d %v", code, feed)
	}
	volumes := project("volume", "ls", "-q")
	if n := len(strings.Fields(volumes)); n != 5 {
		t.Errorf("the project's volumes: %q, want clickhouse, postgres, prometheus, alertmanager, caddy", volumes)
	}

	if out, err := nano("stop"); err != nil || !strings.Contains(out, "its data stays") {
		t.Fatalf("local stop: %v\n%s", err, out)
	}
	if running := project("ps", "-q"); running != "" {
		t.Errorf("containers still running after stop: %s", running)
	}
	if got := project("volume", "ls", "-q"); got != volumes {
		t.Errorf("volumes after stop: %q, want %q", got, volumes)
	}
	if _, err := c.Get("https://localhost/"); err == nil {
		t.Error("the web UI answers after stop")
	}

	started = time.Now()
	out, err = nano("up", "-clickhouse-nofile", "20000")
	if err != nil {
		t.Fatalf("local up after stop: %v\n%s", err, out)
	}
	t.Logf("second local up (cached images, data kept) in %s", time.Since(started).Round(time.Second))
	if again := checkLocalUp(ctx, t, out, state); again != token {
		t.Errorf("the admin token changed across stop and up: %s, then %s", token, again)
	}
	c = localClient(t, state)
	code, list := call(ctx, t, c, "GET", "https://localhost"+contract.APIPrefix+"/v1/feeds", auth, nil)
	if b, _ := json.Marshal(list); code != 200 || !strings.Contains(string(b), `"local-check"`) {
		t.Errorf("the feed created before stop: %d %s", code, b)
	}

	out, err = nano("down")
	if err != nil {
		t.Fatalf("local down: %v\n%s", err, out)
	}
	if !strings.Contains(out, "removing "+local.Project+": its containers, its network and its volumes") {
		t.Errorf("down did not say what it removes:\n%s", out)
	}
	for what, args := range map[string][]string{"containers": {"ps", "-aq"}, "volumes": {"volume", "ls", "-q"}, "networks": {"network", "ls", "-q"}} {
		if left := project(args...); left != "" {
			t.Errorf("%s left after down: %s", what, left)
		}
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("%s left after down", state)
	}
}

var reAdminToken = regexp.MustCompile(`Admin token:\s+(\S+)`)

// checkLocalUp: up printed the web URL and the admin token, and the web UI
// answers over HTTPS on localhost:443 with a certificate of Caddy's CA,
// through which the api takes the token.
func checkLocalUp(ctx context.Context, t *testing.T, out, state string) string {
	t.Helper()
	m := reAdminToken.FindStringSubmatch(out)
	if !strings.Contains(out, "Web UI:       https://localhost/") || m == nil || !strings.HasPrefix(m[1], contract.APITokenPrefix) {
		t.Fatalf("up did not print the web URL and the admin token:\n%s", out)
	}
	c := localClient(t, state)
	resp, err := c.Get("https://localhost/")
	if err != nil {
		t.Fatalf("the web UI over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("the web UI: %s %.200s", resp.Status, body)
	}
	code, feeds := call(ctx, t, c, "GET", "https://localhost"+contract.APIPrefix+"/v1/feeds", map[string]string{"Authorization": "Bearer " + m[1]}, nil)
	if code != 200 {
		t.Fatalf("the api with the printed admin token: %d %v", code, feeds)
	}
	return m[1]
}

// localClient trusts only the root of Caddy's CA that up copied out.
func localClient(t *testing.T, state string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(state, "caddy-root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal(fmt.Errorf("caddy-root.crt holds no certificate"))
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}
