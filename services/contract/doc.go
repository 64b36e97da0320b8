// Package contract is what nano's services and the components that deploy
// them agree on, defined once: the environment variables through which the
// components configure api, search and ingest (envconfig.go, with the
// Reader the services read them with), the services' ports (ports.go) and
// the pinned third-party images deployed beside them (images.go). The
// components write it into Compose files and Kubernetes objects; the
// services read it; the images expose its ports. docs/reference/environment.md
// is generated from the NANO_* constants here and their comments (docs/gen):
// every variable needs a comment, its own or its block's.
package contract
