package kubeobjects

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/kubevalidate"
)

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata/")

// specFor is the platform spec of a tier, as the cluster components build it.
func specFor(t *testing.T, name tier.Name) Spec {
	t.Helper()
	spec, ok := tier.Lookup(name)
	if !ok {
		t.Fatalf("no tier %s", name)
	}
	s := Spec{
		Deployment: string(name) + "-test", Tier: spec, Domain: "logs.example.com",
		Images: settings.Images{API: "ghcr.io/nanosiem/api:0.1.0", Search: "ghcr.io/nanosiem/search:0.1.0", Ingest: "ghcr.io/nanosiem/ingest:0.1.0", Web: "ghcr.io/nanosiem/web:0.1.0"},
	}
	if spec.Postgres.Operator && spec.Postgres.BackupRetentionDays > 0 {
		s.Backup = &Backup{DestinationPath: "s3://nano-warm/" + s.Deployment + "/postgres/", EndpointURL: "https://s3.eu-central-1.amazonaws.com"}
	}
	if name == tier.Team {
		// Team's manifests show single sign-on and the audit trail's
		// retention; the other tiers' the defaults.
		s.SignIn = testSignIn()
		s.Tier.Retention.AuditDays = 730
	}
	if spec.ClickHouse.Cloud {
		band, err := spec.BandFor(5000)
		if err != nil {
			t.Fatal(err)
		}
		s.IngestPool = &band.Ingest
		s.ClickHouse = &Endpoint{Host: "abc123.eu-central-1.aws.clickhouse.cloud", Port: 9440}
		s.Postgres = &Endpoint{Host: "nano.cluster-x.eu-central-1.rds.amazonaws.com", Port: 5432}
	}
	return s
}

var kubeTiers = []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise}

func objects(t *testing.T, s Spec) []Object {
	t.Helper()
	objs, err := Objects(s)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// Every object of every tier passes the upstream validators.
func TestObjectsPassUpstreamValidators(t *testing.T) {
	t.Parallel()
	v, err := kubevalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range kubeTiers {
		t.Run(string(name), func(t *testing.T) {
			pods := 0
			for _, o := range objects(t, specFor(t, name)) {
				r := v.Validate(o)
				if err := r.Err(); err != nil {
					t.Errorf("%s %s: %v", o.Kind(), o.Name(), err)
				}
				pods += r.PodTemplates
			}
			// api, search, web, ingest, prometheus, alertmanager (+ ClickHouse, Keeper).
			want := 6
			if !specFor(t, name).Tier.ClickHouse.Cloud {
				want += 2
			}
			if pods != want {
				t.Errorf("checked %d pod templates against Pod Security, want %d", pods, want)
			}
		})
	}
}

func find(t *testing.T, objs []Object, kind, name string) Object {
	t.Helper()
	for _, o := range objs {
		if o.Kind() == kind && o.Name() == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// get walks a path of map keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	if o, ok := v.(Object); ok {
		v = map[string]any(o)
	}
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not an object", p)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: not a list of %d", p, k+1)
			}
			v = l[k]
		}
	}
	return v
}

