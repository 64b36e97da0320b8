// Package components holds nano's Pulumi ComponentResources, one per file,
// each named after its type: ComposeHost (Hobby, Startup) and the cluster
// components of the Kubernetes tiers. Their sizes come from the tier catalog
// (components/tier) through validated settings (components/settings).
package components

import (
	"github.com/nanosiem/nano/components/tier"
)

// Label keys every labelable resource carries (the policy pack checks them).
const (
	LabelTier       = "nano-tier"
	LabelDeployment = "nano-deployment"
	LabelManagedBy  = "managed-by"
	managedBy       = "pulumi"
)

// Labels returns the labels of a deployment's resources.
func Labels(deployment string, t tier.Name) map[string]string {
	return map[string]string{
		LabelTier:       string(t),
		LabelDeployment: deployment,
		LabelManagedBy:  managedBy,
	}
}
