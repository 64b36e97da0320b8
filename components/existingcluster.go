package components

import (
	"errors"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// ExistingClusterType is the type token of ExistingCluster.
const ExistingClusterType = "nano:index:ExistingCluster"

// ExistingClusterArgs configure a deployment into a cluster of the user's.
type ExistingClusterArgs struct {
	// Settings are the stack's validated settings; Provider must be
	// tier.Kubernetes, with the cluster's kubeconfig.
	Settings settings.Settings
}

// ExistingCluster is any Kubernetes tier (growth, team, business, pro,
// enterprise) deployed into a cluster the user already runs (Bring Your
// Own Kubernetes): nano's Platform only, through the kubeconfig of
// nano:kubeconfig, on the user's nodes. Pro's and Enterprise's dedicated
// pools are nodes the user labels nano.dev/pool=<role> (and taints
// nano.dev/pool=clickhouse:NoSchedule for Pro's ClickHouse pool); the warm
// bucket is the configured one; Enterprise's databases are given in config
// (ClickHouse Cloud host and password, nano:postgresUri).
type ExistingCluster struct {
	pulumi.ResourceState
	CloudClusterOutputs
}

// NewExistingCluster installs nano's Platform into the user's cluster.
func NewExistingCluster(ctx *pulumi.Context, name string, args *ExistingClusterArgs, opts ...pulumi.ResourceOption) (*ExistingCluster, error) {
	if args == nil {
		return nil, errors.New("ExistingCluster: args are required")
	}
	s := args.Settings
	var errs []error
	bad := collector(strings.TrimPrefix(ExistingClusterType, "nano:index:"), &errs)
	switch {
	case s.Provider != tier.Kubernetes:
		bad("provider %q builds its own cluster; an existing cluster is provider %q", s.Provider, tier.Kubernetes)
	case s.Cluster == nil || s.Cluster.Kubeconfig == "":
		bad("the cluster's kubeconfig is required (%s:%s)", settings.Namespace, settings.KeyKubeconfig)
	case s.Tier.Kind == tier.Compose:
		bad("tier %q runs on one host with Docker Compose, not on Kubernetes", s.Tier.Name)
	}
	if s.Tier.ClickHouse.Cloud && (s.ClickHouseCloud == nil || s.ClickHouseCloud.Host == "" || s.ClickHouseCloud.Password == "") {
		bad("the ClickHouse Cloud host and password are required")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &ExistingCluster{}
	if err := ctx.RegisterComponentResource(ExistingClusterType, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	kubeconfig := secret(pulumi.String(s.Cluster.Kubeconfig).ToStringOutput())
	provider, err := kubernetes.NewProvider(ctx, name+"-cluster", &kubernetes.ProviderArgs{Kubeconfig: kubeconfig}, parent)
	if err != nil {
		return nil, err
	}
	pargs := &PlatformArgs{
		Spec: kubeobjects.Spec{
			Deployment: s.Deployment, Tier: s.Tier, Images: s.Images, Domain: s.Domain,
			StorageClass: s.Cluster.StorageClass, IngressClass: s.Cluster.IngressClass, PostgresArchive: s.PostgresArchive,
			SignIn: s.SignIn,
		},
		Provider: provider, OperatorsPreinstalled: s.Cluster.OperatorsPreinstalled, ProtectData: s.ProtectData,
		AlertmanagerConfig: s.AlertmanagerConfig,
	}
	if s.Tier.Kind == tier.Managed {
		host, port, _ := settings.PostgresEndpoint(s.Cluster.PostgresURI)
		pargs.Spec.ClickHouse = &kubeobjects.Endpoint{Host: s.ClickHouseCloud.Host, Port: clickHouseCloudNativePort}
		pargs.Spec.Postgres = &kubeobjects.Endpoint{Host: host, Port: port}
		pargs.Spec.IngestPool = &s.Band.Ingest
		pargs.ClickHouseUser = s.ClickHouseCloud.User
		pargs.ClickHousePassword = secret(pulumi.String(s.ClickHouseCloud.Password).ToStringOutput())
		pargs.PostgresURI = secret(pulumi.String(s.Cluster.PostgresURI).ToStringOutput())
	}
	if s.Warm != nil {
		pargs.Warm = configuredWarmBucket(s.Deployment, s.Warm)
	}
	if s.Backup != nil {
		pargs.Spec.BackupBucket, pargs.Warm = true, configuredWarmBucket(s.Deployment, s.Backup)
	}
	platform, err := NewPlatform(ctx, name, pargs, parent)
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = kubeconfig
	c.Endpoints = newClusterEndpoints(platform.IngestAddress, platform.HTTPSAddress, s.Domain)
	c.AccessOutputs = platform.AccessOutputs
	return c, ctx.RegisterResourceOutputs(c, platform.AccessOutputs.outputMap(c.Endpoints.outputMap(pulumi.Map{"kubeconfig": kubeconfig})))
}
