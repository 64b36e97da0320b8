// Package labels names the labels (tags, on AWS) every labelable resource
// of a nano deployment carries; the components set them and the policy pack
// checks them.
package labels

import "github.com/nanosiem/nano/stacks/model/tier"

// Keys and the managed-by value.
const (
	Tier       = "nano-tier"
	Deployment = "nano-deployment"
	ManagedBy  = "managed-by"
	managedBy  = "pulumi"
)

// Keys are the required label keys.
var Keys = []string{Tier, Deployment, ManagedBy}

// For returns the labels of a deployment's resources.
func For(deployment string, t tier.Name) map[string]string {
	return map[string]string{Tier: string(t), Deployment: deployment, ManagedBy: managedBy}
}
