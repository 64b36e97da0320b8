package composefiles

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/components/hostguard"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func params(t *testing.T, name tier.Name, domain string) Params {
	t.Helper()
	spec, ok := tier.Lookup(name)
	if !ok {
		t.Fatalf("no tier %s", name)
	}
	host, public := "203.0.113.10", false
	if domain != "" {
		host, public = domain, true
	}
	return Params{
		Deployment: string(name) + "-hetzner", Tier: spec, Host: host, PublicTLS: public,
		Images: settings.Images{
			API: "ghcr.io/nanosiem/api:0.1.0", Search: "ghcr.io/nanosiem/search:0.1.0", Ingest: "ghcr.io/nanosiem/ingest:0.1.0", Web: "ghcr.io/nanosiem/web:0.1.0",
		},
		VolumeDevice: "/dev/disk/by-id/scsi-0HC_Volume_4242",
	}
}

var testSecrets = Secrets{
	PostgresPassword: "pgPassw0rdTEST", ClickHousePassword: "chPassw0rdTESTapi1",
	APIPostgresPassword: "apiPgPassw0rdTEST1", IngestPostgresPassword: "ingestPgPassw0rdTEST1",
	SearchPostgresPassword: "searchPgPassw0rdTEST1", MonitorPostgresPassword: "monitorPgPassw0rdTEST1",
	IngestClickHousePassword: "ingestChPassw0rdTEST1", SearchClickHousePassword: "searchChPassw0rdTEST1",
	IngestToken: "ingestTokenTEST", HECToken: "00000000-0000-4000-8000-000000000000",
	NativeCACert:      "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
	NativeServerCert:  "-----BEGIN CERTIFICATE-----\nSERVER\n-----END CERTIFICATE-----\n",
	NativeServerKey:   "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n",
	APICredentialsKey: "cGxhbm5lZC1vZmZsaW5lLWFwaS1rZXktMzItYnl0ZXM=",
	AdminToken:        "nano_Zmlyc3QtYWRtaW4tdG9rZW4tb2YtdGhlLXRlc3QtMzI",
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the builder's output; review and run go test ./components/composefiles -update\n--- got ---\n%s", path, got)
	}
}

func TestGoldenFiles(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tier   tier.Name
		domain string
	}{{tier.Hobby, ""}, {tier.Startup, "logs.example.com"}} {
		p := params(t, c.tier, c.domain)
		secrets := testSecrets
		if c.domain != "" {
			// Startup's files show single sign-on and the audit trail's
			// retention; Hobby's the defaults.
			p.SignIn, secrets.OIDCClientSecret = testSignIn(), testOIDCSecret
			p.Tier.Retention.AuditDays = 730
		}
		for name, build := range map[string]func(Params) ([]byte, error){
			"compose.yaml": Compose, "Caddyfile": Caddyfile, "prometheus.yml": Prometheus, "clickhouse.xml": ClickHouseConfig,
			"cloud-init.yaml": func(p Params) ([]byte, error) { return CloudInit(p, secrets) },
		} {
			got, err := build(p)
			if err != nil {
				t.Fatalf("%s %s: %v", c.tier, name, err)
			}
			again, _ := build(p)
			if !bytes.Equal(got, again) {
				t.Errorf("%s %s: two builds differ", c.tier, name)
			}
			golden(t, string(c.tier)+"-"+name, got)
		}
	}
}

// loadCompose parses the Compose file with the compose-spec reference loader
// (schema validation, interpolation from the .env file, consistency checks).
func loadCompose(t *testing.T, p Params) *types.Project {
	t.Helper()
	return loadComposeWith(t, p, testSecrets)
}

func loadComposeWith(t *testing.T, p Params, secrets Secrets) *types.Project {
	t.Helper()
	compose, err := Compose(p)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Env(secrets)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := dotenv.UnmarshalBytesWithLookup(env, nil)
	if err != nil {
		t.Fatalf("the .env file does not parse: %v", err)
	}
	dir := t.TempDir()
	proj, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml"), Content: compose}},
		Environment: vars,
	})
	if err != nil {
		t.Fatalf("compose-spec loader rejects compose.yaml: %v", err)
	}
	return proj
}

