package settings

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

const projectDir = "../../.."

// getter serves a map of short keys ("tier") as a Getter.
func getter(m map[string]string) Getter { return func(k string) string { return m[k] } }

func hobby(extra map[string]string) map[string]string {
	m := map[string]string{KeyTier: "hobby", KeyProvider: "hetzner", KeyRegion: "fsn1"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func enterpriseGCP(extra map[string]string) map[string]string {
	m := map[string]string{KeyTier: "enterprise", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyDailyVolumeGB: "100",
		KeyCHCloudService: "projects/ch-cloud-prod/regions/europe-west3/serviceAttachments/ch-svc",
		KeyCHCloudHost:    "abc.europe-west3.p.gcp.clickhouse.cloud", KeyCHCloudPassword: "pw"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestPulumiYAMLDeclaresEveryKey(t *testing.T) {
	t.Parallel()
	p, err := stackfile.LoadProject(projectDir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != Namespace || p.StackConfigDir != "stacks" || p.Runtime != "go" {
		t.Errorf("Pulumi.yaml: name %q runtime %v stackConfigDir %q; want %q, go, stacks", p.Name, p.Runtime, p.StackConfigDir, Namespace)
	}
	if len(p.Config) != len(Keys) {
		t.Errorf("Pulumi.yaml declares %d keys, the program reads %d", len(p.Config), len(Keys))
	}
	for _, k := range Keys {
		d, ok := p.Config[k.Name]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", k.Name)
			continue
		}
		switch {
		case k.Secret && d.Type != "":
			// See secrets.go: a typed secret key with a default fails
			// every stack that leaves it unset on current CLIs.
			t.Errorf("%s: Pulumi.yaml types the secret key %q; declare it without a type", k.Name, d.Type)
		case !k.Secret && d.Type != string(k.Type):
			t.Errorf("%s: Pulumi.yaml type %q, program %q", k.Name, d.Type, k.Type)
		}
		if d.Description != k.Description {
			t.Errorf("%s: Pulumi.yaml description %q, program %q", k.Name, d.Description, k.Description)
		}
		if d.Secret != k.Secret {
			t.Errorf("%s: Pulumi.yaml secret %v, program %v", k.Name, d.Secret, k.Secret)
		}
		if k.Type == Array && (d.Items == nil || d.Items.Type != "string") {
			t.Errorf("%s: Pulumi.yaml must declare items of type string", k.Name)
		}
		switch {
		case k.Required && d.Default != nil:
			t.Errorf("%s is required but Pulumi.yaml gives it a default", k.Name)
		case !k.Required:
			want := strings.Trim(k.Default, `"`)
			got := ""
			switch v := d.Default.(type) {
			case nil:
				t.Errorf("%s: Pulumi.yaml has no default", k.Name)
			case []any:
				b, _ := json.Marshal(v)
				got = string(b)
			default:
				got = fmt.Sprint(v)
			}
			if got != want {
				t.Errorf("%s: Pulumi.yaml default %q, program %q", k.Name, got, want)
			}
		}
	}
}

// Every stack in stacks/ loads and validates against the catalog: the tier
// and provider it names are an allowed pair, and the stack name says them.
func TestEveryStackValidates(t *testing.T) {
	t.Parallel()
	stacks, err := stackfile.Stacks(projectDir)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, s := range tier.All() {
		want += len(s.ProvidersWithTargets())
	}
	if len(stacks) != want {
		t.Errorf("stacks/ has %d stacks, the catalog allows %d tier x provider pairs", len(stacks), want)
	}
	for _, name := range stacks {
		t.Run(name, func(t *testing.T) {
			_, cfg, err := stackfile.Load(projectDir, name)
			if err != nil {
				t.Fatal(err)
			}
			get, filled := WithOfflineSecrets(func(k string) string { return cfg.Values[Namespace+":"+k] })
			s, err := Load(name, get)
			if err != nil {
				t.Fatal(err)
			}
			// Stacks' secrets: the ClickHouse Cloud password on Enterprise;
			// with an existing cluster its kubeconfig, the warm bucket's keys
			// (nano creates no bucket there) and Enterprise's PostgreSQL.
			var want []string
			if s.Tier.Name == tier.Enterprise {
				want = append(want, KeyCHCloudPassword)
			}
			if s.Provider == tier.Kubernetes {
				if s.Tier.ClickHouse.WarmS3 {
					want = append(want, KeyWarmAccessKeyID, KeyWarmSecretKey)
				}
				want = append(want, KeyKubeconfig)
				if s.Tier.Name == tier.Enterprise {
					want = append(want, KeyPostgresURI)
				}
			}
			if !slices.Equal(filled, want) {
				t.Errorf("offline secrets %v for tier %s on %s, want %v", filled, s.Tier.Name, s.Provider, want)
			}
			if got := string(s.Tier.Name) + "-" + string(s.Provider); got != name {
				t.Errorf("stack %s configures %s", name, got)
			}
			if s.Deployment != name {
				t.Errorf("deployment defaults to %q, want the stack name", s.Deployment)
			}
			if s.Images.API != DefaultImageRegistry+"/api:"+DefaultImageVersion {
				t.Errorf("api image %q is not Pulumi.yaml's default", s.Images.API)
			}
		})
	}
}

func TestLoadAppliesCatalogAndOverrides(t *testing.T) {
	t.Parallel()
	s, err := Load("hobby-hetzner", getter(hobby(nil)))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tier.Lookup(tier.Hobby)
	if s.Tier.HotStorageGB != want.HotStorageGB || s.Tier.Retention != want.Retention || s.MachineType != "ccx13" {
		t.Errorf("hobby settings %+v do not follow the catalog", s)
	}
	if !s.ProtectData {
		t.Error("data is unprotected by default")
	}
	if s, err := Load("hobby-hetzner", getter(hobby(map[string]string{KeyProtectData: "false"}))); err != nil || s.ProtectData {
		t.Errorf("nano:protectData false: %v, protected %v", err, s.ProtectData)
	}
	s, err = Load("startup-hetzner", getter(map[string]string{
		KeyTier: "startup", KeyProvider: "hetzner", KeyRegion: "hel1",
		KeyHotStorageGB: "80", KeyRetentionDays: "30", KeySSHAllowedCIDRs: `["198.51.100.7/32","2001:db8::/48"]`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Tier.HotStorageGB != 80 || s.Tier.Retention.Days != 30 || s.MachineType != "ccx23" ||
		strings.Join(s.SSHAllowedCIDRs, ",") != "198.51.100.7/32,2001:db8::/48" {
		t.Errorf("overrides not applied: %+v", s)
	}
	if orig, _ := tier.Lookup(tier.Startup); orig.HotStorageGB != 50 {
		t.Errorf("an override changed the catalog itself: %d", orig.HotStorageGB)
	}
	s, err = Load("team-aws", getter(map[string]string{KeyTier: "team", KeyProvider: "aws", KeyRegion: "us-east-1", KeyAppReplicas: "4"}))
	if err != nil || s.Tier.Replicas != 4 || s.MachineType != "c6i.xlarge" {
		t.Errorf("team-aws with 4 replicas: %+v, %v", s, err)
	}
	// A larger machine than the tier's is a valid override.
	if s, err := Load("team-aws", getter(map[string]string{KeyTier: "team", KeyProvider: "aws", KeyRegion: "us-east-1", KeyMachineType: "m6i.2xlarge"})); err != nil || s.MachineType != "m6i.2xlarge" {
		t.Errorf("team-aws on m6i.2xlarge: %q, %v", s.MachineType, err)
	}
	s, err = Load("enterprise-gcp", getter(enterpriseGCP(map[string]string{KeyDailyVolumeGB: "2000"})))
	if err != nil || s.Band.Label != "1-10 TB/day" {
		t.Errorf("enterprise 2000 GB/day: band %q, %v", s.Band.Label, err)
	}
	if c := s.ClickHouseCloud; c == nil || c.User != "default" || c.Password != "pw" || c.Host != "abc.europe-west3.p.gcp.clickhouse.cloud" {
		t.Errorf("ClickHouse Cloud settings %+v", c)
	}
	s, err = Load("team-civo", getter(map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1",
		KeyWarmBucketURL: "https://s3.eu-central-2.wasabisys.com/nano-warm", KeyWarmAccessKeyID: "id", KeyWarmSecretKey: "key"}))
	if err != nil || s.Warm == nil || s.Warm.URL != "https://s3.eu-central-2.wasabisys.com/nano-warm/" || s.Warm.AccessKeyID != "id" {
		t.Errorf("team-civo with a Wasabi bucket: %+v, %v", s.Warm, err)
	}
	s, err = Load("hobby-hetzner", getter(hobby(map[string]string{KeyBackupURL: "https://fsn1.your-objectstorage.com/nano-backups",
		KeyBackupKeyID: "id", KeyBackupSecretKey: "key"})))
	if err != nil || s.Backup == nil || s.Backup.URL != "https://fsn1.your-objectstorage.com/nano-backups/" || s.Backup.SecretAccessKey != "key" {
		t.Errorf("hobby with a backup bucket: %+v, %v", s.Backup, err)
	}
	if s, err := Load("team-civo", getter(map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1"})); err != nil || s.Warm != nil || s.PostgresArchive != (PostgresArchive{ServerName: "nano-pg"}) {
		t.Errorf("team-civo without a bucket: %+v, %+v, %v", s.Warm, s.PostgresArchive, err)
	}
	restore := map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1", KeyPGServerName: "nano-pg-2", KeyPGRecoverFrom: "nano-pg", KeyPGRecoverTo: "2026-12-03T10:00:00Z"}
	if s, err := Load("team-civo", getter(restore)); err != nil || s.PostgresArchive != (PostgresArchive{"nano-pg-2", "nano-pg", "2026-12-03T10:00:00Z"}) {
		t.Errorf("team-civo restoring PostgreSQL: %+v, %v", s.PostgresArchive, err)
	}
	if s, err := Load("hobby-hetzner", getter(hobby(nil))); err != nil || s.PostgresArchive != (PostgresArchive{}) {
		t.Errorf("hobby has no CloudNativePG archive: %+v, %v", s.PostgresArchive, err)
	}
}

// Every tenant's ingest quota is the tier's budget unless the stack says
// otherwise (Enterprise: its daily volume, unlimited events per second);
// deleting history for disk room is off unless the stack turns it on.
func TestIngestQuotaAndDiskPolicy(t *testing.T) {
	t.Parallel()
	s, err := Load("hobby-hetzner", getter(hobby(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Tier.TenantQuota(); q != (tier.TenantQuota{EPS: 30, GBPerDay: 2}) || s.Tier.Retention.DropOldestBelowPct != 0 {
		t.Errorf("hobby's tenant quota %+v, drop policy %d; want the tier's 30 EPS and 2 GB/day, never drop", q, s.Tier.Retention.DropOldestBelowPct)
	}
	s, err = Load("hobby-hetzner", getter(hobby(map[string]string{KeyTenantEPS: "100", KeyTenantGBPerDay: "1", KeyDropOldestPct: "5"})))
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Tier.TenantQuota(); q != (tier.TenantQuota{EPS: 100, GBPerDay: 1}) || s.Tier.Retention.DropOldestBelowPct != 5 {
		t.Errorf("overridden: %+v, drop policy %d", q, s.Tier.Retention.DropOldestBelowPct)
	}
	s, err = Load("enterprise-gcp", getter(enterpriseGCP(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Tier.TenantQuota(); q != (tier.TenantQuota{EPS: 0, GBPerDay: 100}) {
		t.Errorf("enterprise at 100 GB/day: tenant quota %+v, want 100 GB/day and unlimited EPS", q)
	}
	for key, v := range map[string]string{KeyDropOldestPct: "60", KeyTenantEPS: "-1", KeyTenantGBPerDay: "2000000"} {
		if _, err := Load("hobby-hetzner", getter(hobby(map[string]string{key: v}))); err == nil || !strings.Contains(err.Error(), "nano:"+key+":") {
			t.Errorf("nano:%s %s: %v, want an error naming the key", key, v, err)
		}
	}
}

// Invalid values and combinations fail with messages that name the key and
// say what is allowed.
func TestLoadRejectsWithClearMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  map[string]string
		want []string
	}{
		{"missing tier", map[string]string{KeyProvider: "hetzner", KeyRegion: "fsn1"},
			[]string{"nano:tier: required; set one of hobby, startup, growth, team, business, pro, enterprise"}},
		{"unknown tier", map[string]string{KeyTier: "huge", KeyProvider: "hetzner", KeyRegion: "fsn1"},
			[]string{`nano:tier: unknown tier "huge"; allowed: hobby, startup, growth, team, business, pro, enterprise`}},
		{"hobby on aws", map[string]string{KeyTier: "hobby", KeyProvider: "aws", KeyRegion: "eu-central-1"},
			[]string{`nano:provider: tier "hobby" does not run on "aws"; allowed for hobby: hetzner`}},
		{"pro on civo", map[string]string{KeyTier: "pro", KeyProvider: "civo", KeyRegion: "LON1"},
			[]string{`nano:provider: tier "pro" does not run on "civo"; allowed for pro: gcp, aws`}},
		{"unknown provider", map[string]string{KeyTier: "team", KeyProvider: "azure", KeyRegion: "x"},
			[]string{`nano:provider: unknown provider "azure"; allowed: hetzner, civo, vultr, gcp, aws`}},
		{"HA tier with 1 replica", map[string]string{KeyTier: "business", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyAppReplicas: "1"},
			[]string{`nano:appReplicas: tier "business" is highly available and needs at least 2 replicas; got 1`}},
		{"backup keys without a bucket", hobby(map[string]string{KeyBackupKeyID: "id"}),
			[]string{`nano:backupAccessKeyId: set without nano:backupBucketUrl`}},
		{"backup bucket without keys", hobby(map[string]string{KeyBackupURL: "https://fsn1.your-objectstorage.com/b/"}),
			[]string{`nano:backupAccessKeyId: required with nano:backupBucketUrl`, `nano:backupSecretAccessKey: required with nano:backupBucketUrl`}},
		{"backup bucket over http", hobby(map[string]string{KeyBackupURL: "http://fsn1.your-objectstorage.com/b/", KeyBackupKeyID: "i", KeyBackupSecretKey: "s"}),
			[]string{`nano:backupBucketUrl: "http://fsn1.your-objectstorage.com/b/" is not an https URL`}},
		{"backup bucket on team", map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1",
			KeyBackupURL: "https://fsn1.your-objectstorage.com/b/", KeyBackupKeyID: "i", KeyBackupSecretKey: "s"},
			[]string{`nano:backupBucketUrl: tier "team" backs ClickHouse up under its warm bucket`}},
		{"protectData not a boolean", hobby(map[string]string{KeyProtectData: "no thanks"}),
			[]string{`nano:protectData: "no thanks" is not true or false`}},
		{"postgres restore on hobby", hobby(map[string]string{KeyPGRecoverFrom: "nano-pg"}),
			[]string{`nano:postgresRecoverFrom: tier "hobby" has no CloudNativePG archive`}},
		{"postgres restore on growth without a bucket", map[string]string{KeyTier: "growth", KeyProvider: "hetzner", KeyRegion: "fsn1", KeyPGServerName: "nano-pg-2"},
			[]string{`nano:postgresServerName: tier "growth" has no CloudNativePG archive (Growth needs nano:backupBucketUrl`}},
		{"postgres restore into its own archive", map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1", KeyPGRecoverFrom: "nano-pg"},
			[]string{`nano:postgresServerName: must differ from nano:postgresRecoverFrom ("nano-pg")`}},
		{"postgres restore time alone", map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1", KeyPGRecoverTo: "2026-12-03T10:00:00Z"},
			[]string{`nano:postgresRecoverTo: set without nano:postgresRecoverFrom`}},
		{"postgres restore bad time and name", map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1", KeyPGRecoverFrom: "Nano_PG", KeyPGServerName: "nano-pg-2", KeyPGRecoverTo: "yesterday"},
			[]string{`nano:postgresRecoverFrom: "Nano_PG" is not a server name`, `nano:postgresRecoverTo: "yesterday" is not an RFC 3339 time`}},
		{"compose tier with 2 replicas", hobby(map[string]string{KeyAppReplicas: "2"}),
			[]string{`nano:appReplicas: tier "hobby" runs one of everything on one host; only 1 is allowed, got 2`}},
		{"bad hetzner location", map[string]string{KeyTier: "hobby", KeyProvider: "hetzner", KeyRegion: "fra1"},
			[]string{`nano:region: "fra1" is not a Hetzner location; allowed: ash, fsn1, hel1, hil, nbg1, sin`}},
		{"bad aws region", map[string]string{KeyTier: "team", KeyProvider: "aws", KeyRegion: "Frankfurt"},
			[]string{`nano:region: "Frankfurt" is not a aws region name`}},
		{"storage below tier", hobby(map[string]string{KeyHotStorageGB: "10"}),
			[]string{`nano:hotStorageGB: 10 GB is less than tier "hobby"'s 50 GB`}},
		{"not a number", hobby(map[string]string{KeyRetentionDays: "ninety"}),
			[]string{`nano:retentionDays: "ninety" is not a whole number`}},
		{"retention too long", hobby(map[string]string{KeyRetentionDays: "5000"}),
			[]string{`nano:retentionDays: 5000 is outside 1-3650`}},
		{"ssh open to the world", hobby(map[string]string{KeySSHAllowedCIDRs: `["0.0.0.0/0"]`}),
			[]string{`nano:sshAllowedCidrs: "0.0.0.0/0" opens SSH to the whole internet`}},
		{"ssh open to the world in halves", hobby(map[string]string{KeySSHAllowedCIDRs: `["0.0.0.0/1", "128.0.0.0/1"]`}),
			[]string{`nano:sshAllowedCidrs: "0.0.0.0/1", "128.0.0.0/1" opens SSH to the whole internet (all of IPv4)`}},
		{"ssh open to all of IPv6", hobby(map[string]string{KeySSHAllowedCIDRs: `["203.0.113.0/24", "::0/0"]`}),
			[]string{`opens SSH to the whole internet (all of IPv6)`}},
		{"ssh cidr host bits", hobby(map[string]string{KeySSHAllowedCIDRs: `["10.1.2.3/8"]`}),
			[]string{`nano:sshAllowedCidrs: "10.1.2.3/8" has host bits set; did you mean 10.0.0.0/8?`}},
		{"bad API cidr", hobby(map[string]string{KeyKubeAPICIDRs: `["10.0.0.0/33"]`}),
			[]string{`nano:kubeApiAllowedCidrs: "10.0.0.0/33" is not a CIDR`}},
		// Forms the clouds cannot express: EKS reads an empty
		// publicAccessCidrs as the world, Civo's 6443 rule would have no
		// sources, VKE has no allow-list at all.
		{"IPv6-only API cidrs on EKS", map[string]string{KeyTier: "team", KeyProvider: "aws", KeyRegion: "eu-central-1", KeyKubeAPICIDRs: `["2001:db8::/32"]`},
			[]string{`nano:kubeApiAllowedCidrs: aws's API allow-list takes IPv4 CIDRs only and "2001:db8::/32" has none: EKS treats an empty publicAccessCidrs as 0.0.0.0/0`}},
		{"IPv6-only API cidrs on Civo", map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1", KeyKubeAPICIDRs: `["2001:db8::/32"]`},
			[]string{`nano:kubeApiAllowedCidrs: civo's API allow-list takes IPv4 CIDRs only`, "would have no sources"}},
		{"IPv6-only API cidrs on GKE", map[string]string{KeyTier: "team", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyKubeAPICIDRs: `["::/0"]`},
			[]string{`nano:kubeApiAllowedCidrs: gcp's API allow-list takes IPv4 CIDRs only`}},
		{"API cidrs Vultr cannot enforce", map[string]string{KeyTier: "team", KeyProvider: "vultr", KeyRegion: "ams", KeyKubeAPICIDRs: `["203.0.113.0/24"]`},
			[]string{`nano:kubeApiAllowedCidrs: Vultr's VKE has no Kubernetes API allow-list nano can set`}},
		{"ssh open to the world but a /9", hobby(map[string]string{KeySSHAllowedCIDRs: `["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5", "248.0.0.0/6", "252.0.0.0/7", "254.0.0.0/8", "255.0.0.0/9"]`}),
			[]string{`opens SSH to the whole internet (all of IPv4)`}},
		{"ssh cidrs not a list", hobby(map[string]string{KeySSHAllowedCIDRs: `10.0.0.0/8`}),
			[]string{`nano:sshAllowedCidrs: must be a list of CIDRs`}},
		{"latest image", hobby(map[string]string{KeyAPIImage: "ghcr.io/nanosiem/api:latest"}),
			[]string{`nano:apiImage: "ghcr.io/nanosiem/api:latest" uses the latest tag`}},
		{"untagged image", hobby(map[string]string{KeyIngestImage: "ghcr.io/nanosiem/ingest"}),
			[]string{`nano:ingestImage: "ghcr.io/nanosiem/ingest" has no tag or digest`}},
		{"bad ssh key", hobby(map[string]string{KeySSHPublicKey: "hello"}),
			[]string{`nano:sshPublicKey: not an OpenSSH public key`}},
		{"bad domain", hobby(map[string]string{KeyDomain: "logs_example"}),
			[]string{`nano:domain: "logs_example" is not a DNS name`}},
		{"enterprise without volume", enterpriseGCP(map[string]string{KeyDailyVolumeGB: ""}),
			[]string{`nano:dailyVolumeGB: required for tier "enterprise": expected GB/day (bands: Up to 100 GB/day; 100 GB - 1 TB/day; 1-10 TB/day; 10-50+ TB/day)`}},
		{"machine type below the tier", map[string]string{KeyTier: "team", KeyProvider: "aws", KeyRegion: "us-east-1", KeyMachineType: "t3.nano"},
			[]string{`nano:machineType: t3.nano is 2 CPU / 0 GB; tier "team" needs at least 4 CPU / 8 GB`}},
		{"unknown machine type", map[string]string{KeyTier: "team", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyMachineType: "n1-ultramem-40"},
			[]string{`nano:machineType: "n1-ultramem-40" is not a gcp machine type nano knows`}},
		{"machine type on a pooled tier", map[string]string{KeyTier: "pro", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyMachineType: "e2-standard-8"},
			[]string{`nano:machineType: has no effect on tier "pro", whose pools are sized per role (or by daily volume); remove it`}},
		{"volume on a fixed tier", hobby(map[string]string{KeyDailyVolumeGB: "10"}),
			[]string{`nano:dailyVolumeGB: only the enterprise tier is sized by daily volume`}},
		{"warm bucket on a tier without warm storage", hobby(map[string]string{KeyWarmBucketURL: "https://s3.example.com/b/"}),
			[]string{`nano:warmBucketUrl: tier "hobby" has no warm tier; only team, business, pro keep data in a bucket`}},
		{"warm bucket over http without credentials", map[string]string{KeyTier: "team", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyWarmBucketURL: "http://minio:9000/b/"},
			[]string{`nano:warmBucketUrl: "http://minio:9000/b/" is not an https URL`,
				`nano:warmAccessKeyId: required with nano:warmBucketUrl; set it with: pulumi config set --secret nano:warmAccessKeyId <value>`,
				`nano:warmSecretAccessKey: required with nano:warmBucketUrl`}},
		{"warm bucket without a bucket", map[string]string{KeyTier: "pro", KeyProvider: "aws", KeyRegion: "eu-central-1",
			KeyWarmBucketURL: "https://s3.eu-central-1.amazonaws.com", KeyWarmAccessKeyID: "a", KeyWarmSecretKey: "b"},
			[]string{`nano:warmBucketUrl: "https://s3.eu-central-1.amazonaws.com" names no bucket; add it as the path, e.g. https://s3.eu-central-1.amazonaws.com/my-bucket/`}},
		{"warm credentials without a bucket", map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1", KeyWarmAccessKeyID: "a"},
			[]string{`nano:warmAccessKeyId: set without nano:warmBucketUrl`}},
		{"enterprise without ClickHouse Cloud", map[string]string{KeyTier: "enterprise", KeyProvider: "aws", KeyRegion: "eu-west-1", KeyDailyVolumeGB: "50"},
			[]string{`nano:clickhouseCloudEndpointService: required for tier "enterprise"`, `nano:clickhouseCloudHost: required for tier "enterprise"`,
				`nano:clickhouseCloudPassword: required for tier "enterprise"; set it with: pulumi config set --secret nano:clickhouseCloudPassword <password>`}},
		{"enterprise with a GCP attachment on aws", map[string]string{KeyTier: "enterprise", KeyProvider: "aws", KeyRegion: "eu-west-1", KeyDailyVolumeGB: "50",
			KeyCHCloudService: "projects/a-project/regions/eu/serviceAttachments/x", KeyCHCloudHost: "not a host", KeyCHCloudUser: "bad user", KeyCHCloudPassword: "p"},
			[]string{`nano:clickhouseCloudEndpointService: "projects/a-project/regions/eu/serviceAttachments/x" is not a aws endpoint service`,
				`nano:clickhouseCloudHost: "not a host" is not a DNS name`, `nano:clickhouseCloudUser: "bad user" is not a ClickHouse user name`}},
		{"ClickHouse Cloud on a self-hosted tier", hobby(map[string]string{KeyCHCloudHost: "a.b.clickhouse.cloud"}),
			[]string{`nano:clickhouseCloudHost: only tier "enterprise" uses ClickHouse Cloud; tier "hobby" runs its own ClickHouse`}},
		{"several problems at once", map[string]string{KeyTier: "hobby", KeyProvider: "aws", KeyDeployment: "Bad Name", KeyRetentionDays: "-1"},
			[]string{`nano:provider: tier "hobby" does not run on "aws"`, `nano:deployment: "Bad Name" must be`, `nano:retentionDays: -1 is negative`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("test", getter(c.cfg))
			if err == nil {
				t.Fatalf("accepted %v", c.cfg)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not say\n%s", err, w)
				}
			}
		})
	}
}
