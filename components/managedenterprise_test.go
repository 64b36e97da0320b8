package components_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/nanosiem/nano/components"
	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
)

// Enterprise on AWS: pools from the volume band, RDS private, encrypted,
// Multi-AZ, backed up and protected, ClickHouse Cloud over an interface
// endpoint with private DNS, and the workloads pointed at both.
func TestManagedEnterpriseOnAWS(t *testing.T) {
	t.Parallel()
	r := &planResult{planStack(t, "enterprise-aws", map[string]string{"nano:dailyVolumeGB": "2000"})}
	r.one(t, "nano:index:ManagedEnterprise")
	checkOnCluster(t, r.Result, "enterprise-aws-eks")
	// 1-10 TB/day: app 3 x 8/32, ingest 6 x 16/64.
	for role, want := range map[string][2]string{"app": {"m6i.2xlarge", "3"}, "ingest": {"m6i.4xlarge", "6"}} {
		ng := byName(t, r.Result, "aws:eks/nodeGroup:NodeGroup", "-"+role)
		if got := [2]string{text(prop(ng, "instanceTypes", 0)), text(prop(ng, "scalingConfig", "desiredSize"))}; got != want {
			t.Errorf("%s pool %v, want %v", role, got, want)
		}
	}
	if n := len(r.ByType("aws:eks/nodeGroup:NodeGroup")); n != 2 {
		t.Errorf("%d node groups, want app and ingest", n)
	}
	db := r.one(t, "aws:rds/instance:Instance")
	for key, want := range map[string]string{
		"publiclyAccessible": "false", "storageEncrypted": "true", "multiAz": "true", "deletionProtection": "true",
		"backupRetentionPeriod": "14", "skipFinalSnapshot": "false", "engine": "postgres", "instanceClass": "db.m6i.large",
	} {
		if got := text(prop(db, key)); got != want {
			t.Errorf("rds %s = %q, want %q", key, got, want)
		}
	}
	if !db.Inputs["password"].IsSecret() {
		t.Error("the RDS password is not a secret")
	}
	ep := r.one(t, "aws:ec2/vpcEndpoint:VpcEndpoint")
	if text(prop(ep, "serviceName")) != "com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0" ||
		text(prop(ep, "vpcEndpointType")) != "Interface" || text(prop(ep, "privateDnsEnabled")) != "true" {
		t.Errorf("clickhouse endpoint %v", ep.Inputs.Mappable())
	}
	checkEnterpriseWorkloads(t, r, "example.eu-central-1.vpce.aws.clickhouse.cloud:9440", "planned.rds.amazonaws.com:5432")
	// EKS serves no resource metrics: ingest's autoscaler needs metrics-server.
	if rel := r.ByType("kubernetes:helm.sh/v3:Release"); len(rel) != 1 || text(prop(rel[0], "chart")) != "metrics-server" {
		t.Errorf("EKS releases %v, want metrics-server alone", rel)
	}
	if n := len(r.ByType("kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation")) + len(r.ByType("kubernetes:postgresql.cnpg.io/v1:Cluster")); n != 0 {
		t.Errorf("enterprise runs %d in-cluster databases", n)
	}
}