func TestComposeLoadsWithComposeSpec(t *testing.T) {
	harness.Servers(t)
	proj := loadCompose(t, params(t, tier.Hobby, ""))
	want := []string{"alertmanager", "api", "caddy", "clickhouse", "ingest", "postgres", "postgres-exporter", "postgres-roles", "prometheus", "search", "web"}
	if got := proj.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	var published []string
	for _, name := range proj.ServiceNames() {
		svc := proj.Services[name]
		if strings.HasSuffix(svc.Image, ":latest") || !strings.Contains(svc.Image, ":") {
			t.Errorf("%s: image %q is not pinned", name, svc.Image)
		}
		if want := map[bool]string{true: "no", false: "unless-stopped"}[name == "postgres-roles"]; svc.Restart != want {
			t.Errorf("%s: restart %q, want %q", name, svc.Restart, want)
		}
		for _, p := range svc.Ports {
			published = append(published, name+":"+p.Published)
		}
		for k, v := range svc.Environment {
			if v != nil && strings.Contains(*v, "${") {
				t.Errorf("%s: %s=%q was not interpolated", name, k, *v)
			}
		}
	}
	// Only HTTP (Caddy's redirect), the HTTPS entry and the ingest ports
	// reach the host's network.
	if want := []string{"caddy:4317", "caddy:443", "caddy:80", "caddy:8080", "caddy:8088", "ingest:6000", "ingest:6514"}; !slices.Equal(sorted(published), want) {
		t.Errorf("published ports %v, want %v", sorted(published), want)
	}
	ing := proj.Services["ingest"]
	if v := ing.Environment["NANO_INGEST_TOKEN"]; v == nil || *v != testSecrets.IngestToken {
		t.Errorf("ingest token not passed from .env: %v", v)
	}
	if v := ing.Environment["NANO_POSTGRES_URL_FILE"]; v == nil || *v != secretsMount+"/"+secretPGURL {
		t.Errorf("ingest's PostgreSQL URL file: %v", v)
	}
	if v := ing.Environment["NANO_RETENTION_DAYS"]; v == nil || *v != "90" {
		t.Errorf("retention %v, want the catalog's 90 days", v)
	}
	ch := proj.Services["clickhouse"]
	if len(ch.Volumes) == 0 || ch.Volumes[0].Source != DataDir+"/clickhouse" {
		t.Errorf("ClickHouse data is not on the volume: %+v", ch.Volumes)
	}
	if pg := proj.Services["postgres"]; len(pg.Volumes) == 0 || pg.Volumes[0].Source != DataDir+"/postgres" {
		t.Errorf("PostgreSQL data is not on the volume: %+v", pg.Volumes)
	}
}

