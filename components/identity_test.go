package components_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/nanosiem/nano/components/s3policy"
)

// checkGKEIdentity: GKE nodes run as a service account of their own with
// GKE's minimal node role and narrow scopes (never the default Compute
// account or cloud-platform), and the cluster has Workload Identity.
func checkGKEIdentity(t *testing.T, r *planResult) {
	t.Helper()
	sa := byName(t, r.Result, "gcp:serviceaccount/account:Account", "-nodes")
	if id := text(prop(sa, "accountId")); !strings.HasSuffix(id, "-nodes") {
		t.Errorf("node service account id %q", id)
	}
	role := byName(t, r.Result, "gcp:projects/iAMMember:IAMMember", "-nodes")
	if text(prop(role, "role")) != "roles/container.defaultNodeServiceAccount" || !strings.HasPrefix(text(prop(role, "member")), "serviceAccount:") {
		t.Errorf("node service account's role %v", role.Inputs.Mappable())
	}
	gke := r.one(t, "gcp:container/cluster:Cluster")
	if pool := text(prop(gke, "workloadIdentityConfig", "workloadPool")); pool != "planned-project.svc.id.goog" {
		t.Errorf("Workload Identity pool %q", pool)
	}
	type node struct {
		sa     string
		scopes resource.PropertyValue
	}
	configs := map[string]node{"the cluster's default pool": {text(prop(gke, "nodeConfig", "serviceAccount")), prop(gke, "nodeConfig", "oauthScopes")}}
	for _, p := range r.ByType("gcp:container/nodePool:NodePool") {
		configs[p.Name] = node{text(prop(p, "nodeConfig", "serviceAccount")), prop(p, "nodeConfig", "oauthScopes")}
		if text(prop(p, "nodeConfig", "workloadMetadataConfig", "mode")) != "GKE_METADATA" {
			t.Errorf("%s: pods reach the node's metadata", p.Name)
		}
	}
	for who, c := range configs {
		if c.sa != "planned@planned-project.iam.gserviceaccount.com" {
			t.Errorf("%s runs as %q, not the nodes' service account", who, c.sa)
		}
		if scopes := text(c.scopes); strings.Contains(scopes, "cloud-platform") || !strings.Contains(scopes, "logging.write") {
			t.Errorf("%s scopes %s", who, scopes)
		}
	}
}

// checkEKSIdentity: EKS nodes start from a launch template that requires
// IMDSv2 with a hop limit of 1; their role has no volume rights, which
// the EBS CSI add-on's service account gets through Pod Identity.
func checkEKSIdentity(t *testing.T, r *planResult) {
	t.Helper()
	lt := r.one(t, "aws:ec2/launchTemplate:LaunchTemplate")
	if text(prop(lt, "metadataOptions", "httpTokens")) != "required" || text(prop(lt, "metadataOptions", "httpPutResponseHopLimit")) != "1" ||
		text(prop(lt, "blockDeviceMappings", 0, "ebs", "encrypted")) != "true" {
		t.Errorf("launch template %v", lt.Inputs.Mappable())
	}
	for _, ng := range r.ByType("aws:eks/nodeGroup:NodeGroup") {
		if prop(ng, "launchTemplate", "id").IsNull() || !prop(ng, "diskSize").IsNull() {
			t.Errorf("node group %s does not use the launch template: %v", ng.Name, ng.Inputs.Mappable())
		}
	}
	policies := map[string][]string{}
	for _, a := range r.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		role := strings.TrimSuffix(a.Name[:strings.LastIndex(a.Name, "-")], "")
		policies[role] = append(policies[role], text(prop(a, "policyArn")))
	}
	const ebs = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
	for role, ps := range policies {
		if strings.HasSuffix(role, "-node") && slices.Contains(ps, ebs) {
			t.Errorf("the node role %s carries the EBS CSI policy: %v", role, ps)
		}
		if strings.HasSuffix(role, "-ebs-csi") && !slices.Equal(ps, []string{ebs}) {
			t.Errorf("the EBS CSI role %s: %v", role, ps)
		}
	}
	for _, role := range r.ByType("aws:iam/role:Role") {
		if strings.HasSuffix(role.Name, "-ebs-csi") {
			if p := text(prop(role, "assumeRolePolicy")); !strings.Contains(p, `"pods.eks.amazonaws.com"`) || !strings.Contains(p, "sts:TagSession") {
				t.Errorf("the EBS CSI role is not trusted by Pod Identity: %s", p)
			}
		}
	}
	byName(t, r.Result, "aws:eks/addon:Addon", "-pod-identity")
	addon := byName(t, r.Result, "aws:eks/addon:Addon", "-ebs-csi")
	if text(prop(addon, "podIdentityAssociations", 0, "serviceAccount")) != "ebs-csi-controller-sa" || prop(addon, "podIdentityAssociations", 0, "roleArn").IsNull() {
		t.Errorf("the EBS CSI add-on's identity %v", prop(addon, "podIdentityAssociations").Mappable())
	}
}