// Enterprise on GCP: Cloud SQL on private IP only, regional, backed up,
// protected; ClickHouse Cloud through Private Service Connect and a private
// DNS zone that resolves the service's hostname inside the VPC.
func TestManagedEnterpriseOnGCP(t *testing.T) {
	t.Parallel()
	r := &planResult{planStack(t, "enterprise-gcp", nil)}
	checkOnCluster(t, r.Result, "enterprise-gcp-gke")
	if rel := r.ByType("kubernetes:helm.sh/v3:Release"); len(rel) != 0 {
		t.Errorf("GKE serves resource metrics itself; releases %v", rel)
	}
	for role, want := range map[string][2]string{"app": {"e2-standard-4", "3"}, "ingest": {"e2-standard-4", "3"}} {
		np := byName(t, r.Result, "gcp:container/nodePool:NodePool", "-"+role)
		if got := [2]string{text(prop(np, "nodeConfig", "machineType")), text(prop(np, "autoscaling", "totalMinNodeCount"))}; got != want {
			t.Errorf("%s pool %v, want %v", role, got, want)
		}
		if text(prop(np, "nodeConfig", "labels", kubeobjects.PoolLabel)) != role {
			t.Errorf("%s pool nodes are not labeled", role)
		}
	}
	db := r.one(t, "gcp:sql/databaseInstance:DatabaseInstance")
	for path, want := range map[string]string{
		"settings.ipConfiguration.ipv4Enabled": "false", "settings.ipConfiguration.sslMode": "ENCRYPTED_ONLY",
		"settings.availabilityType": "REGIONAL", "settings.backupConfiguration.enabled": "true",
		"settings.backupConfiguration.pointInTimeRecoveryEnabled": "true", "settings.deletionProtectionEnabled": "true",
		"deletionProtection": "true", "settings.tier": "db-custom-2-8192",
	} {
		var steps []any
		for _, s := range strings.Split(path, ".") {
			steps = append(steps, s)
		}
		if got := text(prop(db, steps...)); got != want {
			t.Errorf("cloud sql %s = %q, want %q", path, got, want)
		}
	}
	rule := r.one(t, "gcp:compute/forwardingRule:ForwardingRule")
	if !strings.HasPrefix(text(prop(rule, "target")), "projects/clickhouse-cloud-example/regions/europe-west3/serviceAttachments/") ||
		text(prop(rule, "loadBalancingScheme")) != "" {
		t.Errorf("psc forwarding rule %v", rule.Inputs.Mappable())
	}
	zone := r.one(t, "gcp:dns/managedZone:ManagedZone")
	if text(prop(zone, "visibility")) != "private" || text(prop(zone, "dnsName")) != "europe-west3.p.gcp.clickhouse.cloud." {
		t.Errorf("dns zone %v", zone.Inputs.Mappable())
	}
	rec := r.one(t, "gcp:dns/recordSet:RecordSet")
	if text(prop(rec, "name")) != "example.europe-west3.p.gcp.clickhouse.cloud." || text(prop(rec, "rrdatas", 0)) != "10.10.0.50" {
		t.Errorf("dns record %v", rec.Inputs.Mappable())
	}
	checkEnterpriseWorkloads(t, r, "example.europe-west3.p.gcp.clickhouse.cloud:9440", "10.64.0.3:5432")
}

// checkEnterpriseWorkloads asserts 4 replicas of api and search, the
// ClickHouse Cloud address in the workloads and the managed database URI
// and ClickHouse Cloud credentials in secrets.
func checkEnterpriseWorkloads(t *testing.T, r *planResult, chAddr, pgHostPort string) {
	t.Helper()
	for _, d := range r.ByType("kubernetes:apps/v1:Deployment") {
		name := text(prop(d, "metadata", "name"))
		// Ingest's count is its autoscaler's (TestManagedEnterprisePoolsFollowTheVolumeBands).
		if (name == "api" || name == "search") && text(prop(d, "spec", "replicas")) != "4" {
			t.Errorf("%s has %s replicas, want 4", name, text(prop(d, "spec", "replicas")))
		}
		if name == "search" && !strings.Contains(text(prop(d, "spec", "template", "spec", "containers", 0, "env")), chAddr) {
			t.Errorf("search does not reach ClickHouse Cloud at %s", chAddr)
		}
	}
	var sawPG, sawCH bool
	for _, s := range r.ByType("kubernetes:core/v1:Secret") {
		data := prop(s, "stringData")
		switch text(prop(s, "metadata", "name")) {
		case kubeobjects.SecretPostgresManaged:
			sawPG = strings.Contains(text(data.ObjectValue()["uri"]), "@"+pgHostPort+"/nano?sslmode=require")
		case kubeobjects.SecretClickHouse:
			sawCH = text(data.ObjectValue()["username"]) == "default" && text(data.ObjectValue()["password"]) == "planned-offline"
		}
		if !s.Inputs["stringData"].IsSecret() {
			t.Errorf("secret %s is not a Pulumi secret", s.Name)
		}
	}
	if !sawPG || !sawCH {
		t.Errorf("managed PostgreSQL URI in a secret: %v; ClickHouse Cloud credentials in a secret: %v", sawPG, sawCH)
	}
}

