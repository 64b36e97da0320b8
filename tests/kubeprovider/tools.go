//go:build tools

// Package kubeprovider pins the Pulumi Kubernetes provider's source (and the
// schema package its generator uses) so that tests/setup can build
// pulumi-resource-kubernetes from the module cache.
package kubeprovider

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