// checkS3BackupBucket: on AWS backups go to a bucket of their own,
// versioned, expiring backups itself, written with a key whose policy is
// the backup writer's (no delete, no change to the bucket's protection);
// the api and CloudNativePG use that key, ClickHouse's server the warm one.
func checkS3BackupBucket(t *testing.T, r *planResult) {
	t.Helper()
	b := byName(t, r.Result, "aws:s3/bucketV2:BucketV2", "-backups")
	if text(prop(b, "tags", "nano-bucket")) != "backups" || text(prop(b, "objectLockEnabled")) != "true" {
		t.Errorf("backup bucket %v", b.Inputs.Mappable())
	}
	if v := byName(t, r.Result, "aws:s3/bucketVersioningV2:BucketVersioningV2", "-backups"); text(prop(v, "versioningConfiguration", "status")) != "Enabled" {
		t.Error("the backup bucket is not versioned")
	}
	lc := byName(t, r.Result, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "-backups")
	if text(prop(lc, "rules", 0, "expiration", "days")) != "29" || text(prop(lc, "rules", 0, "noncurrentVersionExpiration", "noncurrentDays")) != "29" {
		t.Errorf("backup lifecycle %v", prop(lc, "rules").Mappable())
	}
	policy := byName(t, r.Result, "aws:iam/userPolicy:UserPolicy", "-backup-writer")
	var doc s3policy.Document
	if err := json.Unmarshal([]byte(text(prop(policy, "policy"))), &doc); err != nil {
		t.Fatal(err)
	}
	want, _ := s3policy.BackupWriter("arn:aws:s3:::" + b.Name)
	if got, _ := doc.JSON(); got != mustJSON(t, want) {
		t.Errorf("the backup writer's policy:\n%s\nwant:\n%s", got, mustJSON(t, want))
	}
	for _, st := range doc.Statement {
		if st.Effect == "Allow" && slices.Contains(st.Action, "s3:DeleteObject") && !slices.Equal(st.Resource, []string{"arn:aws:s3:::" + b.Name + "/*/.lock"}) {
			t.Errorf("the writer may delete %v", st.Resource)
		}
	}
	checkBackupKeys(t, r, "s3://"+b.Name+"/team-aws/postgres/")
}

// checkGCSBackupBucket: on GCP backups go to a bucket of their own,
// versioned with soft delete and lifecycle rules, written by a service
// account with objectUser on it only.
func checkGCSBackupBucket(t *testing.T, r *planResult) {
	t.Helper()
	b := byName(t, r.Result, "gcp:storage/bucket:Bucket", "-backups")
	if text(prop(b, "labels", "nano-bucket")) != "backups" || text(prop(b, "versioning", "enabled")) != "true" ||
		prop(b, "softDeletePolicy", "retentionDurationSeconds").NumberValue() != 28*86400 || len(prop(b, "lifecycleRules").ArrayValue()) != 2 {
		t.Errorf("backup bucket %v", b.Inputs.Mappable())
	}
	if m := byName(t, r.Result, "gcp:storage/bucketIAMMember:BucketIAMMember", "-backup-writer"); text(prop(m, "role")) != "roles/storage.objectUser" {
		t.Errorf("the backup writer's role %v", m.Inputs.Mappable())
	}
	checkBackupKeys(t, r, "")
}

// checkBackupKeys: the platform's bucket Secret gives backups the writer's
// keys, not the warm ones, and CloudNativePG (keeping no retention policy:
// the bucket expires backups) archives into the backup bucket.
func checkBackupKeys(t *testing.T, r *planResult, dest string) {
	t.Helper()
	w := warmSecret(t, r.Result)
	if w["backup-access-key-id"] == "" || w["backup-access-key-id"] == w["access-key-id"] || w["backup-secret-access-key"] == w["secret-access-key"] {
		t.Errorf("backups are written with the warm keys: %v", w)
	}
	if !strings.Contains(w["clickhouse-backups-url"], "-backups") {
		t.Errorf("ClickHouse's backups go to %q, not the backup bucket", w["clickhouse-backups-url"])
	}
	cluster := r.one(t, "kubernetes:postgresql.cnpg.io/v1:Cluster")
	backup := prop(cluster, "spec", "backup")
	if !prop(cluster, "spec", "backup", "retentionPolicy").IsNull() {
		t.Errorf("CloudNativePG keeps a retention policy its keys cannot apply: %v", backup.Mappable())
	}
	store := prop(cluster, "spec", "backup", "barmanObjectStore")
	if got := text(prop(cluster, "spec", "backup", "barmanObjectStore", "destinationPath")); (dest != "" && got != dest) || !strings.Contains(got, "-backups") {
		t.Errorf("PostgreSQL archives to %q", got)
	}
	if text(prop(cluster, "spec", "backup", "barmanObjectStore", "s3Credentials", "accessKeyId", "key")) != "backup-access-key-id" {
		t.Errorf("CloudNativePG's keys %v", store.Mappable())
	}
}

func mustJSON(t *testing.T, d s3policy.Document) string {
	t.Helper()
	s, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
