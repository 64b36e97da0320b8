package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/components/composefiles"
	"github.com/nanosiem/nano/components/hostguard"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/harness"
)

// The Compose rig: the Hobby and Startup hosts' Docker Compose projects,
// rendered by the real builders (composefiles.CloudInit, validated by
// Debian's cloud-init schema validator), laid out as cloud-init writes
// them, brought up by Docker Compose v2 on a real Docker engine with every
// image the compose file names (nano's from `make images`; the third-party
// ones built by the rig: see harness.ComposeRig), and used as a user would
// through the published ports.
//
// What differs from a Hetzner host, and only this (compose.rig.yaml, an
// override file): the data directory is a directory, not the mounted
// volume; ports are published on 127.0.0.1 (random ports) instead of
// every address, and Prometheus's 9090 too (the rig reads its targets);
// ClickHouse's open-files limit is this engine's maximum (20000) instead of
// 262144; a mail server (Mailpit, service mailpit) runs beside the project
// as the operator's mail relay, which the stack's nano:alertmanagerConfig
// names; and in alerts.yml the disk alert's "for" is 15s instead of 10m
// (its expression, labels and route are the generated ones), so the test
// sees it fire without waiting ten minutes. Clients dial 127.0.0.1 with the host's address as the TLS server
// name, as a client dialling the host's public IPv4 does (no SNI).

// rigHost is the public IPv4 the builders render the host with.
const rigHost = "203.0.113.10"

func TestComposeTiersUnderDocker(t *testing.T) {
	harness.Servers(t)
	rig, err := harness.OpenComposeRig(os.Getenv("NANO_COMPOSE_RIG"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := harness.StartDocker(rig.ComposeBin(), rig.EngineDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dockerd's output (last 4 KiB):\n%s", tail(d.Logs(), 4096))
		}
		d.Stop()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	started := time.Now()
	for _, spec := range []harness.ImageSpec{
		rig.Caddy(contract.CaddyImage), rig.Prometheus(contract.PrometheusImage), rig.PostgresExporter(contract.PostgresExporterImage),
		rig.ClickHouse(contract.ClickHouseImage), rig.Postgres(contract.PostgresImage), s3Image(t),
		rig.Alertmanager(contract.AlertmanagerImage), rig.Mailpit(rigMailImage),
	} {
		img, err := spec.Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Load(ctx, img, spec.Ref); err != nil {
			t.Fatal(err)
		}
	}
	current := nanoImages(ctx, t, d, settings.DefaultImageVersion)
	next := nanoImages(ctx, t, d, settings.DefaultImageVersion+"-rig.1")
	t.Logf("images ready in %s", time.Since(started).Round(time.Second))
	for _, name := range []tier.Name{tier.Hobby, tier.Startup} {
		t.Run(string(name), func(t *testing.T) { composeJourney(ctx, t, d, name, current, next) })
	}
}

// nanoImages builds nano's images at version (`make images`) and loads
// them under the names the stacks use by default.
func nanoImages(ctx context.Context, t *testing.T, d *harness.Docker, version string) settings.Images {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, "go", "run", "./services/images", "-out", dir, "-version", version)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make images: %v\n%s", err, out)
	}
	ref := func(svc string) string { return settings.DefaultImageRegistry + "/" + svc + ":" + version }
	imgs := settings.Images{API: ref("api"), Search: ref("search"), Ingest: ref("ingest"), Web: ref("web")}
	for svc, r := range map[string]string{"api": imgs.API, "search": imgs.Search, "ingest": imgs.Ingest, "web": imgs.Web} {
		img, err := harness.LayoutImage(dir, svc+":"+version)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Load(ctx, img, r); err != nil {
			t.Fatal(err)
		}
	}
	return imgs
}

// composeHost is one host's project as the rig lays it out: root is the
// host's file system (what cloud-init writes), data the volume; with
// backups, the rig's S3 server runs beside the project (as service s3, in
// the override file) where a host reaches its bucket over the Internet.
type composeHost struct {
	t          *testing.T
	d          *harness.Docker
	name, data string
	root       string
	params     composefiles.Params
	secrets    composefiles.Secrets
	backups    bool
}

// The rig's mail server: its image, and the stack's Alertmanager
// configuration that mails every alert to it, grouped by rule and tenant.
const (
	rigMailImage          = "nano-rig/mailpit:v1.33.1"
	rigMailAPI            = 8025
	rigAlertmanagerConfig = `global:
  smtp_smarthost: mailpit:1025
  smtp_from: nano@rig.test
  smtp_require_tls: false
route:
  receiver: oncall
  group_by: [alertname, tenant]
  group_wait: 1s
  group_interval: 5s
receivers:
  - name: oncall
    email_configs:
      - to: oncall@rig.test
        send_resolved: true
`
)

// The rig's S3 server: its image, the bucket, and its port in the project.
const (
	rigS3Image  = "nano-rig/versitygw:v1.0.14"
	rigS3Bucket = "nano-backups"
	rigS3Port   = 7070
)

