package tests

import (
	"os"
	"testing"
)

// TestMain removes the nano binaries the tests shared (nanoBuilds) when
// they end.
func TestMain(m *testing.M) {
	code := m.Run()
	nanoBuilds.removeAll()
	os.Exit(code)
}
