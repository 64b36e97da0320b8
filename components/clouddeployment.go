package components

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	stacklabels "github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// nodePool is one node pool of a cluster a cloud builds for nano.
type nodePool struct {
	Role        tier.PoolRole
	Nodes       int
	MachineType string
	Spot        bool
	// Dedicated pools label their nodes kubeobjects.PoolLabel=<role>; Tainted
	// ones also taint them so that only pods tolerating the taint schedule.
	Dedicated, Tainted bool
}

// clusterSpec is what a cloud builder needs to make a cluster.
type clusterSpec struct {
	// Name prefixes every resource the builder registers.
	Name       string
	Deployment string
	Region     string
	Pools      []nodePool
	Labels     map[string]string
	// APIAllowedCIDRs may reach the cluster's public API endpoint.
	APIAllowedCIDRs []string
	// Provider is the cloud the cluster is built on.
	Provider tier.Provider
}

// apiCIDRs is the allow-list of the cluster's API as the cloud takes it
// (settings.KubeAPICIDRsFor: never wider than APIAllowedCIDRs, and never
// empty where the cloud would read empty as the whole internet).
func (c clusterSpec) apiCIDRs() ([]string, error) {
	return settings.KubeAPICIDRsFor(c.Provider, c.APIAllowedCIDRs)
}

// builtCluster is what a cloud builder hands back: a provider for the
// cluster, the storage class of its volumes, and what the platform waits for.
type builtCluster struct {
	// Kubeconfig is secret.
	Kubeconfig   pulumi.StringOutput
	Provider     *kubernetes.Provider
	StorageClass string
	IngressClass string
	// Ready are the resources (node pools, drivers) the platform waits for.
	Ready []pulumi.Resource
}

// poolsFor maps the tier's pools (or Enterprise's volume band) to machine
// types of the provider. A single general pool takes the validated
// settings' machine type (nano:machineType overrides it); dedicated pools
// take the catalog's size; the ClickHouse pool is tainted.
func poolsFor(s settings.Settings) ([]nodePool, error) {
	pools := s.Tier.Pools
	if s.Tier.Kind == tier.Managed {
		pools = []tier.Pool{s.Band.App, s.Band.Ingest}
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("tier %q has no node pools", s.Tier.Name)
	}
	var out []nodePool
	for _, p := range pools {
		np := nodePool{Role: p.Role, Nodes: p.Nodes, Spot: p.Scheduling == tier.Spot}
		if p.Role == tier.General {
			np.MachineType = s.MachineType
		} else {
			t, err := tier.MachineType(s.Provider, p.Machine)
			if err != nil {
				return nil, fmt.Errorf("%s pool: %w", p.Role, err)
			}
			np.MachineType, np.Dedicated, np.Tainted = t, true, p.Role == tier.ClickHouse
		}
		out = append(out, np)
	}
	return out, nil
}

// validate reports the problems of a cluster spec, through bad.
func (c clusterSpec) validate(bad func(string, ...any)) {
	if c.Name == "" || c.Deployment == "" || c.Region == "" {
		bad("name, deployment and region are required")
	}
	if len(c.Pools) == 0 {
		bad("at least one node pool is required")
	}
	for _, p := range c.Pools {
		if p.Nodes < 1 || p.MachineType == "" {
			bad("%s pool needs nodes and a machine type, got %d x %q", p.Role, p.Nodes, p.MachineType)
		}
	}
	if len(c.APIAllowedCIDRs) == 0 {
		bad("at least one CIDR must reach the Kubernetes API, or pulumi cannot manage the cluster")
	}
	for _, cidr := range c.APIAllowedCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			bad("%q is not a CIDR", cidr)
		}
	}
	if len(c.APIAllowedCIDRs) > 0 {
		if _, err := c.apiCIDRs(); err != nil {
			bad("%v", err)
		}
	}
}

// poolLabels are the Kubernetes node labels of a pool's nodes.
func (p nodePool) nodeLabels() map[string]string {
	if !p.Dedicated {
		return nil
	}
	return map[string]string{kubeobjects.PoolLabel: string(p.Role)}
}

// poolTaint is the taint of a tainted pool's nodes (NoSchedule).
func (p nodePool) taint() (key, value string, ok bool) {
	return kubeobjects.PoolTaint, string(p.Role), p.Tainted
}

