// Package harness starts the real servers tests talk to: PostgreSQL 15 and
// ClickHouse from Debian's packages, each on a free loopback port in a
// temporary directory, owned by the test process and stopped with it.
// tests/run installs the packages; a test package starts what it needs once,
// in TestMain, and fails loudly if a server cannot start (no silent skips).
package harness
