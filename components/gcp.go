package components

import (
	"maps"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/container"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/storage"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeconfig"
)

// GKE network layout: nodes, pods and services in one subnet's ranges, the
// control plane's peering range outside them.
const (
	gkeNodesCIDR    = "10.10.0.0/20"
	gkePodsCIDR     = "10.16.0.0/14"
	gkeServicesCIDR = "10.20.0.0/20"
	gkeMasterCIDR   = "172.16.0.0/28"
	gkeStorageClass = "standard-rwo"
	gcsEndpoint     = "https://storage.googleapis.com/"
)

// The GKE nodes' service account: GKE's predefined minimal role for node
// service accounts, and the scopes of what it does (write logs and
// metrics, read images), not cloud-platform.
const gkeNodeRole = "roles/container.defaultNodeServiceAccount"

var gkeNodeScopes = []string{
	"https://www.googleapis.com/auth/logging.write",
	"https://www.googleapis.com/auth/monitoring",
	"https://www.googleapis.com/auth/devstorage.read_only",
}

// gkeNetwork is the deployment's VPC on GCP.
type gkeNetwork struct {
	network *compute.Network
	subnet  *compute.Subnetwork
}

// newGKE builds a regional GKE cluster (control plane replicated across the
// region's zones) with private nodes in a dedicated VPC, egress through
// Cloud NAT, Dataplane V2 (which enforces nano's NetworkPolicies), the API
// endpoint reachable from spec.APIAllowedCIDRs only, and one node pool per
// spec pool. Node counts are totals across zones (autoscaling pinned to the
// catalog's count), so the cluster has exactly the seed's nodes.
func newGKE(ctx *pulumi.Context, spec clusterSpec, parent pulumi.ResourceOption) (*builtCluster, *gkeNetwork, error) {
	net, nat, err := newGKENetwork(ctx, spec, parent)
	if err != nil {
		return nil, nil, err
	}
	apiCIDRs, err := spec.apiCIDRs()
	if err != nil {
		return nil, nil, err
	}
	var blocks container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray
	for _, c := range apiCIDRs {
		blocks = append(blocks, container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs{
			CidrBlock: pulumi.String(c), DisplayName: pulumi.String("nano:kubeApiAllowedCidrs"),
		})
	}
	nodeAccount, nodeRole, err := newGKENodeAccount(ctx, spec, parent)
	if err != nil {
		return nil, nil, err
	}
	cluster, err := newGKECluster(ctx, spec, net, blocks, nodeAccount, parent, pulumi.DependsOn([]pulumi.Resource{nat}))
	if err != nil {
		return nil, nil, err
	}
	ready, err := newGKENodePools(ctx, spec, cluster, nodeAccount, parent, pulumi.DependsOn([]pulumi.Resource{nodeRole}))
	if err != nil {
		return nil, nil, err
	}
	kc := pulumi.All(cluster.Endpoint, cluster.MasterAuth.ClusterCaCertificate().Elem()).ApplyT(func(v []any) (string, error) {
		return kubeconfig.Exec("https://"+v[0].(string), v[1].(string), kubeconfig.Plugin{
			Command:     "gke-gcloud-auth-plugin",
			InstallHint: "nano's GKE kubeconfig needs gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
		})
	}).(pulumi.StringOutput)
	kc = secret(kc)
	provider, err := kubernetes.NewProvider(ctx, spec.Name+"-gke", &kubernetes.ProviderArgs{Kubeconfig: kc},
		parent, pulumi.DependsOn(ready))
	if err != nil {
		return nil, nil, err
	}
	return &builtCluster{Kubeconfig: kc, Provider: provider, StorageClass: gkeStorageClass, Ready: ready}, net, nil
}

