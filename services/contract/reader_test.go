package contract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReaderNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"N": "12", "BADN": "x", "BIG": "99", "D": "2s", "BADD": "2 s", "PW_FILE": secret, "MISSING_FILE": "/nope",
		"A": ":3002", "BADA": "localhost", "AS": "ch-0:9000, ch-1:9000", "BADAS": "ch-0:9000,ch-1"}
	r := &Reader{Getenv: func(k string) string { return env[k] }}
	if r.Int("N", 1, 0, 50) != 12 || r.Int("UNSET", 7, 0, 50) != 7 || r.Int("BADN", 3, 0, 50) != 3 || r.Int("BIG", 3, 0, 50) != 3 {
		t.Error("Int")
	}
	if r.Duration("D", time.Second, time.Millisecond, time.Minute) != 2*time.Second || r.Duration("BADD", time.Second, 0, time.Minute) != time.Second {
		t.Error("Duration")
	}
	if r.Secret("PW", "PW_FILE") != "s3cret" || r.Secret("X", "MISSING_FILE") != "" {
		t.Error("Secret")
	}
	if r.Addr("A", "") != ":3002" || r.String("UNSET", "def") != "def" {
		t.Error("Addr/String")
	}
	r.Addr("BADA", "")
	if got := r.Addrs("AS", ""); strings.Join(got, " ") != "ch-0:9000 ch-1:9000" {
		t.Errorf("Addrs %q", got)
	}
	r.Addrs("BADAS", "")
	err := r.Err()
	for _, name := range []string{"BADN", "BIG", "BADD", "MISSING_FILE", "BADA", "BADAS"} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s not named in %v", name, err)
		}
	}
}

// The alert rules encode and alert on the metric the api exports.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	rules := func(pg bool) []any { return AlertRules(pg)["groups"].([]any)[0].(map[string]any)["rules"].([]any) }
	rule := rules(false)[0].(map[string]any)
	if !strings.HasPrefix(rule["expr"].(string), DiskFreeMetric+" < ") || rule["alert"] == "" {
		t.Errorf("rule %v", rule)
	}
	// The api's PostgreSQL backup alerts only where it takes them.
	without, with := rules(false), rules(true)
	if len(with) != len(without)+2 || !strings.Contains(with[len(with)-1].(map[string]any)["expr"].(string), PostgresBackupLastSuccessMetric) {
		t.Errorf("%d rules without the api's PostgreSQL backups, %d with", len(without), len(with))
	}
}
