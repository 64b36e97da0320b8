package kubeobjects

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/kubevalidate"
)

// Where backups go on each Kubernetes tier: the api backs ClickHouse up
// through the bucket's Secret on every tier with a bucket (the warm tiers,
// Growth with a backup bucket), ClickHouse may reach it, and Growth with a
// bucket gets CloudNativePG's backups too; without one Growth has none,
// and Enterprise's clouds back up themselves.
func TestBackupsFollowTheBucket(t *testing.T) {
	t.Parallel()
	growth := specFor(t, tier.Growth)
	growth.BackupBucket = true
	growth.Backup = &Backup{DestinationPath: "s3://nano-backups/growth-test/postgres/", EndpointURL: "https://fsn1.your-objectstorage.com"}
	cases := map[string]struct {
		spec           Spec
		api, chEgress  bool
		postgresBackup bool
	}{
		"growth":             {specFor(t, tier.Growth), false, false, false},
		"growth with bucket": {growth, true, true, true},
		"team":               {specFor(t, tier.Team), true, true, true},
		"pro":                {specFor(t, tier.Pro), true, true, true},
		"enterprise":         {specFor(t, tier.Enterprise), false, false, false},
	}
	for name, c := range cases {
		objs := objects(t, c.spec)
		api := fmt.Sprint(get(t, find(t, objs, "Deployment", "api"), "spec", "template", "spec"))
		if got := strings.Contains(api, contract.BackupURLFile+" value:/etc/nano/secrets/warm/"+WarmKeyClickHouseBackups) && strings.Contains(api, "secretName:"+SecretWarm); got != c.api {
			t.Errorf("%s: the api backs ClickHouse up: %v, want %v", name, got, c.api)
		}
		var scheduled bool
		for _, o := range objs {
			scheduled = scheduled || o.Kind() == "ScheduledBackup"
		}
		if scheduled != c.postgresBackup {
			t.Errorf("%s: PostgreSQL's ScheduledBackup: %v, want %v", name, scheduled, c.postgresBackup)
		}
		if c.postgresBackup {
			backup := fmt.Sprint(get(t, find(t, objs, "Cluster", cnpgName), "spec", "backup"))
			if !strings.Contains(backup, "retentionPolicy:14d") || !strings.Contains(backup, "name:"+SecretWarm) {
				t.Errorf("%s: the PostgreSQL backup section %s", name, backup)
			}
		}
		if c.spec.Tier.ClickHouse.Cloud {
			continue
		}
		egress := fmt.Sprint(get(t, find(t, objs, "NetworkPolicy", "clickhouse"), "spec", "egress"))
		if got := strings.Contains(egress, "port:443"); got != c.chEgress {
			t.Errorf("%s: ClickHouse reaches the bucket (443): %v, want %v", name, got, c.chEgress)
		}
	}
	team := specFor(t, tier.Team)
	team.BackupBucket = true
	if err := team.Validate(); err == nil || !strings.Contains(err.Error(), "takes no backup bucket") {
		t.Errorf("a backup bucket on team: %v", err)
	}
	bare := specFor(t, tier.Growth)
	bare.BackupBucket = true
	if err := bare.Validate(); err == nil || !strings.Contains(err.Error(), "PostgreSQL backup store is required") {
		t.Errorf("growth with a bucket but no backup store: %v", err)
	}
}

// A PostgreSQL restore on the clusters: with nano:postgresRecoverFrom the
// Cluster bootstraps by recovery from that server's archive in the same
// bucket (to the target time), archives under its own new name, and
// passes CloudNativePG's CRD schema; without it, it is initialised empty
// and archives under nano-pg. A restore where CloudNativePG has no archive
// is refused.
func TestPostgresRecoversFromTheArchive(t *testing.T) {
	t.Parallel()
	v, err := kubevalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	plain := specFor(t, tier.Team)
	restored := plain
	restored.PostgresArchive = settings.PostgresArchive{ServerName: "nano-pg-2", RecoverFrom: "nano-pg", RecoverTo: "2026-12-03T10:00:00Z"}
	for name, c := range map[string]struct {
		spec                         Spec
		bootstrap, server, externals string
	}{
		"plain":    {plain, "map[initdb:map[database:nano owner:nano]]", "nano-pg", "<nil>"},
		"restored": {restored, "map[recovery:map[database:nano owner:nano recoveryTarget:map[targetTime:2026-12-03T10:00:00Z] source:archive]]", "nano-pg-2", "nano-pg"},
	} {
		cluster := find(t, objects(t, c.spec), "Cluster", cnpgName)
		if err := v.Validate(cluster).Err(); err != nil {
			t.Errorf("%s: CloudNativePG's schema refuses the Cluster: %v", name, err)
		}
		if got := fmt.Sprint(get(t, cluster, "spec", "bootstrap")); got != c.bootstrap {
			t.Errorf("%s: bootstrap %s, want %s", name, got, c.bootstrap)
		}
		if got := fmt.Sprint(get(t, cluster, "spec", "backup", "barmanObjectStore", "serverName")); got != c.server {
			t.Errorf("%s: archives under %s, want %s", name, got, c.server)
		}
		ext := fmt.Sprint(get(t, cluster, "spec", "externalClusters"))
		if c.externals == "<nil>" {
			if ext != "<nil>" {
				t.Errorf("%s: external clusters %s", name, ext)
			}
			continue
		}
		src := get(t, cluster, "spec", "externalClusters", 0, "barmanObjectStore")
		if get(t, cluster, "spec", "externalClusters", 0, "name") != recoverySource || fmt.Sprint(get(t, src, "serverName")) != c.externals ||
			get(t, src, "destinationPath") != get(t, cluster, "spec", "backup", "barmanObjectStore", "destinationPath") {
			t.Errorf("%s: recovers from %s", name, ext)
		}
	}
	growth := specFor(t, tier.Growth)
	growth.PostgresArchive = restored.PostgresArchive
	if err := growth.Validate(); err == nil || !strings.Contains(err.Error(), "recovers from an archive only where CloudNativePG backs up") {
		t.Errorf("a restore on Growth without a bucket: %v", err)
	}
}