// cloudDeployment is a cluster a cloud built for nano, with the platform
// installed on it: what HACluster, MultiPoolCluster and ManagedEnterprise
// share.
type cloudDeployment struct {
	cluster   *builtCluster
	gcp       *gkeNetwork
	aws       *awsNetwork
	platform  *Platform
	endpoints Endpoints
	// privateEndpointID: see platformInputs.
	privateEndpointID pulumi.StringOutput
}

// validateCloudCluster checks settings every managed-cluster component
// needs: the tier's kind and one of the clouds it is built on here.
func validateCloudCluster(name string, s settings.Settings, kind tier.Kind, providers []tier.Provider, bad func(string, ...any)) []nodePool {
	if s.Tier.Kind != kind {
		bad("tier %q is deployed as %q, not as %q", s.Tier.Name, s.Tier.Kind, kind)
	}
	if !slices.Contains(providers, s.Provider) {
		bad("provider %q is not one of %v", s.Provider, providers)
	}
	pools, err := poolsFor(s)
	if err != nil {
		bad("%v", err)
	}
	clusterSpec{Name: name, Deployment: s.Deployment, Region: s.Region, Pools: pools, APIAllowedCIDRs: s.KubeAPIAllowedCIDRs, Provider: s.Provider}.validate(bad)
	return pools
}

// platformInputs are the platform arguments a component adds: managed
// database endpoints and credentials (Enterprise).
type platformInputs struct {
	clickHouse         *kubeobjects.Endpoint
	postgres           *kubeobjects.Endpoint
	clickHouseUser     string
	clickHousePassword pulumi.StringInput
	postgresURI        pulumi.StringInput
	// dependsOn are resources the workloads need first (endpoints, DNS).
	dependsOn []pulumi.Resource
	// privateEndpointID identifies the private endpoint to ClickHouse
	// Cloud, which its service must admit (Enterprise).
	privateEndpointID pulumi.StringOutput
}

// newCloudDeployment builds the cluster on s.Provider, the warm bucket
// where the tier has one, and the platform.
func newCloudDeployment(ctx *pulumi.Context, name string, s settings.Settings, pools []nodePool, extra func(*cloudDeployment) (*platformInputs, error), parent pulumi.ResourceOption) (*cloudDeployment, error) {
	labels := stacklabels.For(s.Deployment, s.Tier.Name)
	spec := clusterSpec{Name: name, Deployment: s.Deployment, Region: s.Region, Pools: pools, Labels: labels, APIAllowedCIDRs: s.KubeAPIAllowedCIDRs, Provider: s.Provider}
	d := &cloudDeployment{}
	var err error
	switch s.Provider {
	case tier.Civo:
		d.cluster, err = newCivo(ctx, spec, parent)
	case tier.Vultr:
		d.cluster, err = newVultr(ctx, spec, parent)
	case tier.GCP:
		d.cluster, d.gcp, err = newGKE(ctx, spec, parent)
	case tier.AWS:
		d.cluster, d.aws, err = newEKS(ctx, spec, parent)
	default:
		err = fmt.Errorf("nano builds no Kubernetes cluster on %q", s.Provider)
	}
	if err != nil {
		return nil, err
	}
	in := &platformInputs{}
	if extra != nil {
		if in, err = extra(d); err != nil {
			return nil, err
		}
		d.privateEndpointID = in.privateEndpointID
	}
	args := &PlatformArgs{
		Spec: kubeobjects.Spec{
			Deployment: s.Deployment, Tier: s.Tier, Images: s.Images, Domain: s.Domain,
			StorageClass: d.cluster.StorageClass, IngressClass: d.cluster.IngressClass,
			ClickHouse: in.clickHouse, Postgres: in.postgres, PostgresArchive: s.PostgresArchive, SignIn: s.SignIn,
		},
		Provider: d.cluster.Provider, ClickHouseUser: in.clickHouseUser,
		ClickHousePassword: in.clickHousePassword, PostgresURI: in.postgresURI, ProtectData: s.ProtectData,
		AlertmanagerConfig: s.AlertmanagerConfig,
	}
	if s.Tier.Kind == tier.Managed {
		args.Spec.IngestPool = &s.Band.Ingest
		args.Spec.NoMetricsAPI = d.aws != nil
	}
	if args.Warm, err = newWarmBucket(ctx, name, s, parent); err != nil {
		return nil, err
	}
	d.platform, err = NewPlatform(ctx, name, args, parent, pulumi.DependsOn(append(d.cluster.Ready, in.dependsOn...)))
	if err != nil {
		return nil, err
	}
	// The cloud's load balancers publish ingest's ports as they are, and
	// api and search through the ingress controller.
	d.endpoints = newClusterEndpoints(d.platform.IngestAddress, d.platform.HTTPSAddress, s.Domain)
	return d, nil
}

