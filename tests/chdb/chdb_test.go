package chdb

import (
	"fmt"
	"strings"
	"testing"
)

func TestModernEngineAnswers(t *testing.T) {
	e, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	v, err := e.Query("SELECT version()", "TSV")
	if err != nil || !strings.HasPrefix(v, "26.") {
		t.Fatalf("version %q, %v", v, err)
	}
	if _, err := e.Query("SELECT no_such_function()", ""); err == nil || !strings.Contains(err.Error(), "no_such_function") {
		t.Errorf("a bad query did not fail with its message: %v", err)
	}
}

// A nearly full disk as the engine sees it: system.disks reports about
// the share asked.
func TestNearlyFullDisk(t *testing.T) {
	e, share, err := OpenNearlyFull(t.TempDir(), 0.05)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out, err := e.Query("SELECT free_space / total_space FROM system.disks WHERE name = 'default'", "TSV")
	if err != nil {
		t.Fatal(err)
	}
	var free float64
	if _, err := fmt.Sscan(out, &free); err != nil || free < share-0.02 || free > share+0.02 {
		t.Errorf("the default disk is %q free (%v), want about %.3f", out, err, share)
	}
}