// The emitted objects carry the catalog's numbers.
func TestObjectsFollowTheCatalog(t *testing.T) {
	t.Parallel()
	for _, name := range kubeTiers {
		t.Run(string(name), func(t *testing.T) {
			s := specFor(t, name)
			objs := objects(t, s)
			for _, svc := range []string{"api", "search", "ingest"} {
				d := find(t, objs, "Deployment", svc)
				// Ingest on a volume-sized pool: an autoscaler owns the count,
				// and more pods than nodes must schedule (preferred spread).
				byBand := svc == "ingest" && s.IngestPool != nil
				if got := get(t, d, "spec", "replicas"); !byBand && fmt.Sprint(got) != fmt.Sprint(s.Tier.Replicas) {
					t.Errorf("%s replicas %v, catalog %d", svc, got, s.Tier.Replicas)
				}
				if byBand {
					hpa := find(t, objs, "HorizontalPodAutoscaler", "ingest")
					if got := fmt.Sprint(get(t, hpa, "spec", "minReplicas")); got != fmt.Sprint(s.IngestPool.Nodes) {
						t.Errorf("ingest autoscaler minimum %s, pool nodes %d", got, s.IngestPool.Nodes)
					}
				}
				// Never required anti-affinity (a pod more than nodes could not
				// schedule, a surge pod neither); HA tiers spread evenly.
				aff := get(t, d, "spec", "template", "spec", "affinity", "podAntiAffinity").(map[string]any)
				if _, required := aff["requiredDuringSchedulingIgnoredDuringExecution"]; required {
					t.Errorf("%s: required anti-affinity", svc)
				}
				spreads, _ := get(t, d, "spec", "template", "spec").(map[string]any)["topologySpreadConstraints"].([]any)
				if s.Tier.HA && (len(spreads) != 1 || fmt.Sprint(spreads[0]) != fmt.Sprint(map[string]any{
					"labelSelector": map[string]any{"matchLabels": map[string]any{labelApp: svc}}, "matchLabelKeys": []any{"pod-template-hash"},
					"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"})) {
					t.Errorf("%s: spread %v, want maxSkew 1 per node of one revision, DoNotSchedule", svc, spreads)
				}
				find(t, objs, "PodDisruptionBudget", svc)
				if get(t, d, "spec", "template", "spec", "automountServiceAccountToken") != false {
					t.Errorf("%s mounts a service account token", svc)
				}
				limit := resource.MustParse(get(t, d, "spec", "template", "spec", "containers", 0, "resources", "limits", "memory").(string))
				env := fmt.Sprint(get(t, d, "spec", "template", "spec", "containers", 0, "env"))
				if want := fmt.Sprintf("GOMEMLIMIT value:%d]", limit.Value()*9/10); !strings.Contains(env, want) {
					t.Errorf("%s: no %s for a %s limit: %s", svc, want, limit.String(), env)
				}
			}
			find(t, objs, "NetworkPolicy", "default-deny")
			if s.Tier.ClickHouse.Cloud {
				for _, o := range objs {
					if strings.HasPrefix(o.APIVersion(), "clickhouse") || strings.HasPrefix(o.APIVersion(), "postgresql.cnpg.io") {
						t.Errorf("enterprise runs %s %s in the cluster", o.Kind(), o.Name())
					}
				}
				return
			}
			chi := find(t, objs, "ClickHouseInstallation", chiName)
			layout := get(t, chi, "spec", "configuration", "clusters", 0, "layout")
			if fmt.Sprint(get(t, layout, "shardsCount"), "x", get(t, layout, "replicasCount")) !=
				fmt.Sprint(s.Tier.ClickHouse.Shards, "x", s.Tier.ClickHouse.Replicas) {
				t.Errorf("CHI layout %v, catalog %dx%d", layout, s.Tier.ClickHouse.Shards, s.Tier.ClickHouse.Replicas)
			}
			storage := get(t, chi, "spec", "templates", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage")
			if want := fmt.Sprintf("%dGi", s.Tier.HotStoragePerPodGB()); storage != want {
				t.Errorf("ClickHouse PVC %v, want %s", storage, want)
			}
			if name == tier.Pro && storage != "250Gi" {
				t.Errorf("Pro ClickHouse pods have %v, the seed says 250 GB", storage)
			}
			chk := find(t, objs, "ClickHouseKeeperInstallation", chkName)
			if got := get(t, chk, "spec", "configuration", "clusters", 0, "layout", "replicasCount"); fmt.Sprint(got) != fmt.Sprint(s.Tier.ClickHouse.KeeperNodes) {
				t.Errorf("Keeper replicas %v, catalog %d", got, s.Tier.ClickHouse.KeeperNodes)
			}
			files, hasFiles := get(t, chi, "spec", "configuration").(map[string]any)["files"]
			if hasFiles != s.Tier.ClickHouse.WarmS3 {
				t.Errorf("warm S3 storage configured %v on a tier with warm S3 %v", hasFiles, s.Tier.ClickHouse.WarmS3)
			}
			if hasFiles && !strings.Contains(fmt.Sprint(files), "<type>s3</type>") {
				t.Errorf("warm storage has no S3 disk: %v", files)
			}
			search := find(t, objs, "Service", SearchCHService)
			// Replica 0: the first of each shard, which search's reads prefer.
			if get(t, search, "spec", "selector", chiReplica) != "0" {
				t.Errorf("clickhouse-search does not target each shard's first replica: %v", get(t, search, "spec", "selector"))
			}
			pg := find(t, objs, "Cluster", cnpgName)
			if got := get(t, pg, "spec", "instances"); fmt.Sprint(got) != fmt.Sprint(s.Tier.Postgres.Instances) {
				t.Errorf("PostgreSQL instances %v, catalog %d", got, s.Tier.Postgres.Instances)
			}
			backup, hasBackup := get(t, pg, "spec").(map[string]any)["backup"]
			if want := s.Tier.Postgres.BackupRetentionDays > 0; hasBackup != want {
				t.Errorf("PostgreSQL backups %v on a tier with %d backup days", hasBackup, s.Tier.Postgres.BackupRetentionDays)
			}
			if hasBackup {
				if got, want := get(t, backup, "retentionPolicy"), fmt.Sprintf("%dd", s.Tier.Postgres.BackupRetentionDays); got != want {
					t.Errorf("backup retention %v, catalog %s", got, want)
				}
				if got := get(t, backup, "barmanObjectStore", "destinationPath"); got != s.Backup.DestinationPath {
					t.Errorf("backups go to %v, want %v", got, s.Backup.DestinationPath)
				}
				sb := find(t, objs, "ScheduledBackup", cnpgName+"-daily")
				if get(t, sb, "spec", "cluster", "name") != cnpgName || get(t, sb, "spec", "method") != "barmanObjectStore" {
					t.Errorf("scheduled backup %v", sb)
				}
			}
			ingest := find(t, objs, "Deployment", "ingest")
			env := fmt.Sprint(get(t, ingest, "spec", "template", "spec", "containers", 0, "env"))
			if !strings.Contains(env, fmt.Sprintf("NANO_RETENTION_DAYS value:%d", s.Tier.Retention.Days)) {
				t.Errorf("ingest does not get the tier's %d-day retention: %s", s.Tier.Retention.Days, env)
			}
		})
	}
}

// On Pro, workloads are pinned to their pools; only ClickHouse, Keeper and
// PostgreSQL (on-demand capacity, not the spot app pool) tolerate the
// ClickHouse pool's taint.
func TestProPinsWorkloadsToPools(t *testing.T) {
	t.Parallel()
	objs := objects(t, specFor(t, tier.Pro))
	for svc, pool := range map[string]string{"api": "app", "search": "app", "ingest": "ingest", "prometheus": "app"} {
		d := find(t, objs, "Deployment", svc)
		if got := get(t, d, "spec", "template", "spec", "nodeSelector", PoolLabel); got != pool {
			t.Errorf("%s on pool %v, want %s", svc, got, pool)
		}
		if tol := get(t, d, "spec", "template", "spec", "tolerations"); tol != nil {
			t.Errorf("%s tolerates %v", svc, tol)
		}
	}
	for _, kind := range []string{"ClickHouseInstallation", "ClickHouseKeeperInstallation"} {
		for _, o := range objs {
			if o.Kind() != kind {
				continue
			}
			spec := get(t, o, "spec", "templates", "podTemplates", 0, "spec")
			if get(t, spec, "nodeSelector", PoolLabel) != "clickhouse" || get(t, spec, "tolerations", 0, "value") != "clickhouse" {
				t.Errorf("%s is not pinned to the ClickHouse pool: %v", kind, spec)
			}
		}
	}
	// PostgreSQL runs on on-demand capacity, not the spot app pool.
	pg := find(t, objs, "Cluster", cnpgName)
	pool := get(t, pg, "spec", "affinity", "nodeSelector", PoolLabel)
	if p, ok := specFor(t, tier.Pro).Tier.Pool(tier.PoolRole(fmt.Sprint(pool))); !ok || p.Scheduling != tier.OnDemand {
		t.Errorf("pro's PostgreSQL is pinned to pool %v (%+v), want an on-demand pool", pool, p)
	} else if p.Role == tier.ClickHouse && get(t, pg, "spec", "affinity", "tolerations", 0, "value") != "clickhouse" {
		t.Errorf("pro's PostgreSQL on the ClickHouse pool does not tolerate its taint: %v", get(t, pg, "spec", "affinity"))
	}
	// Growth has one pool: nothing is pinned.
	for _, o := range objects(t, specFor(t, tier.Growth)) {
		if o.Kind() == "Deployment" && get(t, o, "spec", "template", "spec", "nodeSelector") != nil {
			t.Errorf("growth pins %s to a pool", o.Name())
		}
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	s := specFor(t, tier.Team)
	s.Images.API = ""
	s.ClickHouse = &Endpoint{Host: "x", Port: 9440}
	err := s.Validate()
	if err == nil {
		t.Fatal("accepted an invalid spec")
	}
	for _, want := range []string{"images are required", "ClickHouse Cloud endpoint is required on tier \"enterprise\" and only there"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not say %q", err, want)
		}
	}
	s = specFor(t, tier.Growth)
	s.Backup = &Backup{DestinationPath: "s3://b/p/", EndpointURL: "https://s3.example.com"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "backup store is required on tiers with in-cluster PostgreSQL backups and only there") {
		t.Errorf("growth with a backup store: %v", err)
	}
	s = specFor(t, tier.Pro)
	s.Backup = nil
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "backup store is required") {
		t.Errorf("pro without a backup store: %v", err)
	}
	s.Backup = &Backup{DestinationPath: "s3://b/p/"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "needs a destination path and an endpoint URL") {
		t.Errorf("pro without a backup endpoint: %v", err)
	}
	hobby, _ := tier.Lookup(tier.Hobby)
	s = specFor(t, tier.Growth)
	s.Tier = hobby
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "does not run on Kubernetes") {
		t.Errorf("hobby accepted: %v", err)
	}
}