func TestComposeFileHoldsNoSecret(t *testing.T) {
	t.Parallel()
	compose, err := Compose(params(t, tier.Startup, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testSecrets.PostgresPassword, testSecrets.ClickHousePassword, testSecrets.IngestToken, testSecrets.HECToken,
		testSecrets.APIPostgresPassword, testSecrets.IngestPostgresPassword, testSecrets.SearchPostgresPassword, testSecrets.MonitorPostgresPassword,
		testSecrets.IngestClickHousePassword, testSecrets.SearchClickHousePassword} {
		if bytes.Contains(compose, []byte(s)) {
			t.Errorf("compose.yaml contains a secret")
		}
	}
}

func TestPrometheusScrapesSeedEndpoints(t *testing.T) {
	t.Parallel()
	b, err := Prometheus(params(t, tier.Hobby, ""))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Global.ScrapeInterval != "15s" {
		t.Errorf("scrape interval %q", cfg.Global.ScrapeInterval)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	for _, want := range []string{"api:3000", "search:3002", "ingest:9598", "postgres-exporter:9187"} {
		if !slices.Contains(targets, want) {
			t.Errorf("prometheus does not scrape %s (targets %v)", want, targets)
		}
	}
}

func TestCloudInit(t *testing.T) {
	t.Parallel()
	p := params(t, tier.Hobby, "")
	b, err := CloudInit(p, testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("#cloud-config\n")) {
		t.Fatal("user data does not start with #cloud-config")
	}
	var cfg cloudConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("cloud-init is not YAML: %v", err)
	}
	files := map[string]writeFile{}
	for _, f := range cfg.WriteFiles {
		files[f.Path] = f
	}
	compose, _ := Compose(p)
	if f := files[ProjectDir+"/compose.yaml"]; f.Content != string(compose) {
		t.Error("cloud-init's compose.yaml is not the builder's")
	}
	if f := files[ProjectDir+"/.env"]; f.Permissions != "0600" || !strings.Contains(f.Content, "POSTGRES_PASSWORD="+testSecrets.PostgresPassword) {
		t.Errorf(".env: mode %s, content holds the password: %v", f.Permissions, strings.Contains(f.Content, testSecrets.PostgresPassword))
	}
	if f := files[ProjectDir+"/tls/server.key"]; f.Permissions != "0600" {
		t.Errorf("server key mode %s", f.Permissions)
	}
	if !strings.Contains(files["/usr/local/sbin/nano-mount-data"].Content, p.VolumeDevice) {
		t.Error("mount script does not name the volume device")
	}
	if !slices.Contains(cfg.Packages, "docker-compose-plugin") {
		t.Error("cloud-init does not install Docker Compose")
	}
	if got := cfg.Runcmd[len(cfg.Runcmd)-1]; strings.Join(got, " ") != "systemctl enable --now nano.service" {
		t.Errorf("last command %v does not start nano", got)
	}
	// The metadata guard: loaded first, before Docker at every boot (which
	// requires it), and required by the project's unit too; the host keeps
	// no DOCKER-USER rule that only the project's unit would add.
	if !slices.Contains(cfg.Packages, hostguard.Package) || files[hostguard.RulesetPath].Content != hostguard.Ruleset() {
		t.Error("cloud-init does not install the metadata guard's ruleset")
	}
	guard := files[hostguard.UnitPath].Content
	if !strings.Contains(guard, "Before=network-pre.target docker.service\n") || !strings.Contains(guard, "RequiredBy=docker.service\n") {
		t.Errorf("the guard unit is not ordered before Docker and required by it:\n%s", guard)
	}
	if strings.Join(cfg.Runcmd[1], " ") != "systemctl enable --now "+hostguard.UnitName || strings.Join(cfg.Runcmd[0], " ") != "systemctl daemon-reload" {
		t.Errorf("the guard is not the first thing runcmd starts: %v", cfg.Runcmd)
	}
	unit := files["/etc/systemd/system/nano.service"].Content
	if !strings.Contains(unit, "Requires=docker.service "+hostguard.UnitName) || strings.Contains(unit, "ExecStartPre") || strings.Contains(string(b), "DOCKER-USER") {
		t.Errorf("nano.service:\n%s", unit)
	}
}

// Caddy answers HTTP on 80 only with a redirect to HTTPS on 443, written
// out (Caddy's automatic one may pick another HTTPS site of the host, such
// as an ingest port; ACME HTTP-01 is still answered where it has a
// domain), and sends HSTS on every HTTPS site; the host publishes 80.
func TestCaddyRedirectsAndSendsHSTS(t *testing.T) {
	t.Parallel()
	for _, domain := range []string{"", "logs.example.com"} {
		p := params(t, tier.Hobby, domain)
		b, err := Caddyfile(p)
		if err != nil {
			t.Fatal(err)
		}
		c := string(b)
		if strings.Contains(c, "auto_https off") || strings.Count(c, "http://") != 1 || !strings.Contains(c, "http://"+p.Host+" {\n\tredir https://{host}{uri} 308\n}") {
			t.Errorf("%q: Caddy must redirect HTTP to HTTPS:\n%s", domain, c)
		}
		if sites, hsts := strings.Count(c, "\nhttps://"), strings.Count(c, "header Strict-Transport-Security \""+HSTS+"\""); sites != 4 || hsts != sites {
			t.Errorf("%q: %d HTTPS sites, %d with HSTS:\n%s", domain, sites, hsts, c)
		}
		if ports := loadCompose(t, p).Services["caddy"].Ports; len(ports) == 0 || ports[0].Published != "80" || ports[0].Target != 80 {
			t.Errorf("caddy publishes %v: 80 first", ports)
		}
	}
}

// With a backup bucket the api gets its URL in compose.yaml and its keys
// from .env (never in compose.yaml); a bucket without keys, or keys
// without a bucket, is refused.
func TestBackupBucket(t *testing.T) {
	harness.Servers(t)
	p := params(t, tier.Startup, "")
	p.Backup = &Backup{ClickHouseURL: "https://fsn1.your-objectstorage.com/b/startup-hetzner/clickhouse-backups/",
		PostgresURL: "https://fsn1.your-objectstorage.com/b/startup-hetzner/postgres-backups/", Region: "fsn1"}
	s := testSecrets
	s.BackupAccessKeyID, s.BackupSecretAccessKey = "AKIDTEST", "c2VjcmV0/VEVTVA+key"
	api := loadComposeWith(t, p, s).Services["api"]
	for k, want := range map[string]string{
		"NANO_BACKUP_URL": p.Backup.ClickHouseURL, "NANO_BACKUP_REGION": "fsn1",
		"NANO_POSTGRES_BACKUP_URL": p.Backup.PostgresURL, "NANO_POSTGRES_WAL_SPOOL": apiSpoolMount,
		"NANO_BACKUP_ACCESS_KEY_ID": s.BackupAccessKeyID, "NANO_BACKUP_SECRET_ACCESS_KEY": s.BackupSecretAccessKey,
	} {
		if v := api.Environment[k]; v == nil || *v != want {
			t.Errorf("api %s = %v, want %q", k, v, want)
		}
	}
	// PostgreSQL archives into the spool the api empties, and lets the
	// api's replication connection in.
	proj := loadComposeWith(t, p, s)
	pg := proj.Services["postgres"]
	cmd := strings.Join(pg.Command, " ")
	for _, want := range []string{"archive_mode=on", "archive_command=" + contract.PostgresArchiveCommand(postgresSpoolMount), "hba_file=" + hbaMount, "archive_timeout=300"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("postgres command %q lacks %q", cmd, want)
		}
	}
	mounts := func(svc types.ServiceConfig) map[string]string {
		m := map[string]string{}
		for _, v := range svc.Volumes {
			m[v.Target] = v.Source
		}
		return m
	}
	if pm, am := mounts(pg), mounts(proj.Services["api"]); pm[postgresSpoolMount] != DataDir+"/postgres-wal" || am[apiSpoolMount] != pm[postgresSpoolMount] || !strings.HasSuffix(pm[hbaMount], "postgres/pg_hba.conf") {
		t.Errorf("spool and pg_hba.conf mounts: postgres %v, api %v", pm, am)
	}
	if u := proj.Services["api"].User; u != "999:999" {
		t.Errorf("the api runs as %q, not the server's uid that owns the spooled WAL", u)
	}
	ud, err := CloudInit(p, s)
	if err != nil || !bytes.Contains(ud, []byte("path: "+ProjectDir+"/postgres/pg_hba.conf")) || !strings.Contains(PostgresHBA, "host    replication     nano_api ") {
		t.Errorf("cloud-init writes no pg_hba.conf with the api role's replication line: %v", err)
	}
	plain := loadCompose(t, params(t, tier.Startup, ""))
	if len(plain.Services["postgres"].Command) != 0 || plain.Services["api"].User != "65532:65532" {
		t.Errorf("without backups: postgres command %v, api user %q", plain.Services["postgres"].Command, plain.Services["api"].User)
	}

	compose, _ := Compose(p)
	if bytes.Contains(compose, []byte(s.BackupSecretAccessKey)) || bytes.Contains(compose, []byte(s.BackupAccessKeyID)) {
		t.Error("compose.yaml holds the backup keys")
	}
	if _, err := CloudInit(p, testSecrets); err == nil || !strings.Contains(err.Error(), "backup bucket needs both its keys") {
		t.Errorf("a bucket without keys: %v", err)
	}
	if _, err := CloudInit(params(t, tier.Startup, ""), s); err == nil {
		t.Error("keys without a bucket were accepted")
	}
	if off := loadCompose(t, params(t, tier.Startup, "")).Services["api"]; off.Environment["NANO_BACKUP_URL"] != nil {
		t.Error("the api has a backup URL without a bucket")
	}
}

