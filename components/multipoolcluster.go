package components

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// MultiPoolClusterType is the type token of MultiPoolCluster.
const MultiPoolClusterType = "nano:index:MultiPoolCluster"

// MultiPoolClusterArgs configure a Pro deployment.
type MultiPoolClusterArgs struct {
	// Settings are the stack's validated settings; Tier.Kind must be
	// tier.MultiPool.
	Settings settings.Settings
}

// MultiPoolCluster is a Pro deployment: a GKE or EKS cluster with three
// node pools as the catalog sizes them: app (spot), ClickHouse (on-demand,
// tainted so that only ClickHouse and Keeper schedule there) and ingest
// (spot), every node labeled with its pool; a warm-tier bucket; and nano's
// Platform with each workload pinned to its pool.
type MultiPoolCluster struct {
	pulumi.ResourceState
	CloudClusterOutputs
}

var multiPoolCluster = cloudComponent{typ: MultiPoolClusterType, kind: tier.MultiPool, providers: []tier.Provider{tier.GCP, tier.AWS}}

// NewMultiPoolCluster builds a Pro cluster and installs nano on it.
func NewMultiPoolCluster(ctx *pulumi.Context, name string, args *MultiPoolClusterArgs, opts ...pulumi.ResourceOption) (*MultiPoolCluster, error) {
	if args == nil {
		return nil, errors.New("MultiPoolCluster: args are required")
	}
	c := &MultiPoolCluster{}
	if err := multiPoolCluster.build(ctx, name, args.Settings, c, &c.CloudClusterOutputs, opts...); err != nil {
		return nil, err
	}
	return c, nil
}
