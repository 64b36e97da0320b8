//go:build kubeprovider

// Package kubeprovider names the Pulumi Kubernetes provider's module as a
// requirement of nano's go.mod, so that the provider plugin tests/setup
// builds (its command package, copied beside a copy of nano's go.mod) is
// built with go.mod's versions of the modules it shares with nano and the
// rig's control plane, and so shares their compiled packages (Pulumi's
// pkg/v3 and sdk/v3 aside: setup builds it with the provider's own, as its
// code does not build with go.mod's pkg/v3; so `go build -tags
// kubeprovider` fails here). The build tag keeps the package out of every
// build; go mod tidy still sees the import.
package kubeprovider

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
