// Package components holds nano's Pulumi ComponentResources, one per file,
// each named after its type: ComposeHost (Hobby, Startup) and the cluster
// components of the Kubernetes tiers. Their sizes come from the tier catalog
// (components/tier) through validated settings (components/settings).
package components

import (
	"github.com/nanosiem/nano/components/labels"
	"github.com/nanosiem/nano/components/tier"
)

// Label keys every labelable resource carries (the policy pack checks them).
const (
	LabelTier       = labels.Tier
	LabelDeployment = labels.Deployment
	LabelManagedBy  = labels.ManagedBy
)

// Labels returns the labels of a deployment's resources.
func Labels(deployment string, t tier.Name) map[string]string {
	return labels.For(deployment, t)
}
