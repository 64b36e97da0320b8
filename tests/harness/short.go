package harness

import (
	"flag"
	"testing"
)

// Short reports whether the tests run with -short: the fast loop (`go test
// -short ./...`) runs the unit tests only, without starting a server, a rig
// or the Pulumi engine. It may be called from TestMain.
func Short() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}

// Servers skips t under -short: it needs servers the harness starts
// (PostgreSQL, ClickHouse, ZooKeeper, S3, an identity provider, Docker, a
// Kubernetes rig) or the Pulumi engine. `bash tests/run` runs it.
func Servers(t testing.TB) {
	t.Helper()
	if Short() {
		t.Skip("needs servers or the Pulumi engine: skipped by -short (bash tests/run runs it)")
	}
}
