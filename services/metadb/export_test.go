package metadb

import "github.com/nanosiem/nano/tests/harness"

// Server is the package's PostgreSQL for its external tests
// (package metadb_test, which may import the services that use the schema).
func Server() *harness.Postgres { return pg }
