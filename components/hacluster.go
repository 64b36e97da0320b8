package components

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// HAClusterType is the type token of HACluster.
const HAClusterType = "nano:index:HACluster"

// HAClusterArgs configure a Team or Business deployment.
type HAClusterArgs struct {
	// Settings are the stack's validated settings; Tier.Kind must be tier.HA.
	Settings settings.Settings
}

// HACluster is a Team or Business deployment: a managed Kubernetes cluster
// with a highly available control plane and the tier's general node pool
// (Civo Kubernetes, Vultr VKE, GKE or EKS), a warm-tier bucket, and nano's
// Platform on it with the tier's replicas spread across nodes.
type HACluster struct {
	pulumi.ResourceState
	CloudClusterOutputs
}

var haCluster = cloudComponent{typ: HAClusterType, kind: tier.HA, providers: []tier.Provider{tier.Civo, tier.Vultr, tier.GCP, tier.AWS}}

// NewHACluster builds a Team/Business cluster and installs nano on it.
func NewHACluster(ctx *pulumi.Context, name string, args *HAClusterArgs, opts ...pulumi.ResourceOption) (*HACluster, error) {
	if args == nil {
		return nil, errors.New("HACluster: args are required")
	}
	c := &HACluster{}
	if err := haCluster.build(ctx, name, args.Settings, c, &c.CloudClusterOutputs, opts...); err != nil {
		return nil, err
	}
	return c, nil
}