func TestBuildersRejectMissingInput(t *testing.T) {
	t.Parallel()
	p := params(t, tier.Hobby, "")
	p.Host, p.VolumeDevice = "", ""
	if _, err := Compose(p); err == nil || !strings.Contains(err.Error(), "missing host, volume device") {
		t.Errorf("Compose accepted missing host and device: %v", err)
	}
	s := testSecrets
	s.HECToken = ""
	if _, err := Env(s); err == nil || !strings.Contains(err.Error(), "HEC_TOKEN is empty") {
		t.Errorf("Env accepted an empty token: %v", err)
	}
	s = testSecrets
	s.PostgresPassword = "a b"
	if _, err := Env(s); err == nil {
		t.Error("Env accepted a value it cannot quote")
	}
}

func sorted(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

// Alertmanager runs in the project: one instance without a gossip
// listener, hardened, reached by name only (no published port), its
// configuration (a secret: receivers' URLs and keys) in a 0600 file only
// it reads, nano's default while none is set; Prometheus sends it the
// platform's alerts labelled tenant=platform and the api its detections.
func TestAlertmanagerInTheProject(t *testing.T) {
	t.Parallel()
	p := params(t, tier.Hobby, "logs.example.com")
	b, err := Compose(p)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	am, ok := f.Services["alertmanager"]
	if !ok {
		t.Fatal("no alertmanager service")
	}
	if am.Image != contract.AlertmanagerImage || !am.ReadOnly || len(am.Ports) != 0 || am.User != "65534:65534" ||
		!slices.Contains(am.Command, "--cluster.listen-address=") || !slices.Contains(am.Volumes, "./alertmanager.yml:"+contract.AlertmanagerConfigFile+":ro") {
		t.Errorf("alertmanager service %+v", am)
	}
	api := f.Services["api"].Environment
	if api[contract.AlertmanagerURLs] != "http://alertmanager:9093" || api[contract.WebURL] != "https://logs.example.com" {
		t.Errorf("the api's alerting variables %v", api)
	}
	prom, err := Prometheus(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Alerting struct {
			Relabel []map[string]string `yaml:"alert_relabel_configs"`
			AMs     []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(prom, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Alerting.AMs) != 1 || fmt.Sprint(cfg.Alerting.AMs[0].StaticConfigs[0].Targets) != "[alertmanager:9093]" ||
		len(cfg.Alerting.Relabel) != 1 || cfg.Alerting.Relabel[0]["target_label"] != "tenant" || cfg.Alerting.Relabel[0]["replacement"] != "platform" {
		t.Errorf("prometheus.yml alerting %+v", cfg.Alerting)
	}

	secrets := testSecrets
	for _, c := range []struct{ set, want string }{
		{"", amconfig.Unconfigured},
		{"route: {receiver: ops}\nreceivers: [{name: ops, webhook_configs: [{url: 'https://hooks.example.com/SECRETPATH'}]}]\n", "SECRETPATH"},
	} {
		secrets.AlertmanagerConfig = c.set
		ud, err := CloudInit(p, secrets)
		if err != nil {
			t.Fatal(err)
		}
		var ci cloudConfig
		if err := yaml.Unmarshal(ud, &ci); err != nil {
			t.Fatal(err)
		}
		var file *writeFile
		for i := range ci.WriteFiles {
			if ci.WriteFiles[i].Path == ProjectDir+"/alertmanager.yml" {
				file = &ci.WriteFiles[i]
			}
		}
		if file == nil || file.Permissions != "0600" || !strings.Contains(file.Content, c.want) {
			t.Errorf("alertmanager.yml with %q set: %+v", c.set, file)
		}
		if !slices.ContainsFunc(ci.Runcmd, func(cmd []string) bool {
			return strings.Join(cmd, " ") == "chown 65534:65534 "+ProjectDir+"/alertmanager.yml"
		}) {
			t.Errorf("alertmanager.yml is not given to Alertmanager's user: %v", ci.Runcmd)
		}
		if bytes.Contains(b, []byte("SECRETPATH")) {
			t.Error("compose.yaml holds the Alertmanager configuration")
		}
	}
	if !slices.ContainsFunc(DataDirs(), func(d DataDirOwner) bool { return d.Dir == "alertmanager" && d.UID == 65534 }) {
		t.Errorf("Alertmanager's data directory is not prepared: %v", DataDirs())
	}
}
