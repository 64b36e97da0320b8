package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nanosiem/nano/stacks/model/labels"
)

// labelPaths say where each labelable resource type keeps its labels (or
// tags); other types with a "labels" or "tags" map are checked there too.
var labelPaths = map[string][]any{
	"gcp:container/cluster:Cluster":                  {"resourceLabels"},
	"gcp:container/nodePool:NodePool":                {"nodeConfig", "resourceLabels"},
	"gcp:sql/databaseInstance:DatabaseInstance":      {"settings", "userLabels"},
	"civo:index/kubernetesCluster:KubernetesCluster": {"tags"},
}

// labelable lists the types that must carry labels even when the program
// sets none (their provider supports them).
var labelable = []string{
	"hcloud:index/server:Server", "hcloud:index/network:Network", "hcloud:index/firewall:Firewall", "hcloud:index/primaryIp:PrimaryIp",
	"hcloud:index/sshKey:SshKey", "hcloud:index/volume:Volume",
	"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable",
	"aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway", "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/vpcEndpoint:VpcEndpoint",
	"aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon", "aws:iam/role:Role", "aws:iam/user:User",
	"aws:kms/key:Key", "aws:rds/instance:Instance", "aws:rds/subnetGroup:SubnetGroup", "aws:s3/bucketV2:BucketV2",
	"gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool", "gcp:sql/databaseInstance:DatabaseInstance",
	"gcp:storage/bucket:Bucket", "gcp:compute/address:Address", "gcp:compute/forwardingRule:ForwardingRule",
	"gcp:dns/managedZone:ManagedZone", "civo:index/kubernetesCluster:KubernetesCluster",
}

// labelPath is where r keeps its labels.
func labelPath(r Resource) ([]any, bool) {
	if kubernetes(r) {
		return []any{"metadata", "labels"}, true
	}
	if p, ok := labelPaths[r.Type]; ok {
		return p, true
	}
	if strings.HasPrefix(r.Type, "aws:") {
		if _, ok := r.Props["tags"]; ok || slices.Contains(labelable, r.Type) {
			return []any{"tags"}, true
		}
	}
	if _, ok := r.Props["labels"]; ok || slices.Contains(labelable, r.Type) {
		return []any{"labels"}, true
	}
	return nil, false
}

// dataTypes are the resource types whose deletion deletes a deployment's
// data: volumes, buckets, object stores, databases, and on Kubernetes the
// namespace and the ClickHouse, Keeper and PostgreSQL clusters.
var dataTypes = []string{
	"hcloud:index/volume:Volume", "gcp:storage/bucket:Bucket", "aws:s3/bucketV2:BucketV2", "civo:index/objectStore:ObjectStore",
	"vultr:index/objectStorage:ObjectStorage", "gcp:sql/databaseInstance:DatabaseInstance", "gcp:sql/database:Database",
	"aws:rds/instance:Instance", "kubernetes:core/v1:Namespace", "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation",
	"kubernetes:clickhouse-keeper.altinity.com/v1:ClickHouseKeeperInstallation", "kubernetes:postgresql.cnpg.io/v1:Cluster",
}

// HoldsData reports whether deleting a resource of type typ deletes a
// deployment's data.
func HoldsData(typ string) bool { return slices.Contains(dataTypes, typ) }

var hygieneRules = []*Rule{
	{
		// Advisory: the engine's analyzer requests do not carry the
		// protect option (a preview on the engine saw it false on every
		// protected resource), so it cannot be mandatory there; the
		// program's tests enforce it per stack (HoldsData).
		ID: "hygiene-data-protected", Level: Advisory,
		Description: "What holds the deployment's data (volumes, buckets, object stores, databases, the nano namespace, the ClickHouse, Keeper and PostgreSQL clusters) is protected unless nano:protectData is false.",
		Remediation: "Register the resource with pulumi.Protect(nano:protectData), as the components do.",
		Check: func(r Resource, env Env) []string {
			if env.Unprotected || r.Protect || !HoldsData(r.Type) {
				return nil
			}
			return []string{r.Type + " holds data but is not protected: a replacement or destroy would delete it"}
		},
	},
	{
		ID: "hygiene-labels", Level: Mandatory,
		Description: "Every labelable resource carries the nano-tier, nano-deployment and managed-by labels (tags on AWS).",
		Remediation: "Pass the deployment's labels (labels.For) to the resource's labels, tags or resourceLabels.",
		Check: func(r Resource, _ Env) []string {
			path, ok := labelPath(r)
			if !ok || isUnknown(get(r.Props, path...)) {
				return nil
			}
			have := resourceLabels(r)
			var missing []string
			for _, k := range labels.Keys {
				if have[k] == "" {
					missing = append(missing, k)
				}
			}
			if len(missing) > 0 {
				return []string{fmt.Sprintf("%s lacks %s", pathString(path), strings.Join(missing, ", "))}
			}
			return nil
		},
	},
}

func pathString(path []any) string {
	var parts []string
	for _, p := range path {
		parts = append(parts, fmt.Sprint(p))
	}
	return strings.Join(parts, ".")
}
