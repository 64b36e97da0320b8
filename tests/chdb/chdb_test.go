package chdb

import (
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
