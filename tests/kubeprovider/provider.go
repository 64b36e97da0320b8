//go:build kubeprovider

// Package kubeprovider names the Pulumi Kubernetes provider's module as a
// requirement of nano's go.mod, so that the provider plugin tests/setup
// builds (its command package, copied beside a copy of nano's go.mod) is
// built with go.mod's versions of the modules it shares with nano and the
// rig's control plane, and so shares their compiled packages. Its code
// needs one line changed to build with go.mod's Pulumi pkg/v3 (whose
// schema.PackageSpec.Provider became a pointer): setup changes it in its
// copy of the module, so `go build -tags kubeprovider` fails here. The
// build tag keeps the package out of every build; go mod tidy still sees
// the import.
package kubeprovider

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