// newWarmBucket is the bucket of the warm tier: the configured one, else a
// private bucket nano creates in the deployment's cloud. Tiers without a
// warm tier get nil.
func newWarmBucket(ctx *pulumi.Context, name string, s settings.Settings, parent pulumi.ResourceOption) (*WarmBucket, error) {
	if !s.Tier.ClickHouse.WarmS3 {
		return nil, nil
	}
	if s.Warm != nil {
		return configuredWarmBucket(s.Deployment, s.Warm), nil
	}
	labels := stacklabels.For(s.Deployment, s.Tier.Name)
	switch s.Provider {
	case tier.Civo:
		return newCivoWarmBucket(ctx, name, s.Deployment, s.Region, parent, pulumi.Protect(s.ProtectData))
	case tier.Vultr:
		return newVultrWarmBucket(ctx, name, s.Deployment, s.Region, parent, pulumi.Protect(s.ProtectData))
	case tier.GCP:
		return newGCSWarmBucket(ctx, name, s.Deployment, s.Region, backupBucketDays(backupDays(s.Tier)), labels, parent, pulumi.Protect(s.ProtectData))
	case tier.AWS:
		return newS3WarmBucket(ctx, name, s.Deployment, s.Region, backupBucketDays(backupDays(s.Tier)), labels, parent, pulumi.Protect(s.ProtectData))
	}
	return nil, fmt.Errorf("nano cannot create a warm bucket on %q; set %s:%s", s.Provider, settings.Namespace, settings.KeyWarmBucketURL)
}

// backupDays is how long a tier keeps backups (the catalog's days, else
// tier.BackupDays), which nano's backup buckets enforce.
func backupDays(t tier.Spec) int {
	if d := t.Postgres.BackupRetentionDays; d > 0 {
		return d
	}
	return tier.BackupDays
}

// outputMap adds a cloud deployment's outputs to a component's.
func (d *cloudDeployment) outputMap() pulumi.Map {
	m := d.platform.AccessOutputs.outputMap(d.endpoints.outputMap(pulumi.Map{"kubeconfig": d.cluster.Kubeconfig}))
	if d.privateEndpointID != (pulumi.StringOutput{}) {
		m["clickhousePrivateEndpointId"] = d.privateEndpointID
	}
	return m
}

// CloudClusterOutputs are the outputs of every managed-cluster component.
type CloudClusterOutputs struct {
	// Kubeconfig is the cluster admin's kubeconfig (secret).
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	Endpoints
	AccessOutputs
}

// cloudComponent is what a managed-cluster component registers and builds.
type cloudComponent struct {
	typ       string
	kind      tier.Kind
	providers []tier.Provider
	// extra adds managed databases (Enterprise); nil for none.
	extra func(ctx *pulumi.Context, name string, d *cloudDeployment, parent pulumi.ResourceOption) (*platformInputs, error)
	// check adds component-specific validation; nil for none.
	check func(bad func(string, ...any))
}

// build validates s, registers res as the component, builds the cloud
// deployment under it and fills out.
func (cc cloudComponent) build(ctx *pulumi.Context, name string, s settings.Settings, res pulumi.ComponentResource, out *CloudClusterOutputs, opts ...pulumi.ResourceOption) error {
	component := strings.TrimPrefix(cc.typ, "nano:index:")
	var errs []error
	bad := collector(component, &errs)
	pools := validateCloudCluster(name, s, cc.kind, cc.providers, bad)
	if cc.check != nil {
		cc.check(bad)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := ctx.RegisterComponentResource(cc.typ, name, res, opts...); err != nil {
		return err
	}
	parent := pulumi.Parent(res)
	var extra func(*cloudDeployment) (*platformInputs, error)
	if cc.extra != nil {
		extra = func(d *cloudDeployment) (*platformInputs, error) { return cc.extra(ctx, name, d, parent) }
	}
	d, err := newCloudDeployment(ctx, name, s, pools, extra, parent)
	if err != nil {
		return err
	}
	out.Kubeconfig, out.Endpoints, out.AccessOutputs = d.cluster.Kubeconfig, d.endpoints, d.platform.AccessOutputs
	return ctx.RegisterResourceOutputs(res, d.outputMap())
}
