//go:build tools

// Package pulumicli pins the Pulumi CLI's source so that `go build` can build
// the CLI from the module cache (see build.sh).
package pulumicli

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