func s3Image(t *testing.T) harness.ImageSpec {
	spec, err := harness.S3RigImage(rigS3Image)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func (h *composeHost) dir() string { return filepath.Join(h.root, composefiles.ProjectDir) }

// compose runs docker compose on the project as the systemd unit does,
// with the rig's override file.
func (h *composeHost) compose(ctx context.Context, args ...string) (string, error) {
	base := []string{"compose", "--project-directory", h.dir(), "-p", h.name, "-f", "compose.yaml", "-f", "compose.rig.yaml"}
	return h.d.RunIn(ctx, h.dir(), nil, append(base, args...)...)
}

// install renders the host's user data with the real builders, validates
// it with cloud-init's schema, and does what cloud-init would with it: its
// files are written into a new root, its commands run (the mount script's
// part is the rig's data directory; systemctl's is up()).
func (h *composeHost) install(ctx context.Context) {
	t := h.t
	t.Helper()
	h.root = t.TempDir()
	ud, err := composefiles.CloudInit(h.params, h.secrets)
	if err != nil {
		t.Fatal(err)
	}
	udFile := filepath.Join(h.root, "user-data")
	if err := os.WriteFile(udFile, ud, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "cloud-init", "schema", "--config-file", udFile).CombinedOutput(); err != nil {
		t.Fatalf("cloud-init schema refuses the user data: %v\n%s", err, out)
	}
	cfg, err := composefiles.Unpack(ud)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Files {
		path := filepath.Join(h.root, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(f.Content), f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cfg.Runcmd {
		switch {
		case c[0] == "/usr/local/sbin/nano-mount-data":
			for _, dd := range composefiles.DataDirs() {
				dir := filepath.Join(h.data, dd.Dir)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(dir, dd.UID, dd.UID); err != nil {
					t.Fatal(err)
				}
			}
		case c[0] == "chown" && len(c) == 3:
			if out, err := exec.CommandContext(ctx, "chown", c[1], filepath.Join(h.root, c[2])).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v %s", c, err, out)
			}
		case strings.Join(c, " ") == "systemctl enable --now "+hostguard.UnitName:
			// The metadata guard: loaded on this machine, as on the host.
			h.loadGuard(ctx)
		case c[0] == "systemctl":
		default:
			t.Fatalf("the rig does not know what runcmd %v does on the host", c)
		}
	}
	h.writeOverride()
}

// writeOverride writes compose.rig.yaml (see the file comment): data
// mounts into the rig's directory, published ports on 127.0.0.1.
func (h *composeHost) writeOverride() {
	t := h.t
	raw, err := os.ReadFile(filepath.Join(h.dir(), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# The rig's differences from a host (tests/composerig_test.go).\nservices:\n")
	for name, s := range f.Services {
		var lines []string
		var vols []string
		for _, v := range s.Volumes {
			if rest, ok := strings.CutPrefix(v, composefiles.DataDir+"/"); ok {
				vols = append(vols, filepath.Join(h.data, rest))
			}
		}
		if len(vols) > 0 {
			lines = append(lines, "    volumes:")
			for _, v := range vols {
				lines = append(lines, "      - "+v)
			}
		}
		ports := s.Ports
		if name == "prometheus" {
			ports = append(ports, "9090")
		}
		if len(ports) > 0 {
			lines = append(lines, "    ports: !override")
			for _, p := range ports {
				lines = append(lines, "      - 127.0.0.1::"+p[strings.LastIndex(p, ":")+1:])
			}
		}
		if name == "clickhouse" {
			lines = append(lines, "    ulimits:", "      nofile: {soft: 20000, hard: 20000}")
		}
		if len(lines) > 0 {
			b.WriteString("  " + name + ":\n" + strings.Join(lines, "\n") + "\n")
		}
	}
	fmt.Fprintf(&b, "  mailpit:\n    image: %s\n    ports:\n      - 127.0.0.1::%d\n", rigMailImage, rigMailAPI)
	if h.backups {
		fmt.Fprintf(&b, "  s3:\n    image: %s\n    command: [--port, \":%d\", --access, %s, --secret, %s, --quiet, posix, --sidecar, /meta, /data]\n"+
			"    volumes:\n      - %s:/data\n      - %s:/meta\n    ports:\n      - 127.0.0.1::%d\n",
			rigS3Image, rigS3Port, h.secrets.BackupAccessKeyID, h.secrets.BackupSecretAccessKey,
			filepath.Join(h.data, "s3", "buckets"), filepath.Join(h.data, "s3", "meta"), rigS3Port)
	}
	if err := os.WriteFile(filepath.Join(h.dir(), "compose.rig.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h.shortenDiskAlert()
}

// shortenDiskAlert sets the disk alert's "for" to 15s in alerts.yml (see
// the file comment); the rule must be there, with its 10m.
func (h *composeHost) shortenDiskAlert() {
	path := filepath.Join(h.dir(), "alerts.yml")
	raw, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		h.t.Fatal(err)
	}
	found := false
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r["alert"] == "NanoClickHouseDiskFilling" && r["for"] == "10m" {
				r["for"], found = "15s", true
			}
		}
	}
	if !found {
		h.t.Fatalf("alerts.yml has no NanoClickHouseDiskFilling rule waiting 10m:\n%s", raw)
	}
	out, err := yaml.Marshal(rules)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// mails are the rig's mail server's messages whose subject holds sub.
func (h *composeHost) mails(ctx context.Context, sub string) []string {
	h.t.Helper()
	code, out := call(ctx, h.t, http.DefaultClient, "GET", "http://"+h.addr(ctx, "mailpit", rigMailAPI)+"/api/v1/messages?limit=500", nil, nil)
	if code != 200 {
		h.t.Fatalf("the rig's mail server: %d %v", code, out)
	}
	var subjects []string
	msgs, _ := out["messages"].([]any)
	for _, m := range msgs {
		if s := fmt.Sprint(m.(map[string]any)["Subject"]); strings.Contains(s, sub) {
			subjects = append(subjects, s)
		}
	}
	return subjects
}

// checkAlertMail: the project's Alertmanager mails the detection of rule
// and, from the project's Prometheus, the disk alert (tenant platform).
func (h *composeHost) checkAlertMail(ctx context.Context, rule string) {
	t := h.t
	t.Helper()
	start := time.Now()
	waitFor(t, 90*time.Second, "the detection's e-mail through the project's Alertmanager", func() bool { return len(h.mails(ctx, "FIRING:1] "+rule)) == 1 })
	t.Logf("detection e-mail %v after the alert was raised", time.Since(start).Round(time.Second))
	waitFor(t, 150*time.Second, "the disk alert's e-mail from the project's Prometheus", func() bool {
		return len(h.mails(ctx, "NanoClickHouseDiskFilling platform")) > 0
	})
	t.Logf("platform alert e-mail: %v", h.mails(ctx, "NanoClickHouseDiskFilling"))
}

// loadGuard does what the metadata guard's unit does (hostguard): its
// ExecStart, with the ruleset cloud-init wrote into the host's root, on
// this machine, where the rig's containers' packets are forwarded as on a
// host. The table is removed when the test ends.
func (h *composeHost) loadGuard(ctx context.Context) {
	h.t.Helper()
	unit, err := os.ReadFile(filepath.Join(h.root, hostguard.UnitPath))
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := hostguard.ExecStart(string(unit))
	if len(cmd) != 3 || cmd[2] != hostguard.RulesetPath {
		h.t.Fatalf("the guard unit runs %v, not nft on its ruleset", cmd)
	}
	cmd[2] = filepath.Join(h.root, cmd[2])
	if out, err := exec.CommandContext(ctx, cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
		h.t.Fatalf("the guard unit's %v: %v\n%s", cmd, err, out)
	}
	h.t.Cleanup(dropGuard)
}

// dropGuard removes the guard's table, as a reboot does.
func dropGuard() {
	_ = exec.Command(hostguard.Nft, "delete", "table", "inet", hostguard.Table).Run()
	// And the rule nano's hosts had before the guard unit (the unit's
	// ExecStartPre added it to DOCKER-USER): an older checkout's rig run
	// leaves it on this machine until a reboot, and with it the control
	// below could not tell a guard from none.
	for i := 0; i < 10 && exec.Command("iptables", "-D", "DOCKER-USER", "-d", "169.254.169.254/32", "-j", "REJECT").Run() == nil; i++ {
	}
}

// up is what the systemd unit runs (its ExecStart), waiting until every
// container is running and healthy.
func (h *composeHost) up(ctx context.Context) {
	h.t.Helper()
	if _, err := h.compose(ctx, "up", "--detach", "--remove-orphans", "--wait", "--wait-timeout", "300"); err != nil {
		ps, _ := h.compose(ctx, "ps", "--all")
		logs, _ := h.compose(ctx, "logs", "--no-color", "--tail", "30")
		h.t.Fatalf("%v\n%s\n%s", err, ps, logs)
	}
}

// down is the unit's ExecStop.
func (h *composeHost) down(ctx context.Context) {
	h.t.Helper()
	if _, err := h.compose(ctx, "down"); err != nil {
		h.t.Fatal(err)
	}
}

// addr is the loopback address a container port is published on.
func (h *composeHost) addr(ctx context.Context, service string, port int) string {
	h.t.Helper()
	out, err := h.compose(ctx, "port", service, strconv.Itoa(port))
	if err != nil || !strings.HasPrefix(out, "127.0.0.1:") {
		h.t.Fatalf("%s:%d is not published on loopback: %q %v", service, port, out, err)
	}
	return out
}

// caddyCA is the root of Caddy's internal CA (on the data volume).
func (h *composeHost) caddyCA() []byte {
	h.t.Helper()
	path := filepath.Join(h.data, "caddy", "caddy", "pki", "authorities", "local", "root.crt")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("Caddy wrote no root certificate at %s", path)
		}
	}
}

// client reaches the host as a user does, by its address (https://
// 203.0.113.10, :8080, :8088): connections to the host's ports go to
// where the rig published Caddy's, and certificates are verified against
// Caddy's CA for the host's address.
func (h *composeHost) client(ctx context.Context) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(h.caddyCA()) {
		h.t.Fatal("Caddy's root certificate does not parse")
	}
	published := map[string]string{}
	for _, port := range []int{80, 443, contract.Ports.IngestHTTP, contract.Ports.IngestHEC, contract.Ports.IngestOTLP} {
		published[net.JoinHostPort(h.params.Host, strconv.Itoa(port))] = h.addr(ctx, "caddy", port)
	}
	var dialer net.Dialer
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			to, ok := published[addr]
			if !ok {
				return nil, fmt.Errorf("the rig publishes no %s", addr)
			}
			return dialer.DialContext(ctx, network, to)
		},
	}}
}

