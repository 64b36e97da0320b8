package components_test

import (
	"strings"
	"testing"
)

// Team and Business build on each of their clouds: three 4 CPU / 8 GB
// nodes, a warm bucket created in the same cloud, the platform on the
// cluster's provider.
func TestHAClusterOnEveryCloud(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stack, provider string
		check           func(t *testing.T, r *planResult)
	}{
		{"team-civo", "team-civo-civo", func(t *testing.T, r *planResult) {
			k := r.one(t, "civo:index/kubernetesCluster:KubernetesCluster")
			if text(prop(k, "pools", "size")) != "g4s.kube.large" || text(prop(k, "pools", "nodeCount")) != "3" || text(prop(k, "cni")) != "cilium" {
				t.Errorf("civo cluster pools %v cni %v", prop(k, "pools").Mappable(), text(prop(k, "cni")))
			}
			fw := r.one(t, "civo:index/firewall:Firewall")
			var ports []string
			for _, rule := range prop(fw, "ingressRules").ArrayValue() {
				ports = append(ports, text(rule.ObjectValue()["portRange"]))
			}
			if strings.Join(ports, ",") != "80,443,8080,8088,6000,4317,6514,6443" || text(prop(fw, "createDefaultRules")) != "false" {
				t.Errorf("civo firewall opens %v", ports)
			}
			r.one(t, "civo:index/objectStore:ObjectStore")
			if ep := warmSecret(t, r.Result)["endpoint"]; !strings.HasPrefix(ep, "https://objectstore.lon1.civo.com/") || !strings.HasSuffix(ep, "/team-civo/") {
				t.Errorf("warm endpoint %q", ep)
			}
		}},
		{"team-vultr", "team-vultr-vke", func(t *testing.T, r *planResult) {
			k := r.one(t, "vultr:index/kubernetes:Kubernetes")
			if text(prop(k, "nodePools", "plan")) != "vc2-4c-8gb" || text(prop(k, "nodePools", "nodeQuantity")) != "3" ||
				text(prop(k, "haControlplanes")) != "true" || text(prop(k, "enableFirewall")) != "true" {
				t.Errorf("vke cluster %v", k.Inputs.Mappable())
			}
			r.one(t, "vultr:index/objectStorage:ObjectStorage")
			if ep := warmSecret(t, r.Result)["endpoint"]; ep != "https://planned.vultrobjects.com/team-vultr-warm/team-vultr/" {
				t.Errorf("warm endpoint %q", ep)
			}
		}},
		{"business-gcp", "business-gcp-gke", func(t *testing.T, r *planResult) {
			gke := r.one(t, "gcp:container/cluster:Cluster")
			if text(prop(gke, "privateClusterConfig", "enablePrivateNodes")) != "true" || text(prop(gke, "datapathProvider")) != "ADVANCED_DATAPATH" {
				t.Errorf("gke cluster is not private with Dataplane V2: %v", gke.Inputs.Mappable())
			}
			if text(prop(gke, "location")) != "europe-west3" {
				t.Errorf("gke cluster is not regional: %s", text(prop(gke, "location")))
			}
			pool := r.one(t, "gcp:container/nodePool:NodePool")
			if text(prop(pool, "nodeConfig", "machineType")) != "e2-custom-4-8192" || text(prop(pool, "autoscaling", "totalMinNodeCount")) != "3" ||
				text(prop(pool, "autoscaling", "totalMaxNodeCount")) != "3" {
				t.Errorf("gke pool %v", pool.Inputs.Mappable())
			}
			for _, b := range r.ByType("gcp:storage/bucket:Bucket") {
				if text(prop(b, "publicAccessPrevention")) != "enforced" || text(prop(b, "uniformBucketLevelAccess")) != "true" {
					t.Errorf("gcs bucket %s is not private: %v", b.Name, b.Inputs.Mappable())
				}
			}
			checkGKEIdentity(t, r)
			checkGCSBackupBucket(t, r)
		}},
		{"team-aws", "team-aws-eks", func(t *testing.T, r *planResult) {
			ng := r.one(t, "aws:eks/nodeGroup:NodeGroup")
			if text(prop(ng, "instanceTypes", 0)) != "c6i.xlarge" || text(prop(ng, "scalingConfig", "desiredSize")) != "3" || text(prop(ng, "capacityType")) != "ON_DEMAND" {
				t.Errorf("eks node group %v", ng.Inputs.Mappable())
			}
			for i, id := range prop(ng, "subnetIds").ArrayValue() {
				if id.IsString() && strings.Contains(id.StringValue(), "public") {
					t.Errorf("node subnet %d is public", i)
				}
			}
			if n := len(r.ByType("aws:ec2/subnet:Subnet")); n != 6 {
				t.Errorf("%d subnets, want 3 public + 3 private", n)
			}
			eks := r.one(t, "aws:eks/cluster:Cluster")
			if text(prop(eks, "vpcConfig", "endpointPrivateAccess")) != "true" || text(prop(eks, "encryptionConfig", "resources", 0)) != "secrets" {
				t.Errorf("eks cluster %v", eks.Inputs.Mappable())
			}
			for _, suffix := range []string{"-warm", "-backups"} {
				if text(prop(byName(t, r.Result, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", suffix), "restrictPublicBuckets")) != "true" {
					t.Errorf("the %s bucket's public access is not blocked", suffix)
				}
				byName(t, r.Result, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", suffix)
			}
			if ep := warmSecret(t, r.Result)["region"]; ep != "eu-central-1" {
				t.Errorf("warm region %q", ep)
			}
			checkEKSIdentity(t, r)
			checkS3BackupBucket(t, r)
		}},
	}
	for _, c := range cases {
		t.Run(c.stack, func(t *testing.T) {
			r := &planResult{planStack(t, c.stack, nil)}
			r.one(t, "nano:index:HACluster")
			r.one(t, "nano:index:Platform")
			checkOnCluster(t, r.Result, c.provider)
			c.check(t, r)
		})
	}
}

// A configured bucket (Wasabi here) replaces the one nano would create.
func TestHAClusterUsesAConfiguredWarmBucket(t *testing.T) {
	t.Parallel()
	r := &planResult{planStack(t, "team-aws", map[string]string{
		"nano:warmBucketUrl": "https://s3.eu-central-2.wasabisys.com/acme-logs", "nano:warmBucketRegion": "eu-central-2",
		"nano:warmAccessKeyId": "AKIAEXAMPLE", "nano:warmSecretAccessKey": "s3cr3t",
	})}
	if n := len(r.ByType("aws:s3/bucketV2:BucketV2")) + len(r.ByType("aws:iam/accessKey:AccessKey")); n != 0 {
		t.Errorf("nano created %d bucket resources next to a configured bucket", n)
	}
	w := warmSecret(t, r.Result)
	if w["endpoint"] != "https://s3.eu-central-2.wasabisys.com/acme-logs/team-aws/" || w["region"] != "eu-central-2" ||
		w["access-key-id"] != "AKIAEXAMPLE" || w["secret-access-key"] != "s3cr3t" || w["backup-region"] != "eu-central-2" {
		t.Errorf("warm Secret %v", w)
	}
	// PostgreSQL's backups go to the same bucket, under the deployment's
	// postgres/ prefix, through the same S3 API.
	store := prop(r.one(t, "kubernetes:postgresql.cnpg.io/v1:Cluster"), "spec", "backup", "barmanObjectStore")
	if d, e := text(store.ObjectValue()["destinationPath"]), text(store.ObjectValue()["endpointURL"]); d != "s3://acme-logs/team-aws/postgres/" || e != "https://s3.eu-central-2.wasabisys.com" {
		t.Errorf("backups go to %q through %q", d, e)
	}
	if n := len(r.ByType("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup")); n != 1 {
		t.Errorf("%d scheduled backups, want 1", n)
	}
}