// Each row of the seed's Enterprise volume table picks its pool sizes, and
// ingest follows its pool: one 2-CPU pod per node at least, autoscaled on
// CPU up to what the nodes hold (twice that on the "12+" pool).
func TestManagedEnterprisePoolsFollowTheVolumeBands(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		gbPerDay                     string
		appType, appN, ingType, ingN string
		hpaMin, hpaMax               string
	}{
		{"100", "e2-standard-4", "3", "e2-standard-4", "3", "3", "3"},
		{"500", "e2-standard-4", "3", "e2-standard-8", "4", "4", "12"},
		{"5000", "e2-standard-8", "3", "e2-standard-16", "6", "6", "42"},
		{"30000", "e2-standard-8", "6", "e2-standard-16", "12", "12", "168"},
	} {
		t.Run(c.gbPerDay, func(t *testing.T) {
			r := &planResult{planStack(t, "enterprise-gcp", map[string]string{"nano:dailyVolumeGB": c.gbPerDay})}
			app := byName(t, r.Result, "gcp:container/nodePool:NodePool", "-app")
			ing := byName(t, r.Result, "gcp:container/nodePool:NodePool", "-ingest")
			got := [4]string{text(prop(app, "nodeConfig", "machineType")), text(prop(app, "autoscaling", "totalMaxNodeCount")),
				text(prop(ing, "nodeConfig", "machineType")), text(prop(ing, "autoscaling", "totalMaxNodeCount"))}
			if want := [4]string{c.appType, c.appN, c.ingType, c.ingN}; got != want {
				t.Errorf("pools %v, want %v", got, want)
			}
			hpa := r.one(t, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
			if got := [2]string{text(prop(hpa, "spec", "minReplicas")), text(prop(hpa, "spec", "maxReplicas"))}; got != [2]string{c.hpaMin, c.hpaMax} {
				t.Errorf("ingest autoscaler %v, want %s..%s", got, c.hpaMin, c.hpaMax)
			}
		})
	}
}

// The private endpoint's identifier, which the ClickHouse Cloud service must
// admit before traffic flows, is a component output on both clouds: the VPC
// endpoint's ID on AWS, the PSC connection ID on GCP.
func TestManagedEnterpriseOutputsThePrivateEndpointToApprove(t *testing.T) {
	t.Parallel()
	for stack, want := range map[string]func(string) bool{
		"enterprise-aws": func(v string) bool { return v != "" && strings.Trim(v, "0123456789") == "" },
		"enterprise-gcp": func(v string) bool { return v == "12345678901234567" },
	} {
		s := planStack(t, stack, nil).Settings
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			e, err := components.NewManagedEnterprise(ctx, s.Deployment, &components.ManagedEnterpriseArgs{Settings: s})
			if err != nil {
				return err
			}
			r, err := internals.UnsafeAwaitOutput(context.Background(), e.ClickHousePrivateEndpointID)
			if err != nil {
				return err
			}
			if v, _ := r.Value.(string); !want(v) {
				t.Errorf("%s: clickhousePrivateEndpointId = %v", stack, r.Value)
			}
			return nil
		}, pulumi.WithMocks("nano", stack, &mockmonitor.Recorder{}))
		if err != nil {
			t.Fatal(err)
		}
	}
}