// waitTLS waits until Caddy serves base with a certificate of its CA (it
// issues its first one a moment after it starts).
func (h *composeHost) waitTLS(ctx context.Context, c *http.Client, base string) {
	h.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+contract.APIPrefix+"/openapi.json", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("Caddy does not serve %s with a certificate of its CA for %s: %v", base, h.params.Host, err)
		}
	}
}

// checkOpsNotPublic: through Caddy, api and search answer their API
// (401 without a token) but not their operational endpoints, nor does the
// web UI at the root; Prometheus still scrapes them all inside the
// project (checkPrometheus).
func (h *composeHost) checkOpsNotPublic(ctx context.Context, c *http.Client, https string) {
	h.t.Helper()
	for _, prefix := range []string{contract.APIPrefix, contract.SearchPrefix, ""} {
		for _, op := range []string{"/metrics", "/readyz", "/healthz", "/version", "//metrics", "/%6detrics", "/METRICS"} {
			code, out := call(ctx, h.t, c, "GET", https+prefix+op, nil, nil)
			raw, _ := out["raw"].(string)
			if code == 200 || strings.Contains(raw, "go_goroutines") || strings.Contains(raw, "# HELP") {
				h.t.Errorf("GET %s%s through Caddy: %d %.80q, want it refused", prefix, op, code, raw)
			}
		}
	}
	if code, _ := call(ctx, h.t, c, "GET", https+contract.APIPrefix+"/v1/feeds", nil, nil); code != 401 {
		h.t.Errorf("the api through Caddy without a token: %d, want 401", code)
	}
	if code, _ := call(ctx, h.t, c, "POST", https+contract.SearchPrefix+"/v1/search", nil, []byte(`{"query":""}`)); code != 401 {
		h.t.Errorf("search through Caddy without a token: %d, want 401", code)
	}
}

// call sends a JSON request and decodes a JSON answer.
// checkWebUI: every path but /api/ and /search/ is the web service's
// through Caddy: the UI's page, and the script it names (from the image's
// embedded build, cached for good).
func (h *composeHost) checkWebUI(ctx context.Context, c *http.Client, https string) {
	h.t.Helper()
	for _, path := range []string{"/", "/alerts"} {
		code, out := call(ctx, h.t, c, "GET", https+path, nil, nil)
		page, _ := out["raw"].(string)
		if code != 200 || !strings.Contains(page, `<div id="app">`) {
			h.t.Fatalf("the web UI through Caddy at %s: %d %v", path, code, out)
		}
		if path != "/" {
			continue
		}
		m := regexp.MustCompile(`src="(/assets/[^"]+\.js)"`).FindStringSubmatch(page)
		if m == nil {
			h.t.Fatalf("the UI's page names no script: %s", page)
		}
		code, out = call(ctx, h.t, c, "GET", https+m[1], nil, nil)
		hd, _ := out["header"].(http.Header)
		if code != 200 || !strings.Contains(hd.Get("Cache-Control"), "immutable") || len(out["raw"].(string)) < 10_000 {
			h.t.Fatalf("the UI's script %s through Caddy: %d %v", m[1], code, hd)
		}
	}
}

