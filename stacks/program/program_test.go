package program_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/nanosiem/nano/policy/rules"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

const projectDir = "../.."

// The resources a Compose host registers, by type.
var composeHostCounts = map[string]int{
	"nano:index:ComposeHost":                         1,
	"hcloud:index/primaryIp:PrimaryIp":               1,
	"hcloud:index/sshKey:SshKey":                     1,
	"hcloud:index/firewall:Firewall":                 1,
	"hcloud:index/volume:Volume":                     1,
	"hcloud:index/server:Server":                     1,
	"hcloud:index/volumeAttachment:VolumeAttachment": 1,
	"random:index/randomPassword:RandomPassword":     9, // ingest token, owners' and the services' six database passwords
	"random:index/randomUuid:RandomUuid":             1,
	"random:index/randomBytes:RandomBytes":           2, // the api's credentials key and first admin token
	"tls:index/privateKey:PrivateKey":                4, // CA, server, aggregator, admin SSH
	"tls:index/selfSignedCert:SelfSignedCert":        1,
	"tls:index/certRequest:CertRequest":              2,
	"tls:index/locallySignedCert:LocallySignedCert":  2,
}

func one(t *testing.T, r *program.Result, typ string) program.Resource {
	t.Helper()
	rs := r.ByType(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	return rs[0]
}

func str(t *testing.T, res program.Resource, key string) string {
	t.Helper()
	v, ok := res.Inputs[resource.PropertyKey(key)]
	if !ok {
		t.Fatalf("%s has no input %s", res.Name, key)
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v.StringValue()
}

func TestComposeStacksBuild(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		stack      string
		tier       tier.Name
		serverType string
	}{{"hobby-hetzner", tier.Hobby, "ccx13"}, {"startup-hetzner", tier.Startup, "ccx23"}} {
		t.Run(c.stack, func(t *testing.T) {
			r, err := program.Plan(projectDir, c.stack)
			if err != nil {
				t.Fatal(err)
			}
			spec, _ := tier.Lookup(c.tier)
			got := r.Counts()
			got["random:index/randomUuid:RandomUuid"]-- // the tier guard (TestTierGuard)
			for typ, n := range composeHostCounts {
				if got[typ] != n {
					t.Errorf("%s: %d, want %d", typ, got[typ], n)
				}
			}
			if len(r.Resources) != sum(composeHostCounts)+1 {
				t.Errorf("%d resources, want %d and the tier guard: %v", len(r.Resources), sum(composeHostCounts), got)
			}
			for _, res := range r.Resources {
				if res.Type != "nano:index:ComposeHost" && res.ParentType != "nano:index:ComposeHost" && !strings.HasSuffix(res.Name, program.TierGuardSuffix) {
					t.Errorf("%s %s is not parented to the component", res.Type, res.Name)
				}
			}

			server := one(t, r, "hcloud:index/server:Server")
			if st := str(t, server, "serverType"); st != c.serverType {
				t.Errorf("server type %s, want %s", st, c.serverType)
			}
			if dc := str(t, server, "datacenter"); dc != settings.HetznerLocations["fsn1"].Datacenter {
				t.Errorf("datacenter %s", dc)
			}
			ud := server.Inputs["userData"]
			if !ud.IsSecret() {
				t.Error("server user data (it holds passwords) is not a secret")
			}
			userData := str(t, server, "userData")
			for _, want := range []string{"#cloud-config", "docker-compose-plugin", "POSTGRES_PASSWORD=generatedAtDeploy",
				"scsi-0HC_Volume_", "NANO_RETENTION_DAYS: \"90\"", "https://192.0.2.10 {"} {
				if !strings.Contains(userData, want) {
					t.Errorf("user data lacks %q", want)
				}
			}
			for _, label := range []string{"nano-tier", "nano-deployment", "managed-by"} {
				labels := server.Inputs["labels"].ObjectValue()
				if _, ok := labels[resource.PropertyKey(label)]; !ok {
					t.Errorf("server has no %s label", label)
				}
			}
			if l := server.Inputs["labels"].ObjectValue()["nano-tier"].StringValue(); l != string(c.tier) {
				t.Errorf("nano-tier label %q", l)
			}

			volume := one(t, r, "hcloud:index/volume:Volume")
			// The catalog's size, or what the tier's volume needs for its
			// retention where that is more (Startup: 81 GB, not 50).
			if size := int(volume.Inputs["size"].NumberValue()); size != max(spec.HotStorageGB, spec.HotNeedPerPodGB()) || size < spec.HotStorageGB {
				t.Errorf("volume %d GB, catalog says %d, need %d", size, spec.HotStorageGB, spec.HotNeedPerPodGB())
			}

			fw := one(t, r, "hcloud:index/firewall:Firewall")
			var ports []string
			for _, rule := range fw.Inputs["rules"].ArrayValue() {
				o := rule.ObjectValue()
				ports = append(ports, o["port"].StringValue())
				if o["port"].StringValue() == "22" {
					t.Error("SSH is open though the stack lists no admin CIDRs")
				}
			}
			if strings.Join(ports, ",") != "80,443,8080,8088,6000,4317,6514" {
				t.Errorf("firewall opens %v", ports)
			}
		})
	}
}

func TestComposeHostFollowsOverrides(t *testing.T) {
	t.Parallel()
	_, cfg, err := stackfile.Load(projectDir, "startup-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Values["nano:hotStorageGB"] = "120"
	cfg.Values["nano:sshAllowedCidrs"] = `["198.51.100.0/24"]`
	cfg.Values["nano:domain"] = "logs.example.com"
	cfg.Values["nano:sshPublicKey"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKey admin@example"
	r, err := program.PlanConfig("nano", "startup-hetzner", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if size := int(one(t, r, "hcloud:index/volume:Volume").Inputs["size"].NumberValue()); size != 120 {
		t.Errorf("volume %d GB, want the override's 120", size)
	}
	if n := len(r.ByType("tls:index/privateKey:PrivateKey")); n != 3 {
		t.Errorf("%d private keys: a configured SSH key must not be generated", n)
	}
	var ssh []string
	for _, rule := range one(t, r, "hcloud:index/firewall:Firewall").Inputs["rules"].ArrayValue() {
		if o := rule.ObjectValue(); o["port"].StringValue() == "22" {
			for _, ip := range o["sourceIps"].ArrayValue() {
				ssh = append(ssh, ip.StringValue())
			}
		}
	}
	if strings.Join(ssh, ",") != "198.51.100.0/24" {
		t.Errorf("SSH open to %v, want only 198.51.100.0/24", ssh)
	}
	if ud := str(t, one(t, r, "hcloud:index/server:Server"), "userData"); !strings.Contains(ud, "https://logs.example.com {") || strings.Contains(ud, "tls internal") {
		t.Error("with a domain, Caddy must serve it with a public certificate")
	}
}

// Invalid config fails before any resource is registered, naming the key.
func TestInvalidConfigRegistersNothing(t *testing.T) {
	t.Parallel()
	_, cfg, err := stackfile.Load(projectDir, "hobby-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Values["nano:provider"] = "aws"
	cfg.Values["nano:appReplicas"] = "3"
	mocks := &mockmonitor.Recorder{}
	err = program.PlanWith("nano", "hobby-hetzner", cfg, mocks)
	if err == nil {
		t.Fatal("hobby on aws was accepted")
	}
	for _, want := range []string{`nano:provider: tier "hobby" does not run on "aws"; allowed for hobby: hetzner`,
		`nano:appReplicas: tier "hobby" runs one of everything on one host`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := len(mocks.Resources()); n != 0 {
		t.Errorf("%d resources registered before validation failed", n)
	}
}

// Every stack in stacks/ builds: each tier's component with the stack's
// real config (required secrets stand in as placeholders, as in plan).
func TestEveryStackBuilds(t *testing.T) {
	t.Parallel()
	stacks, err := stackfile.Stacks(projectDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(stacks) != 20 {
		t.Fatalf("%d stacks, want 20 (15 on clouds, 5 on an existing cluster)", len(stacks))
	}
	components := map[tier.Kind]string{
		tier.Compose: "nano:index:ComposeHost", tier.SinglePool: "nano:index:SinglePoolCluster", tier.HA: "nano:index:HACluster",
		tier.MultiPool: "nano:index:MultiPoolCluster", tier.Managed: "nano:index:ManagedEnterprise",
	}
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			r, err := program.Plan(projectDir, stack)
			if err != nil {
				t.Fatal(err)
			}
			component := components[r.Settings.Tier.Kind]
			if r.Settings.Provider == tier.Kubernetes {
				component = "nano:index:ExistingCluster"
				if n := len(r.ByType("kubernetes:helm.sh/v3:Release")); n == 0 && !r.Settings.Tier.ClickHouse.Cloud {
					t.Errorf("nano:kubeOperators helm installs no operator")
				}
			} else if want := r.Settings.Tier.Kind == tier.Managed || r.Settings.Tier.Kind == tier.SinglePool; want != (len(r.OfflineSecrets) == 1) {
				// Enterprise's ClickHouse Cloud password, Growth's own
				// hcloud:token.
				t.Errorf("offline secrets %v on tier %s", r.OfflineSecrets, r.Settings.Tier.Name)
			}
			c := one(t, r, component)
			guard := checkTierGuard(t, r)
			if !slices.Contains(c.Dependencies, guard.URN) {
				t.Errorf("%s does not wait for the tier guard %s: %v", component, guard.URN, c.Dependencies)
			}
			for _, res := range r.Resources {
				if res.ParentType == "" && res.Type != "pulumi:pulumi:Stack" && !strings.HasPrefix(res.Type, "pulumi:providers:") {
					t.Errorf("%s %s has no parent", res.Type, res.Name)
				}
				if rules.HoldsData(res.Type) && !res.Protect {
					t.Errorf("%s %s holds data but is not protected", res.Type, res.Name)
				}
			}

			// nano:protectData false lifts every protection, for a destroy.
			_, cfg, err := stackfile.Load(projectDir, stack)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Values["nano:protectData"] = "false"
			r, err = program.PlanConfig("nano", stack, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range r.Resources {
				if res.Protect {
					t.Errorf("nano:protectData false: %s %s is still protected", res.Type, res.Name)
				}
				if v, ok := res.Inputs["deletionProtection"]; ok && v.IsBool() && v.BoolValue() {
					t.Errorf("nano:protectData false: %s %s keeps the cloud's deletion protection", res.Type, res.Name)
				}
			}
		})
	}
}

// checkTierGuard finds the stack's tier guard and checks it: at the top,
// protected, keeping the tier, provider and region.
func checkTierGuard(t *testing.T, r *program.Result) program.Resource {
	t.Helper()
	for _, res := range r.Resources {
		if res.Name != r.Settings.Deployment+program.TierGuardSuffix {
			continue
		}
		if res.ParentType != "pulumi:pulumi:Stack" || !res.Protect {
			t.Errorf("the tier guard has parent %q, protect %v; want the stack, true", res.ParentType, res.Protect)
		}
		keepers := res.Inputs["keepers"].ObjectValue()
		for k, want := range map[string]string{"tier": string(r.Settings.Tier.Name), "provider": string(r.Settings.Provider), "region": r.Settings.Region} {
			if got := keepers[resource.PropertyKey(k)]; !got.IsString() || got.StringValue() != want {
				t.Errorf("the tier guard keeps %s %v, want %q", k, got, want)
			}
		}
		return res
	}
	t.Fatalf("no tier guard %s%s", r.Settings.Deployment, program.TierGuardSuffix)
	return program.Resource{}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Growth builds end to end: a k3s server on Hetzner, the CSI driver and the
// whole platform on the cluster's provider.
func TestGrowthStackBuilds(t *testing.T) {
	t.Parallel()
	r, err := program.Plan(projectDir, "growth-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	counts := r.Counts()
	for typ, n := range map[string]int{
		"nano:index:SinglePoolCluster":                                              1,
		"nano:index:Platform":                                                       1,
		"hcloud:index/server:Server":                                                1,
		"hcloud:index/network:Network":                                              1,
		"hcloud:index/networkSubnet:NetworkSubnet":                                  1,
		"hcloud:index/primaryIp:PrimaryIp":                                          1,
		"pulumi:providers:kubernetes":                                               1,
		"command:local:Command":                                                     1,
		"kubernetes:helm.sh/v3:Release":                                             3, // CSI, ClickHouse operator, CNPG
		"kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation":              1,
		"kubernetes:clickhouse-keeper.altinity.com/v1:ClickHouseKeeperInstallation": 1,
		"kubernetes:postgresql.cnpg.io/v1:Cluster":                                  1,
		"kubernetes:apps/v1:Deployment":                                             5, // api, search, web, ingest, prometheus
		"tls:index/selfSignedCert:SelfSignedCert":                                   4, // 3 cluster CAs + the native port's CA
	} {
		if counts[typ] != n {
			t.Errorf("%s: %d, want %d", typ, counts[typ], n)
		}
	}
	server := one(t, r, "hcloud:index/server:Server")
	if st := str(t, server, "serverType"); st != "cx33" {
		t.Errorf("growth node type %s, want cx33 (4 CPU / 8 GB)", st)
	}
	if !server.Inputs["userData"].IsSecret() || !strings.Contains(str(t, server, "userData"), "INSTALL_K3S_VERSION=") {
		t.Error("server user data does not install k3s as a secret")
	}
	var fwPorts []string
	for _, rule := range one(t, r, "hcloud:index/firewall:Firewall").Inputs["rules"].ArrayValue() {
		fwPorts = append(fwPorts, rule.ObjectValue()["port"].StringValue())
	}
	if strings.Join(fwPorts, ",") != "80,443,8080,8088,6000,4317,6514,6443" {
		t.Errorf("firewall opens %v", fwPorts)
	}
	for _, res := range r.Resources {
		if strings.HasPrefix(res.Type, "kubernetes:") && !strings.Contains(res.Provider, "pulumi:providers:kubernetes::growth-hetzner-k3s") {
			t.Errorf("%s %s is not on the k3s cluster's provider", res.Type, res.Name)
		}
	}
	for _, p := range r.ByType("pulumi:providers:kubernetes") {
		if !p.Inputs["kubeconfig"].IsSecret() {
			t.Error("the kubeconfig is not a secret")
		}
	}
}

// Growth's cluster keeps a Hetzner token (its CSI driver's): only the
// deployment's own hcloud:token from the stack's config goes in, never
// HCLOUD_TOKEN from the environment (the provisioning endpoint's own in
// Managed mode). Without hcloud:token the program refuses, naming the key,
// before registering anything; with it, the cluster's Secret holds exactly
// that token, whatever the environment holds.
func TestGrowthKeepsOnlyItsOwnHetznerToken(t *testing.T) {
	t.Setenv("HCLOUD_TOKEN", "the-endpoints-own-token-for-every-managed-deployment")
	_, cfg, err := stackfile.Load(projectDir, "growth-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	mocks := &mockmonitor.Recorder{}
	err = program.PlanWith("nano", "growth-hetzner", cfg, mocks)
	if err == nil || !strings.Contains(err.Error(), "hcloud:token: required in the stack's config") || !strings.Contains(err.Error(), "HCLOUD_TOKEN from the environment") {
		t.Fatalf("Growth without hcloud:token: %v", err)
	}
	if n := len(mocks.Resources()); n != 0 {
		t.Errorf("%d resources registered before the refusal", n)
	}
	cfg.Values = maps.Clone(cfg.Values)
	cfg.Values[program.HcloudTokenKey] = "the-deployments-own-project-token"
	cfg.Secrets = append(slices.Clone(cfg.Secrets), program.HcloudTokenKey)
	r, err := program.PlanConfig("nano", "growth-hetzner", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, sec := range r.ByType("kubernetes:core/v1:Secret") {
		if v := sec.Inputs["metadata"].ObjectValue()["name"]; v.IsString() && v.StringValue() == "hcloud" {
			data := sec.Inputs["stringData"]
			if !data.IsSecret() {
				t.Error("the cluster's Hetzner token is not a Pulumi secret")
			}
			if got := data.SecretValue().Element.ObjectValue()["token"]; got.IsSecret() && got.SecretValue().Element.StringValue() != "the-deployments-own-project-token" || got.IsString() && got.StringValue() != "the-deployments-own-project-token" {
				t.Errorf("the cluster's Hetzner token is %v", got)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no kube-system/hcloud Secret")
	}
}

// The bill of materials says what is planned: a larger nano:machineType's
// real size in the pool and the totals, and ingest's autoscaled range on
// Enterprise.
func TestBillOfMaterialsFollowsThePlan(t *testing.T) {
	t.Parallel()
	plan := func(stack string, overrides map[string]string) string {
		t.Helper()
		proj, cfg, err := stackfile.Load(projectDir, stack)
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for k, v := range cfg.Values {
			values[k] = v
		}
		for k, v := range overrides {
			values[k] = v
		}
		cfg.Values = values
		r, err := program.PlanConfig(proj.Name, stack, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		r.WriteBOM(&b)
		return b.String()
	}
	bom := plan("team-aws", map[string]string{"nano:machineType": "m6i.2xlarge"})
	for _, want := range []string{"pool general    3 x m6i.2xlarge (8 CPU / 32 GB, on-demand)", "machines   3 nodes, 24 CPU, 96 GB memory", "replicas   api 2, search 2, web 2, ingest 2"} {
		if !strings.Contains(bom, want) {
			t.Errorf("team-aws on m6i.2xlarge: the bill of materials lacks %q:\n%s", want, bom)
		}
	}
	if bom := plan("enterprise-gcp", map[string]string{"nano:dailyVolumeGB": "5000"}); !strings.Contains(bom, "ingest 6-42 (autoscaled on CPU)") {
		t.Errorf("enterprise at 5 TB/day:\n%s", bom)
	}
}

// A backup bucket (nano:backupBucketUrl) reaches the api on Startup
// (compose.yaml's URL under the deployment's prefix, the keys in .env
// inside the secret user data) and on Growth (the bucket's Secret with the
// ClickHouse backups' URL, and CloudNativePG's backups with it).
func TestBackupBucketReachesTheTiers(t *testing.T) {
	t.Parallel()
	bucket := map[string]string{
		"nano:backupBucketUrl": "https://fsn1.your-objectstorage.com/nano-backups/", "nano:backupBucketRegion": "fsn1",
		"nano:backupAccessKeyId": "AKIDEXAMPLE", "nano:backupSecretAccessKey": "c2VjcmV0LWtleS1leGFtcGxl",
	}
	_, cfg, err := stackfile.Load(projectDir, "startup-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(cfg.Values, bucket)
	cfg.Secrets = append(cfg.Secrets, "nano:backupAccessKeyId", "nano:backupSecretAccessKey")
	r, err := program.PlanConfig("nano", "startup-hetzner", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ud := str(t, one(t, r, "hcloud:index/server:Server"), "userData")
	for _, want := range []string{"NANO_BACKUP_URL: https://fsn1.your-objectstorage.com/nano-backups/startup-hetzner/clickhouse-backups/",
		"NANO_POSTGRES_BACKUP_URL: https://fsn1.your-objectstorage.com/nano-backups/startup-hetzner/postgres-backups/",
		"archive_mode=on", "path: /opt/nano/postgres/pg_hba.conf",
		"BACKUP_SECRET_ACCESS_KEY=c2VjcmV0LWtleS1leGFtcGxl"} {
		if !strings.Contains(ud, want) {
			t.Errorf("startup's user data lacks %q", want)
		}
	}

	_, cfg, err = stackfile.Load(projectDir, "growth-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(cfg.Values, bucket)
	cfg.Secrets = append(cfg.Secrets, "nano:backupAccessKeyId", "nano:backupSecretAccessKey")
	r, err = program.PlanConfig("nano", "growth-hetzner", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.ByType("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup")); n != 1 {
		t.Errorf("growth with a bucket: %d ScheduledBackups, want 1", n)
	}
	var found bool
	for _, s := range r.ByType("kubernetes:core/v1:Secret") {
		sd, ok := s.Inputs["stringData"]
		if !ok {
			continue
		}
		if sd.IsSecret() {
			sd = sd.SecretValue().Element
		}
		if u, ok := sd.ObjectValue()["clickhouse-backups-url"]; ok {
			found = true
			if u.IsSecret() {
				u = u.SecretValue().Element
			}
			if got := u.StringValue(); got != "https://fsn1.your-objectstorage.com/nano-backups/growth-hetzner/clickhouse-backups/" {
				t.Errorf("growth's ClickHouse backups go to %q", got)
			}
		}
	}
	if !found {
		t.Error("growth with a bucket has no Secret with the ClickHouse backups' URL")
	}
}

// A restore on Growth is configuration: the recreated Cluster bootstraps
// from the named archive and archives under its new name.
func TestPostgresRecoveryReachesTheCluster(t *testing.T) {
	t.Parallel()
	_, cfg, err := stackfile.Load(projectDir, "growth-hetzner")
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(cfg.Values, map[string]string{
		"nano:backupBucketUrl": "https://fsn1.your-objectstorage.com/nano-backups/", "nano:backupBucketRegion": "fsn1",
		"nano:backupAccessKeyId": "AKIDEXAMPLE", "nano:backupSecretAccessKey": "c2VjcmV0LWtleS1leGFtcGxl",
		"nano:postgresRecoverFrom": "nano-pg", "nano:postgresServerName": "nano-pg-2",
		"nano:postgresRecoverTo": "2026-12-03T10:00:00Z",
	})
	cfg.Secrets = append(cfg.Secrets, "nano:backupAccessKeyId", "nano:backupSecretAccessKey")
	r, err := program.PlanConfig("nano", "growth-hetzner", cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := one(t, r, "kubernetes:postgresql.cnpg.io/v1:Cluster").Inputs["spec"].ObjectValue()
	at := func(v resource.PropertyValue, path ...string) resource.PropertyValue {
		for _, k := range path {
			if v.IsArray() {
				v = v.ArrayValue()[0]
			}
			v = v.ObjectValue()[resource.PropertyKey(k)]
		}
		return v
	}
	root := resource.NewObjectProperty(spec)
	for path, want := range map[string]string{
		"bootstrap.recovery.source":                     "archive",
		"bootstrap.recovery.recoveryTarget.targetTime":  "2026-12-03T10:00:00Z",
		"externalClusters.barmanObjectStore.serverName": "nano-pg",
		"backup.barmanObjectStore.serverName":           "nano-pg-2",
	} {
		v := at(root, strings.Split(path, ".")...)
		if !v.IsString() || v.StringValue() != want {
			t.Errorf("Cluster spec.%s = %v, want %q", path, v, want)
		}
	}

	// Without a bucket Growth has no archive to name or recover from.
	delete(cfg.Values, "nano:backupBucketUrl")
	if _, err := program.PlanConfig("nano", "growth-hetzner", cfg); err == nil || !strings.Contains(err.Error(), "nano:postgresRecoverFrom") {
		t.Errorf("recovery without a bucket: %v, want an error naming nano:postgresRecoverFrom", err)
	}
}
