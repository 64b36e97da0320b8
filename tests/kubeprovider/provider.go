//go:build kubeprovider

// Package kubeprovider names the Pulumi Kubernetes provider's module as a
// requirement of nano's go.mod, so that the provider plugin tests/setup
// builds (its command package, copied beside a copy of nano's go.mod) is
// built with the same versions of every module as nano and its other test
// tools, and so shares their compiled packages. The build tag keeps the
// package out of every build; go mod tidy still sees the import.
package kubeprovider

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