func call(ctx context.Context, t *testing.T, c *http.Client, method, url string, header map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	if len(out) == 0 {
		out["raw"], out["header"] = string(raw), resp.Header
	}
	return resp.StatusCode, out
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func composeJourney(ctx context.Context, t *testing.T, d *harness.Docker, name tier.Name, current, next settings.Images) {
	spec, ok := tier.Lookup(name)
	if !ok {
		t.Fatalf("no tier %s", name)
	}
	native, err := harness.NewMutualTLS(rigHost)
	if err != nil {
		t.Fatal(err)
	}
	key, adminKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(key)
	_, _ = rand.Read(adminKey)
	h := &composeHost{t: t, d: d, name: "nano-rig-" + string(name), data: t.TempDir(),
		params: composefiles.Params{Deployment: string(name) + "-rig", Tier: spec, Images: current, Host: rigHost,
			VolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_rig"},
		secrets: composefiles.Secrets{PostgresPassword: randomHex(t, 16), ClickHousePassword: randomHex(t, 16),
			APIPostgresPassword: randomHex(t, 16), IngestPostgresPassword: randomHex(t, 16), SearchPostgresPassword: randomHex(t, 16),
			MonitorPostgresPassword: randomHex(t, 16), IngestClickHousePassword: randomHex(t, 16), SearchClickHousePassword: randomHex(t, 16),
			IngestToken: randomHex(t, 16), HECToken: "0b6f3b9e-5d3a-4c1e-9f2a-" + randomHex(t, 6),
			NativeCACert: native.CACert, NativeServerCert: native.ServerCert, NativeServerKey: native.ServerKey,
			APICredentialsKey: base64.StdEncoding.EncodeToString(key), AdminToken: contract.APITokenPrefix + base64.RawURLEncoding.EncodeToString(adminKey),
			AlertmanagerConfig: rigAlertmanagerConfig},
	}
	if name == tier.Startup {
		// PostgreSQL backups to the rig's S3 server. ClickHouse's are not
		// configured: the rig's stand-in server (18.16) has no BACKUP (they
		// run on ClickHouse 26.7 in services/chbackup).
		h.backups = true
		h.params.Backup = &composefiles.Backup{PostgresURL: fmt.Sprintf("http://s3:%d/%s/%s/%s", rigS3Port, rigS3Bucket, h.params.Deployment, contract.PostgresBackupPrefix)}
		h.secrets.BackupAccessKeyID, h.secrets.BackupSecretAccessKey = "nano-rig-"+randomHex(t, 4), randomHex(t, 20)
		// Single sign-on configured as the builders render it (the flow
		// itself runs against Hydra in the browser test): the api reads
		// the provider from its environment and its client secret from its
		// own secret file; the provider is discovered at the first sign-in.
		h.params.SignIn = &settings.SignIn{Issuer: rigIssuer, ClientID: "nano-rig", Roles: []string{"soc-admins=default:admin"}}
		h.secrets.OIDCClientSecret = randomHex(t, 16)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if _, err := h.compose(cctx, "down", "--volumes", "--remove-orphans"); err != nil {
			t.Log(err)
		}
	})
	started := time.Now()
	h.install(ctx)
	if h.backups {
		h.startS3(ctx)
	}
	h.up(ctx)
	t.Logf("%s up in %s", name, time.Since(started).Round(time.Second))

	h.checkStart(ctx)
	h.checkMetadataBlocked(ctx)
	c := h.client(ctx)
	https := "https://" + h.params.Host
	h.waitTLS(ctx, c, https)
	h.checkHTTPS(ctx, c)
	h.checkSignInConfig(ctx, c, https)
	admin := h.adminToken()
	auth := map[string]string{"Authorization": "Bearer " + admin}
	if code, out := call(ctx, t, c, "GET", https+contract.APIPrefix+"/v1/feeds", auth, nil); code != 200 || out["items"] == nil {
		t.Fatalf("api through Caddy: %d %v", code, out)
	}
	h.checkWebUI(ctx, c, https)
	h.checkOpsNotPublic(ctx, c, https)

	// Ingest on every port.
	marker := "rig-" + randomHex(t, 4)
	bearer := "https://" + net.JoinHostPort(h.params.Host, strconv.Itoa(contract.Ports.IngestHTTP))
	lines := fmt.Sprintf("{\"message\":\"%s bearer one\",\"service\":\"rig\"}\n{\"message\":\"%s bearer two\",\"service\":\"rig\"}\n", marker, marker)
	if code, out := call(ctx, t, c, "POST", bearer+"/v1/events", map[string]string{"Authorization": "Bearer " + h.secrets.IngestToken}, []byte(lines)); code != 200 || out["accepted"] != float64(2) {
		t.Fatalf("bearer ingest through Caddy: %d %v", code, out)
	}
	hec := "https://" + net.JoinHostPort(h.params.Host, strconv.Itoa(contract.Ports.IngestHEC))
	hecAuth := map[string]string{"Authorization": "Splunk " + h.secrets.HECToken, "X-Splunk-Request-Channel": "2f1e3c4d-5b6a-4789-8abc-def012345678"}
	code, out := call(ctx, t, c, "POST", hec+"/services/collector/event", hecAuth, []byte(fmt.Sprintf(`{"event":"%s hec"}`, marker)))
	ackID, ok := out["ackId"].(float64)
	if code != 200 || !ok {
		t.Fatalf("HEC with a channel through Caddy: %d %v", code, out)
	}
	waitFor(t, 30*time.Second, "the HEC acknowledgement", func() bool {
		_, out := call(ctx, t, c, "POST", hec+"/services/collector/ack", hecAuth, []byte(fmt.Sprintf(`{"acks":[%d]}`, int64(ackID))))
		acks, _ := out["acks"].(map[string]any)
		return acks[strconv.FormatInt(int64(ackID), 10)] == true
	})
	nativeAddr := h.addr(ctx, "ingest", contract.Ports.IngestNative)
	vc, err := harness.DialVector(nativeAddr, &tls.Config{RootCAs: native.CAPool, Certificates: []tls.Certificate{native.Client}, ServerName: rigHost})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	if _, err := vc.Call(ctx, "PushEvents", harness.VectorPushRequest(map[string]any{"message": marker + " native", "host": "aggregator"})); err != nil {
		t.Fatalf("Vector-native push with the aggregator certificate: %v", err)
	}
	stranger, err := harness.DialVector(nativeAddr, &tls.Config{RootCAs: native.CAPool, Certificates: []tls.Certificate{native.Stranger}, ServerName: rigHost})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := stranger.Call(ctx, "HealthCheck", nil); err == nil {
		t.Error("the native port served a client certificate of another CA")
	}

	// A feed and its token, made through the api, accepted by ingest.
	feedToken := h.feedToken(ctx, c, https, auth, "rig", "http")
	waitFor(t, 60*time.Second, "ingest to accept the api's feed token", func() bool {
		code, out := call(ctx, t, c, "POST", bearer+"/v1/events", map[string]string{"Authorization": "Bearer " + feedToken},
			[]byte(fmt.Sprintf("{\"message\":\"%s feed\"}\n", marker)))
		return code == 200 && out["accepted"] == float64(1)
	})

	// OpenTelemetry logs through Caddy's published ports: OTLP/HTTP (JSON)
	// on 8080 and OTLP/gRPC on 4317 (TLS, HTTP/2 to ingest), an otlp
	// feed's token.
	h.checkOTLP(ctx, c, https, auth, marker)
	// Syslog over TLS on ingest's published 6514: a syslog feed's token in
	// the structured data, and a client certificate naming a feed.
	syslogStored := h.checkSyslogTLS(ctx, c, https, auth, marker, native)

	// A detection rule over those events raises an alert.
	rule := fmt.Sprintf(`{"name":"rig %s","query":"%s","schedule":"@every 1m","window_seconds":3600,"threshold_op":">","threshold":0}`, marker, marker)
	if code, out := call(ctx, t, c, "POST", https+contract.APIPrefix+"/v1/rules", auth, []byte(rule)); code != 201 {
		t.Fatalf("rule: %d %v", code, out)
	}

	// Search over 443 finds all the default tenant's events: seven, and
	// the syslog message (sent until ingest knew its new token).
	want := 7 + syslogStored
	searchCount := func(c *http.Client, https string) int {
		body := fmt.Sprintf(`{"query":"%s","from":"-1h","page_size":100}`, marker)
		code, out := call(ctx, t, c, "POST", https+contract.SearchPrefix+"/v1/search", auth, []byte(body))
		if code != 200 {
			t.Fatalf("search through Caddy: %d %v", code, out)
		}
		n, _ := out["count"].(float64)
		return int(n)
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("search to find the %d events", want), func() bool { return searchCount(c, https) == want })

	waitFor(t, 150*time.Second, "the rule's alert", func() bool {
		_, out := call(ctx, t, c, "GET", https+contract.APIPrefix+"/v1/alerts", auth, nil)
		items, _ := out["items"].([]any)
		return len(items) > 0
	})
	h.checkAlertMail(ctx, "rig "+marker)

	h.checkPrometheus(ctx)
	h.checkDatabaseLogins(ctx)
	if name == tier.Hobby {
		h.checkRebootKeepsGuard(ctx)
	}

	// down + up, as the unit does at a reboot: data, tokens, rules and the CA stay.
	ca := h.caddyCA()
	h.down(ctx)
	h.up(ctx)
	if !bytes.Equal(h.caddyCA(), ca) {
		t.Error("Caddy's CA changed across down and up: clients that trusted it fail")
	}
	c = h.client(ctx)
	h.waitTLS(ctx, c, https)
	waitFor(t, 30*time.Second, "search after down and up", func() bool { return searchCount(c, https) == want })
	if code, out := call(ctx, t, c, "GET", https+contract.APIPrefix+"/v1/rules", auth, nil); code != 200 || len(out["items"].([]any)) != 1 {
		t.Errorf("rules after down and up: %d %v", code, out)
	}

	// An image update replaces the server: a new root from re-rendered user
	// data, the same volume.
	h.down(ctx)
	h.params.Images = next
	h.install(ctx)
	h.up(ctx)
	c = h.client(ctx)
	h.waitTLS(ctx, c, https)
	waitFor(t, 30*time.Second, "search after the image update", func() bool { return searchCount(c, https) == want })
	if out, err := h.compose(ctx, "images", "api", "--format", "json"); err != nil || !strings.Contains(out, strings.TrimPrefix(next.API, settings.DefaultImageRegistry+"/api:")) {
		t.Errorf("api after the update does not run %s: %s %v", next.API, out, err)
	}
	if h.backups {
		h.checkPostgresRestore(ctx, c, https, auth)
	}
}

// startS3 starts the rig's S3 server before the project (the api's first
// base backup comes moments after it starts) and makes the bucket.
func (h *composeHost) startS3(ctx context.Context) {
	t := h.t
	t.Helper()
	for _, d := range []string{"buckets", "meta"} {
		if err := os.MkdirAll(filepath.Join(h.data, "s3", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.compose(ctx, "up", "--detach", "s3"); err != nil {
		t.Fatal(err)
	}
	c := h.s3Client(ctx)
	waitFor(t, 30*time.Second, "the rig's S3 server", func() bool {
		err := c.MakeBucket(ctx, rigS3Bucket, minio.MakeBucketOptions{})
		return err == nil
	})
}

func (h *composeHost) s3Client(ctx context.Context) *minio.Client {
	c, err := minio.New(h.addr(ctx, "s3", rigS3Port), &minio.Options{Creds: credentials.NewStaticV4(h.secrets.BackupAccessKeyID, h.secrets.BackupSecretAccessKey, "")})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// stored says whether the bucket holds key (under the deployment's
// PostgreSQL prefix).
func (h *composeHost) stored(ctx context.Context, c *minio.Client, key string) bool {
	_, err := c.StatObject(ctx, rigS3Bucket, h.params.Deployment+"/"+contract.PostgresBackupPrefix+key, minio.StatObjectOptions{})
	return err == nil
}

// checkPostgresRestore is docs/operate/backups.md's PostgreSQL restore on a host whose
// database is lost: the api's base backup and the WAL after it (a rule
// created after the backup) restored into the emptied data directory with
// "api restore-postgres", the server recovering from them and the api
// serving both rules again; a restore over the database without -replace
// is refused; the restored server archives on its new timeline.
func (h *composeHost) checkPostgresRestore(ctx context.Context, c *http.Client, https string, auth map[string]string) {
	t := h.t
	t.Helper()
	s3 := h.s3Client(ctx)
	var base string
	waitFor(t, 120*time.Second, "the api's first PostgreSQL base backup", func() bool {
		for obj := range s3.ListObjects(ctx, rigS3Bucket, minio.ListObjectsOptions{Prefix: h.params.Deployment + "/" + contract.PostgresBackupPrefix + "base/", Recursive: true}) {
			if strings.HasSuffix(obj.Key, "/backup.json") {
				base = obj.Key
			}
		}
		return base != ""
	})
	rule := `{"name":"rig after the base backup","query":"nothing","schedule":"@every 1h","window_seconds":3600,"threshold_op":">","threshold":0}`
	if code, out := call(ctx, t, c, "POST", https+contract.APIPrefix+"/v1/rules", auth, []byte(rule)); code != 201 {
		t.Fatalf("rule: %d %v", code, out)
	}
	rules := func() int {
		code, out := call(ctx, t, c, "GET", https+contract.APIPrefix+"/v1/rules", auth, nil)
		items, _ := out["items"].([]any)
		if code != 200 {
			return -1
		}
		return len(items)
	}
	want := rules()
	segment, err := h.compose(ctx, "exec", "-T", "postgres", "psql", "-U", "nano", "-d", "nano", "-Atc", "SELECT pg_walfile_name(pg_switch_wal())")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "WAL "+segment+" in the bucket", func() bool { return h.stored(ctx, s3, "wal/"+segment+".gz") })

	// The database is lost; the api and the server are stopped.
	if _, err := h.compose(ctx, "stop", "api", "postgres"); err != nil {
		t.Fatal(err)
	}
	restore := func(args ...string) (string, error) {
		return h.compose(ctx, append([]string{"run", "--rm", "--no-deps", "-T", "-v", filepath.Join(h.data, "postgres") + ":/restore",
			"api", "restore-postgres", "-into", "/restore/pgdata"}, args...)...)
	}
	if out, err := restore(); err == nil || !strings.Contains(out+err.Error(), "restore with replace") {
		t.Fatalf("a restore over the database without -replace: %v\n%s", err, out)
	}
	began := time.Now()
	out, err := restore("-replace")
	if err != nil || !strings.Contains(out, "prepared /restore/pgdata from base backup") {
		t.Fatalf("api restore-postgres -replace: %v\n%s", err, out)
	}
	h.up(ctx)
	c = h.client(ctx)
	h.waitTLS(ctx, c, https)
	waitFor(t, 60*time.Second, "the api on the restored database", func() bool { return rules() == want })
	t.Logf("PostgreSQL restored from %s and the WAL after it in %s: %d rules", strings.TrimPrefix(base, h.params.Deployment+"/"), time.Since(began).Round(time.Second), want)
	waitFor(t, 60*time.Second, "the restored server's timeline history in the bucket", func() bool { return h.stored(ctx, s3, "wal/00000002.history.gz") })
}

// checkStart looks at what a clean start must give: no error in the
// servers' logs (ClickHouse binding a port twice, a service reading a table
// before the migrations made it).
func (h *composeHost) checkStart(ctx context.Context) {
	t := h.t
	t.Helper()
	logs, err := h.compose(ctx, "logs", "--no-color", "clickhouse", "postgres", "ingest", "api", "search")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(logs, "\n") {
		// Docker's networks give containers no IPv6, so the image's "::"
		// fails (listen_try keeps the server up), on a host as here.
		if strings.Contains(line, "Listen [::]: 0: DNS error: EAI: -9") {
			continue
		}
		for _, bad := range []string{"<Error>", "ERROR:", "level=WARN", "level=ERROR"} {
			if strings.Contains(line, bad) {
				t.Errorf("at start: %s", line)
			}
		}
	}
}

// checkMetadataBlocked: a container cannot reach the metadata service
// (which would hand it the user data's secrets): the host rejects it.
func (h *composeHost) checkMetadataBlocked(ctx context.Context) {
	h.t.Helper()
	if out := h.metadataConnection(ctx); out != "Connection refused" {
		h.t.Errorf("a container's connection to the metadata service: %q, want it refused by the host", out)
	}
}

// metadataConnection is how a container's connection to the metadata
// service ends: a blocking connect, refused at once by the host's rule;
// without it, connected (a cloud's metadata service) or cut by timeout.
func (h *composeHost) metadataConnection(ctx context.Context) string {
	out, err := h.compose(ctx, "exec", "-T", "postgres", "timeout", "10", "perl", "-MIO::Socket::INET", "-e",
		`IO::Socket::INET->new(PeerAddr => "169.254.169.254:80") and print "connected"; print $!`)
	if err != nil && out == "" {
		return err.Error()
	}
	return out
}

// checkHTTPS: plain HTTP only ever redirects to HTTPS (Caddy on 80, the
// same host and path, permanently), and every HTTPS answer, of the UI,
// api and ingest's ports, carries Strict-Transport-Security.
func (h *composeHost) checkHTTPS(ctx context.Context, c *http.Client) {
	t := h.t
	t.Helper()
	for _, path := range []string{contract.APIPrefix + "/openapi.json", "/", "/search/v1/search?q=x"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+h.params.Host+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("HTTP %s: %v", path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+h.params.Host+path {
			t.Errorf("HTTP %s: %s, Location %q, want 308 to https://%s%s", path, resp.Status, resp.Header.Get("Location"), h.params.Host, path)
		}
		if strings.Contains(string(body), `<div id="app">`) || strings.Contains(string(body), `"status"`) {
			t.Errorf("HTTP %s served content in clear: %s", path, body)
		}
	}
	for _, url := range []string{"https://" + h.params.Host + contract.APIPrefix + "/openapi.json", "https://" + h.params.Host + "/", "https://" + h.params.Host + "/metrics",
		"https://" + net.JoinHostPort(h.params.Host, strconv.Itoa(contract.Ports.IngestHTTP)) + "/v1/events"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != composefiles.HSTS {
			t.Errorf("%s (%s): Strict-Transport-Security %q, want %q", url, resp.Status, got, composefiles.HSTS)
		}
	}
}

// checkRebootKeepsGuard reboots the host's engine twice: a reboot clears
// the guard's rule; dockerd restarts the project's containers itself, as
// soon as it starts, before nano.service runs. Without the guard unit
// (the old layout, where only nano.service added the rule) a restarted
// container's connection to the metadata service is not refused: the
// control. With it, loaded before dockerd as systemd orders it
// (Before=docker.service, RequiredBy=docker.service), it is refused from
// the first moment.
func (h *composeHost) checkRebootKeepsGuard(ctx context.Context) {
	t := h.t
	t.Helper()
	for _, guard := range []bool{false, true} {
		if err := h.d.Reboot(func() error {
			dropGuard()
			if guard {
				h.loadGuard(ctx)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "dockerd to restart the postgres container", func() bool {
			out, err := h.compose(ctx, "ps", "--status", "running", "--services")
			return err == nil && strings.Contains(out, "postgres")
		})
		got := h.metadataConnection(ctx)
		switch {
		case guard && got != "Connection refused":
			t.Errorf("after a reboot with the guard unit, a container restarted by dockerd reaches the metadata service: %q", got)
		case !guard && got == "Connection refused":
			t.Errorf("the control: after a reboot without the guard unit, the metadata connection is still refused (%q): the rig cannot tell", got)
		}
	}
	h.up(ctx) // nano.service's start, as after the boot
}

// adminToken is the host's first admin credential: the one Pulumi
// generates (stack output adminToken) and the api stores at start.
func (h *composeHost) adminToken() string { return h.secrets.AdminToken }

// checkPrometheus: every scrape target is up, except ClickHouse's: Debian's
// 18.16 (the rig's stand-in) has no Prometheus endpoint, so that target
// must report the connection refused (the 25.8 image serves it).
func (h *composeHost) checkPrometheus(ctx context.Context) {
	t := h.t
	t.Helper()
	url := "http://" + h.addr(ctx, "prometheus", 9090) + "/api/v1/targets"
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("Prometheus targets when it gave up: %s", last)
		}
	}()
	waitFor(t, 90*time.Second, "Prometheus to scrape its targets", func() bool {
		code, out := call(ctx, t, http.DefaultClient, "GET", url, nil, nil)
		data, _ := out["data"].(map[string]any)
		targets, _ := data["activeTargets"].([]any)
		if code != 200 || len(targets) == 0 {
			return false
		}
		up, report := 0, []string{}
		for _, x := range targets {
			tg := x.(map[string]any)
			job := tg["labels"].(map[string]any)["job"]
			report = append(report, fmt.Sprintf("%v=%v %v", job, tg["health"], tg["lastError"]))
			switch {
			case job == "clickhouse" && tg["health"] == "down" && strings.Contains(fmt.Sprint(tg["lastError"]), "connection refused"):
				up++
			case job != "clickhouse" && tg["health"] == "up":
				up++
			}
		}
		last = strings.Join(report, "; ")
		return up == len(targets)
	})
	t.Logf("Prometheus targets: %s", last)
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// checkDatabaseLogins: every service is connected to PostgreSQL as its own
// role (none as the superuser), and the logins hold only their rights
// with their real passwords over the project's network: a compromised
// ingest cannot mint an API token, a compromised search cannot drop or
// delete events, ingest cannot drop them either; search reads them; the
// api's role (the owner) could mint the token, which is why no other
// service holds it. A wrong password is refused.
func (h *composeHost) checkDatabaseLogins(ctx context.Context) {
	t := h.t
	t.Helper()
	users, err := h.compose(ctx, "exec", "-T", "postgres", "psql", "-U", "nano", "-d", "nano", "-Atc",
		"SELECT string_agg(DISTINCT usename, ',' ORDER BY usename) FROM pg_stat_activity WHERE datname = 'nano' AND pid <> pg_backend_pid()")
	if err != nil || strings.TrimSpace(users) != "nano_api,nano_ingest,nano_monitor,nano_search" {
		t.Errorf("PostgreSQL logins on database nano: %q %v, want each service's own role and no other", users, err)
	}
	// psql from the project's network, as role with password.
	// said is what a command printed and, when it failed, its error.
	said := func(out string, err error) (string, error) {
		if err != nil {
			return out + err.Error(), err
		}
		return out, nil
	}
	psql := func(role, password, sql string) (string, error) {
		return said(h.compose(ctx, "run", "--rm", "--no-deps", "-T", "-e", "PGUSER="+role, "-e", "PGPASSWORD="+password,
			"postgres-roles", "psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-Atc", sql))
	}
	mint := "BEGIN; INSERT INTO api_tokens (tenant, name, hash, scopes) VALUES ('default', 'backdoor', '\\x" + strings.Repeat("ab", 32) + "', '{admin}'); ROLLBACK;"
	if out, err := psql(contract.IngestDBUser, h.secrets.IngestPostgresPassword, mint); err == nil || !strings.Contains(out, "permission denied for table api_tokens") {
		t.Errorf("nano_ingest minting an admin token: %v\n%s", err, out)
	}
	if out, err := psql(contract.SearchDBUser, h.secrets.SearchPostgresPassword, "BEGIN; DELETE FROM search_history; ROLLBACK;"); err == nil || !strings.Contains(out, "permission denied for table search_history") {
		t.Errorf("nano_search erasing the search history: %v\n%s", err, out)
	}
	if out, err := psql(contract.IngestDBUser, "wrong-password", "SELECT 1"); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Errorf("nano_ingest with a wrong password: %v\n%s", err, out)
	}
	if out, err := psql("nano_api", h.secrets.APIPostgresPassword, mint); err != nil {
		t.Errorf("control: the api's role cannot mint the token (so the check above proves nothing): %v\n%s", err, out)
	}
	clickhouse := func(user, password, sql string) (string, error) {
		return said(h.compose(ctx, "exec", "-T", "clickhouse", "clickhouse-client", "--user", user, "--password", password, "--query", sql))
	}
	if out, err := clickhouse(contract.SearchDBUser, h.secrets.SearchClickHousePassword, "SELECT count() > 0 FROM nano.events"); err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("nano_search reading events: %q %v", out, err)
	}
	for _, sql := range []string{"DROP TABLE nano.events", "ALTER TABLE nano.events DELETE WHERE 1", "INSERT INTO nano.events (tenant, message) SELECT 'default', 'forged'"} {
		if out, err := clickhouse(contract.SearchDBUser, h.secrets.SearchClickHousePassword, sql); err == nil || !strings.Contains(out, "readonly") {
			t.Errorf("nano_search running %s: %v\n%s", sql, err, out)
		}
	}
	for _, sql := range []string{"DROP TABLE nano.events", "TRUNCATE TABLE nano.events", "ALTER TABLE nano.events DELETE WHERE 1"} {
		if out, err := clickhouse(contract.IngestDBUser, h.secrets.IngestClickHousePassword, sql); err == nil || !strings.Contains(out, "DDL") {
			t.Errorf("nano_ingest running %s: %v\n%s", sql, err, out)
		}
	}
}

// feedToken creates a feed of kind through the api (through Caddy) and
// issues it an ingest token.
func (h *composeHost) feedToken(ctx context.Context, c *http.Client, https string, auth map[string]string, name, kind string) string {
	t := h.t
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "kind": kind})
	code, out := call(ctx, t, c, "POST", https+contract.APIPrefix+"/v1/feeds", auth, body)
	if code != 201 {
		t.Fatalf("%s feed: %d %v", kind, code, out)
	}
	code, out = call(ctx, t, c, "POST", fmt.Sprintf("%s%s/v1/feeds/%v/ingest-tokens", https, contract.APIPrefix, out["id"]), auth, nil)
	token, _ := out["token"].(string)
	if code != 201 || token == "" {
		t.Fatalf("%s ingest token: %d %v", kind, code, out)
	}
	return token
}

// checkOTLP sends one record over OTLP/HTTP and one over OTLP/gRPC through
// Caddy with a new otlp feed's token; both are stored (search counts them).
func (h *composeHost) checkOTLP(ctx context.Context, c *http.Client, https string, auth map[string]string, marker string) {
	t := h.t
	t.Helper()
	token := h.feedToken(ctx, c, https, auth, "rig-otel", "otlp")
	logs := func(msg string) plog.Logs {
		l := plog.NewLogs()
		rl := l.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "rig-otel")
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.Body().SetStr(msg)
		return l
	}
	bearer := "https://" + net.JoinHostPort(h.params.Host, strconv.Itoa(contract.Ports.IngestHTTP))
	body, _ := plogotlp.NewExportRequestFromLogs(logs(marker + " otlp http")).MarshalJSON()
	waitFor(t, 60*time.Second, "ingest to accept the otlp feed's token over OTLP/HTTP", func() bool {
		code, _ := call(ctx, t, c, "POST", bearer+"/v1/logs", map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}, body)
		return code == 200
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.caddyCA())
	to := h.addr(ctx, "caddy", contract.Ports.IngestOTLP)
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(h.params.Host, strconv.Itoa(contract.Ports.IngestOTLP)),
		grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{RootCAs: pool, ServerName: h.params.Host})),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", to)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	octx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), 30*time.Second)
	defer cancel()
	if _, err := plogotlp.NewGRPCClient(conn).Export(octx, plogotlp.NewExportRequestFromLogs(logs(marker+" otlp grpc"))); err != nil {
		t.Fatalf("OTLP/gRPC through Caddy's 4317: %v", err)
	}
	// A context of its own: appending to octx would send the valid token
	// first and the wrong one second.
	wctx, wcancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer not-the-token-0123456789"), 30*time.Second)
	defer wcancel()
	wrong := wctx
	if _, err := plogotlp.NewGRPCClient(conn).Export(wrong, plogotlp.NewExportRequestFromLogs(logs(marker+" refused"))); status.Code(err) != codes.Unauthenticated {
		t.Errorf("OTLP/gRPC with a wrong token through Caddy: %v, want UNAUTHENTICATED", err)
	}
}

