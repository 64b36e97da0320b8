//go:build tools

// Package hydra pins Ory Hydra's source so that tests/setup can build its
// binary from the module cache.
package hydra

import _ "github.com/ory/hydra/v2"