// Golden manifests: one multi-document YAML per tier.
func TestGoldenManifests(t *testing.T) {
	t.Parallel()
	for _, name := range kubeTiers {
		var b bytes.Buffer
		objs := objects(t, specFor(t, name))
		for _, o := range objs {
			y, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			b.Write(y)
		}
		path := filepath.Join("testdata", string(name)+".yaml")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./components/kubeobjects -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from the builders' output; review and run go test ./components/kubeobjects -update", path)
		}
		counts := map[string]int{}
		for _, o := range objs {
			counts[o.Kind()]++
		}
		var kinds []string
		for k, n := range counts {
			kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(kinds)
		t.Logf("%s: %d objects: %s", name, len(objs), strings.Join(kinds, " "))
	}
}

// The ingest service's default ports are the seed's: the platform leaves
// them unset.
func TestIngestDefaultPortsAreTheSeeds(t *testing.T) {
	t.Parallel()
	for addr, port := range map[string]int{
		contract.DefaultIngestAddr: contract.Ports.IngestHTTP, contract.DefaultHECAddr: contract.Ports.IngestHEC,
		contract.DefaultMetricsAddr: contract.Ports.IngestMetrics,
	} {
		if addr != ":"+strconv.Itoa(port) {
			t.Errorf("ingest default %s, seed port %d", addr, port)
		}
	}
}