// checkSyslogTLS sends RFC 5425 syslog to ingest's published 6514 (the
// deployment's certificate, verified against its CA): a message carrying a
// new syslog feed's token is stored for the default tenant (search counts
// it); one with a wrong token is not; one over a connection with a client
// certificate naming acme's feed is stored for acme; a certificate of
// another CA fails the handshake. It returns how many of the default
// tenant's messages were stored (syslog has no acknowledgement: the token
// message is sent again, numbered, until search finds one, since ingest
// learns a new token within its refresh interval).
func (h *composeHost) checkSyslogTLS(ctx context.Context, c *http.Client, https string, auth map[string]string, marker string, native harness.MutualTLS) int {
	t := h.t
	t.Helper()
	token := h.feedToken(ctx, c, https, auth, "rig-syslog", "syslog")
	to := h.addr(ctx, "ingest", contract.Ports.IngestSyslogTLS)
	send := func(cert *tls.Certificate, sd, msg string) error {
		cfg := &tls.Config{RootCAs: native.CAPool, ServerName: rigHost}
		if cert != nil {
			// Sent whatever the server asks for, as a hostile client
			// would (Go's client leaves out a certificate of a CA the
			// server does not name).
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", to)
		if err != nil {
			return err
		}
		defer conn.Close()
		// RFC 5424 takes at most six digits of a second.
		line := fmt.Sprintf("<134>1 %s fw01 rig-syslog - - %s %s", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"), sd, msg)
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(conn, "%d %s", len(line), line); err != nil {
			return err
		}
		// A server that refuses the certificate fails the handshake or
		// closes the connection; TLS 1.3 reports either on the first read.
		// One that takes the connection says nothing (syslog has no
		// acknowledgement) and keeps it open.
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err == nil || err == io.EOF {
			return errors.New("ingest closed the connection")
		}
		return err
	}
	found := func(what string) int {
		body, _ := json.Marshal(map[string]any{"query": fmt.Sprintf("%q", marker+" "+what), "from": "-1h", "page_size": 100})
		code, out := call(ctx, t, c, "POST", https+contract.SearchPrefix+"/v1/search", auth, body)
		if code != 200 {
			t.Fatalf("search through Caddy: %d %v", code, out)
		}
		n, _ := out["count"].(float64)
		return int(n)
	}
	if err := send(nil, `[nano@32473 token="not-the-token-0123456789abcdef"]`, marker+" syslog refused"); err != nil {
		t.Logf("syslog with a wrong token: %v", err)
	}
	stored := 0
	for i := 1; stored == 0; i++ {
		if i > 20 {
			t.Fatal("no syslog message with the feed's token was stored in 20 tries")
		}
		if err := send(nil, fmt.Sprintf(`[nano@32473 token="%s"]`, token), fmt.Sprintf("%s syslog token %d", marker, i)); err != nil {
			t.Fatalf("syslog over TLS with a feed token: %v", err)
		}
		for deadline := time.Now().Add(5 * time.Second); stored == 0 && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			stored = found("syslog token")
		}
	}
	if n := found("syslog refused"); n != 0 {
		t.Errorf("the message with a wrong token was stored (%d)", n)
	}
	if err := send(&native.Feed.TLS, "-", marker+" syslog certificate"); err != nil {
		t.Fatalf("syslog over TLS with a feed certificate: %v", err)
	}
	if err := send(&native.ForgedFeed.TLS, "-", marker+" syslog forged"); err == nil {
		t.Error("ingest's 6514 took a feed certificate of another CA")
	}
	acme := fmt.Sprintf("SELECT count() FROM nano.events WHERE tenant = 'acme' AND feed = 'syslog-fw' AND message LIKE '%%%s syslog%%'", marker)
	waitFor(t, 60*time.Second, "acme's syslog message sent with its feed certificate", func() bool {
		out, err := h.compose(ctx, "exec", "-T", "clickhouse", "clickhouse-client", "--user", contract.SearchDBUser, "--password", h.secrets.SearchClickHousePassword, "--query", acme)
		return err == nil && strings.TrimSpace(out) == "1"
	})
	return stored
}

// rigIssuer is the Startup rig's identity provider: configured, never
// contacted (the api discovers it at the first sign-in).
const rigIssuer = "https://idp.rig.test/realms/nano"

// checkSignInConfig: through the real Caddy, the api says whether single
// sign-on is on and where it starts: on, with the configured provider,
// where the stack configured it (Startup), off elsewhere. No sign-in is
// started here: it would send the api to the provider (the flow runs
// against Hydra in the browser test).
func (h *composeHost) checkSignInConfig(ctx context.Context, c *http.Client, https string) {
	t := h.t
	t.Helper()
	code, out := call(ctx, t, c, "GET", https+contract.APIPrefix+"/v1/auth/config", nil, nil)
	if h.params.SignIn == nil {
		if code != 200 || out["oidc"] != false {
			t.Errorf("sign-in config without single sign-on: %d %v", code, out)
		}
		return
	}
	if code != 200 || out["oidc"] != true || out["provider"] != "idp.rig.test" || out["login_url"] != "/api/v1/auth/login" {
		t.Errorf("sign-in config with single sign-on: %d %v", code, out)
	}
}