// newGKENetwork is the deployment's VPC: one subnet with the pods' and
// services' secondary ranges, and egress through Cloud NAT (returned: the
// cluster waits for it).
func newGKENetwork(ctx *pulumi.Context, spec clusterSpec, parent pulumi.ResourceOption) (*gkeNetwork, *compute.RouterNat, error) {
	network, err := compute.NewNetwork(ctx, spec.Name+"-vpc", &compute.NetworkArgs{
		AutoCreateSubnetworks: pulumi.Bool(false),
		Description:           pulumi.String("nano deployment " + spec.Deployment),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	subnet, err := compute.NewSubnetwork(ctx, spec.Name+"-nodes", &compute.SubnetworkArgs{
		Network: network.ID(), Region: pulumi.String(spec.Region), IpCidrRange: pulumi.String(gkeNodesCIDR),
		PrivateIpGoogleAccess: pulumi.Bool(true),
		SecondaryIpRanges: compute.SubnetworkSecondaryIpRangeArray{
			compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String("pods"), IpCidrRange: pulumi.String(gkePodsCIDR)},
			compute.SubnetworkSecondaryIpRangeArgs{RangeName: pulumi.String("services"), IpCidrRange: pulumi.String(gkeServicesCIDR)},
		},
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	router, err := compute.NewRouter(ctx, spec.Name+"-router", &compute.RouterArgs{
		Network: network.ID(), Region: pulumi.String(spec.Region),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	nat, err := compute.NewRouterNat(ctx, spec.Name+"-nat", &compute.RouterNatArgs{
		Router: router.Name, Region: pulumi.String(spec.Region),
		NatIpAllocateOption:           pulumi.String("AUTO_ONLY"),
		SourceSubnetworkIpRangesToNat: pulumi.String("ALL_SUBNETWORKS_ALL_IP_RANGES"),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	return &gkeNetwork{network: network, subnet: subnet}, nat, nil
}

// newGKENodeAccount is the nodes' identity: a service account of their own
// with GKE's minimal node role (logs, metrics; the binding returned), never
// the project's default Compute account (Editor); pods get no node
// credentials at all (Workload Identity: the GKE metadata server answers
// pods only for their Kubernetes service account's bindings, and nano
// binds none).
func newGKENodeAccount(ctx *pulumi.Context, spec clusterSpec, parent pulumi.ResourceOption) (*serviceaccount.Account, *projects.IAMMember, error) {
	nodeAccount, err := serviceaccount.NewAccount(ctx, spec.Name+"-nodes", &serviceaccount.AccountArgs{
		AccountId:   pulumi.String(gcpAccountID(spec.Deployment, "-nodes")),
		DisplayName: pulumi.String("nano " + spec.Deployment + " GKE nodes"),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	nodeRole, err := projects.NewIAMMember(ctx, spec.Name+"-nodes", &projects.IAMMemberArgs{
		Project: nodeAccount.Project, Role: pulumi.String(gkeNodeRole),
		Member: pulumi.Sprintf("serviceAccount:%s", nodeAccount.Email),
	}, parent)
	return nodeAccount, nodeRole, err
}

// newGKECluster is the regional control plane: private nodes, Dataplane
// V2 (which enforces nano's NetworkPolicies), Workload Identity, the API
// reachable from blocks only.
func newGKECluster(ctx *pulumi.Context, spec clusterSpec, net *gkeNetwork, blocks container.ClusterMasterAuthorizedNetworksConfigCidrBlockArray,
	nodeAccount *serviceaccount.Account, opts ...pulumi.ResourceOption) (*container.Cluster, error) {
	return container.NewCluster(ctx, spec.Name+"-gke", &container.ClusterArgs{
		Location: pulumi.String(spec.Region), Network: net.network.ID(), Subnetwork: net.subnet.ID(),
		// Node pools are separate resources; GKE insists on a default pool
		// at creation, which is removed right away.
		RemoveDefaultNodePool: pulumi.Bool(true), InitialNodeCount: pulumi.Int(1),
		ReleaseChannel:   &container.ClusterReleaseChannelArgs{Channel: pulumi.String("REGULAR")},
		DatapathProvider: pulumi.String("ADVANCED_DATAPATH"),
		IpAllocationPolicy: &container.ClusterIpAllocationPolicyArgs{
			ClusterSecondaryRangeName: pulumi.String("pods"), ServicesSecondaryRangeName: pulumi.String("services"),
		},
		PrivateClusterConfig: &container.ClusterPrivateClusterConfigArgs{
			EnablePrivateNodes: pulumi.Bool(true), EnablePrivateEndpoint: pulumi.Bool(false),
			MasterIpv4CidrBlock: pulumi.String(gkeMasterCIDR),
		},
		MasterAuthorizedNetworksConfig: &container.ClusterMasterAuthorizedNetworksConfigArgs{CidrBlocks: blocks},
		EnableShieldedNodes:            pulumi.Bool(true),
		WorkloadIdentityConfig: &container.ClusterWorkloadIdentityConfigArgs{
			WorkloadPool: pulumi.Sprintf("%s.svc.id.goog", nodeAccount.Project),
		},
		// The default pool's nodes (removed once the cluster exists) run
		// as the nodes' account too, never the default Compute one.
		NodeConfig: &container.ClusterNodeConfigArgs{ServiceAccount: nodeAccount.Email, OauthScopes: pulumi.ToStringArray(gkeNodeScopes)},
		// pulumi destroy (and the provisioning endpoint's DELETE) must work.
		DeletionProtection: pulumi.Bool(false),
		ResourceLabels:     pulumi.ToStringMap(spec.Labels),
	}, opts...)
}

// newGKENodePools makes one node pool per spec pool, running as the
// nodes' account; counts are totals across zones (autoscaling pinned to
// the catalog's count).
func newGKENodePools(ctx *pulumi.Context, spec clusterSpec, cluster *container.Cluster, nodeAccount *serviceaccount.Account, opts ...pulumi.ResourceOption) ([]pulumi.Resource, error) {
	labels := pulumi.ToStringMap(spec.Labels)
	var ready []pulumi.Resource
	for _, p := range spec.Pools {
		cfg := &container.NodePoolNodeConfigArgs{
			MachineType: pulumi.String(p.MachineType), Spot: pulumi.Bool(p.Spot),
			Labels: pulumi.ToStringMap(p.nodeLabels()), ResourceLabels: labels,
			DiskType: pulumi.String("pd-balanced"), DiskSizeGb: pulumi.Int(100),
			ServiceAccount:         nodeAccount.Email,
			OauthScopes:            pulumi.ToStringArray(gkeNodeScopes),
			ShieldedInstanceConfig: &container.NodePoolNodeConfigShieldedInstanceConfigArgs{EnableSecureBoot: pulumi.Bool(true)},
			WorkloadMetadataConfig: &container.NodePoolNodeConfigWorkloadMetadataConfigArgs{Mode: pulumi.String("GKE_METADATA")},
		}
		if k, v, ok := p.taint(); ok {
			cfg.Taints = container.NodePoolNodeConfigTaintArray{container.NodePoolNodeConfigTaintArgs{
				Key: pulumi.String(k), Value: pulumi.String(v), Effect: pulumi.String("NO_SCHEDULE"),
			}}
		}
		pool, err := container.NewNodePool(ctx, spec.Name+"-"+string(p.Role), &container.NodePoolArgs{
			Cluster: cluster.ID(), Location: pulumi.String(spec.Region), NodeConfig: cfg,
			Autoscaling: &container.NodePoolAutoscalingArgs{
				TotalMinNodeCount: pulumi.Int(p.Nodes), TotalMaxNodeCount: pulumi.Int(p.Nodes), LocationPolicy: pulumi.String("BALANCED"),
			},
			Management: &container.NodePoolManagementArgs{AutoRepair: pulumi.Bool(true), AutoUpgrade: pulumi.Bool(true)},
		}, opts...)
		if err != nil {
			return nil, err
		}
		ready = append(ready, pool)
	}
	return ready, nil
}

// newGCSWarmBucket creates the warm tier's bucket on GCS: private (uniform
// access, public access prevented), Google-managed encryption, reached
// through the S3-compatible XML API with an HMAC key of a service account
// that may only use this bucket; and beside it the backup bucket
// (newGCSBackupBucket).
func newGCSWarmBucket(ctx *pulumi.Context, name, deployment, region string, backupDays int, labels map[string]string, parent, keep pulumi.ResourceOption) (*WarmBucket, error) {
	bucket, err := storage.NewBucket(ctx, name+"-warm", &storage.BucketArgs{
		Location: pulumi.String(strings.ToUpper(region)), Labels: pulumi.ToStringMap(labels),
		UniformBucketLevelAccess: pulumi.Bool(true), PublicAccessPrevention: pulumi.String("enforced"),
		// Destroy refuses a bucket that still holds events.
		ForceDestroy: pulumi.Bool(false),
	}, parent, keep)
	if err != nil {
		return nil, err
	}
	account, err := serviceaccount.NewAccount(ctx, name+"-warm", &serviceaccount.AccountArgs{
		AccountId:   pulumi.String(gcpAccountID(deployment, "-warm")),
		DisplayName: pulumi.String("nano " + deployment + " ClickHouse warm tier"),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := storage.NewBucketIAMMember(ctx, name+"-warm", &storage.BucketIAMMemberArgs{
		Bucket: bucket.Name, Role: pulumi.String("roles/storage.objectAdmin"),
		Member: pulumi.Sprintf("serviceAccount:%s", account.Email),
	}, parent); err != nil {
		return nil, err
	}
	key, err := storage.NewHmacKey(ctx, name+"-warm", &storage.HmacKeyArgs{ServiceAccountEmail: account.Email}, parent)
	if err != nil {
		return nil, err
	}
	backup, err := newGCSBackupBucket(ctx, name, deployment, region, backupDays, labels, parent, keep)
	if err != nil {
		return nil, err
	}
	return &WarmBucket{
		Endpoint: pulumi.Sprintf("%s%s/%s/", gcsEndpoint, bucket.Name, deployment), Region: pulumi.String(""),
		AccessKeyID: secret(key.AccessId), SecretAccessKey: secret(key.Secret), Backup: backup,
	}, nil
}

// GCS soft delete keeps a deleted object restorable for 7 to 90 days.
const (
	gcsSoftDeleteMinDays = 7
	gcsSoftDeleteMaxDays = 90
)

// newGCSBackupBucket is the backup bucket on GCS: private as the warm one,
// versioned (an overwrite keeps the old generation) with soft delete (a
// deleted generation, current or not, stays restorable for the backup days,
// at least 7 and at most GCS's 90, and nothing but a change of the bucket's
// settings, which the writer may not make, removes it sooner), lifecycle
// rules that expire backups after the backup days and their old
// generations a day later, and a writer service account with objectUser on
// this bucket only (GCS's S3 API rewrites an object by deleting it, which
// Barman's WAL archive needs on a retry; a retention policy would forbid
// that). The warm tier's account has no right on it.
func newGCSBackupBucket(ctx *pulumi.Context, name, deployment, region string, days int, labels map[string]string, parent, keep pulumi.ResourceOption) (*BackupBucket, error) {
	soft := min(max(days, gcsSoftDeleteMinDays), gcsSoftDeleteMaxDays)
	backupLabels := maps.Clone(labels)
	if backupLabels == nil {
		backupLabels = map[string]string{}
	}
	backupLabels[backupBucketLabel] = "backups"
	bucket, err := storage.NewBucket(ctx, name+"-backups", &storage.BucketArgs{
		Location: pulumi.String(strings.ToUpper(region)), Labels: pulumi.ToStringMap(backupLabels),
		UniformBucketLevelAccess: pulumi.Bool(true), PublicAccessPrevention: pulumi.String("enforced"),
		ForceDestroy:     pulumi.Bool(false),
		Versioning:       &storage.BucketVersioningArgs{Enabled: pulumi.Bool(true)},
		SoftDeletePolicy: &storage.BucketSoftDeletePolicyArgs{RetentionDurationSeconds: pulumi.Int(soft * 86400)},
		LifecycleRules: storage.BucketLifecycleRuleArray{
			storage.BucketLifecycleRuleArgs{
				Action:    &storage.BucketLifecycleRuleActionArgs{Type: pulumi.String("Delete")},
				Condition: &storage.BucketLifecycleRuleConditionArgs{Age: pulumi.Int(days + 1), WithState: pulumi.String("LIVE")},
			},
			storage.BucketLifecycleRuleArgs{
				Action:    &storage.BucketLifecycleRuleActionArgs{Type: pulumi.String("Delete")},
				Condition: &storage.BucketLifecycleRuleConditionArgs{DaysSinceNoncurrentTime: pulumi.Int(days + 1), WithState: pulumi.String("ARCHIVED")},
			},
		},
	}, parent, keep)
	if err != nil {
		return nil, err
	}
	account, err := serviceaccount.NewAccount(ctx, name+"-backup-writer", &serviceaccount.AccountArgs{
		AccountId:   pulumi.String(gcpAccountID(deployment, "-backup")),
		DisplayName: pulumi.String("nano " + deployment + " backup writer"),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := storage.NewBucketIAMMember(ctx, name+"-backup-writer", &storage.BucketIAMMemberArgs{
		Bucket: bucket.Name, Role: pulumi.String("roles/storage.objectUser"),
		Member: pulumi.Sprintf("serviceAccount:%s", account.Email),
	}, parent); err != nil {
		return nil, err
	}
	key, err := storage.NewHmacKey(ctx, name+"-backup-writer", &storage.HmacKeyArgs{ServiceAccountEmail: account.Email}, parent)
	if err != nil {
		return nil, err
	}
	return &BackupBucket{
		Endpoint: pulumi.Sprintf("%s%s/%s/", gcsEndpoint, bucket.Name, deployment), Region: pulumi.String(""),
		AccessKeyID: secret(key.AccessId), SecretAccessKey: secret(key.Secret),
	}, nil
}

// gcpAccountID fits a service account id (6-30 characters) from the
// deployment name and a suffix.
func gcpAccountID(deployment, suffix string) string {
	id := deployment
	if max := 30 - len(suffix); len(id) > max {
		id = strings.TrimRight(id[:max], "-")
	}
	return id + suffix
}
