package enrich

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
)

var ch *harness.ClickHouse

func TestMain(m *testing.M) { harness.MainWithClickHouse(m, &ch) }

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestValidateSourceNamesTheField(t *testing.T) {
	err := ValidateSource("Bad Name", "/etc/passwd", "xml", "abc", "/data")
	for _, f := range []string{"name:", "source:", "format:", "sha256:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s not named in %v", f, err)
		}
	}
	if err := ValidateSource("ipinfo", "/data/ip.csv", "csv", "", "/data"); err != nil {
		t.Error(err)
	}
	if err := ValidateSource("x", "/data/../etc/passwd", "csv", "", "/data"); err == nil {
		t.Error("a path escaping the directory was accepted")
	}
}

// A dataset loads whole and swaps in; the same data is not reloaded; a
// checksum mismatch or a broken file leaves the table as it was.
func TestSyncSwapsWholeDatasets(t *testing.T) {
	ctx := context.Background()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS enrich_test"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Syncer{Conn: conn, Engine: events.Engine{Database: "enrich_test"}, Dir: dir}
	file := filepath.Join(dir, "ip.csv")
	v1 := "start_ip,end_ip,Country Code\n1.0.0.0,1.0.0.255,AU\n8.8.8.0,8.8.8.255,US\n"
	os.WriteFile(file, []byte(v1), 0o644)
	d := Dataset{Name: "ipinfo", Source: file, Format: "csv"}
	rows, got, err := s.Sync(ctx, d)
	if err != nil || rows != 2 || got != sum(v1) {
		t.Fatalf("first sync: %d %s %v", rows, got, err)
	}
	check := func(want string) {
		t.Helper()
		var out []string
		r, err := conn.Query(ctx, "SELECT start_ip, country_code FROM enrich_test.enrich_ipinfo ORDER BY start_ip")
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var a, b string
			r.Scan(&a, &b)
			out = append(out, a+" "+b)
		}
		if strings.Join(out, ",") != want {
			t.Errorf("table holds %v, want %s", out, want)
		}
	}
	check("1.0.0.0 AU,8.8.8.0 US")
	d.Last = got
	if rows, _, err := s.Sync(ctx, d); err != nil || rows != -1 {
		t.Errorf("unchanged data: %d %v", rows, err)
	}
	v2 := v1 + "9.9.9.0,9.9.9.255,CH\n"
	os.WriteFile(file, []byte(v2), 0o644)
	d.SHA256 = sum("something else")
	if _, _, err := s.Sync(ctx, d); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("checksum mismatch: %v", err)
	}
	check("1.0.0.0 AU,8.8.8.0 US")
	os.WriteFile(file, []byte("a,b\n\"unterminated\n"), 0o644)
	d.SHA256 = ""
	if _, _, err := s.Sync(ctx, d); err == nil {
		t.Error("a broken CSV was loaded")
	}
	check("1.0.0.0 AU,8.8.8.0 US")
	os.WriteFile(file, []byte(v2), 0o644)
	d.SHA256 = sum(v2)
	if rows, _, err := s.Sync(ctx, d); err != nil || rows != 3 {
		t.Fatalf("second version: %d %v", rows, err)
	}
	check("1.0.0.0 AU,8.8.8.0 US,9.9.9.0 CH")

	// A threat list over HTTP.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# feed\n203.0.113.7\n\nevil.example\n")
	}))
	defer srv.Close()
	rows, _, err = s.Sync(ctx, Dataset{Name: "threats", Source: srv.URL + "/list.txt", Format: "list"})
	var n uint64
	conn.QueryRow(ctx, "SELECT count() FROM enrich_test.enrich_threats WHERE indicator IN ('203.0.113.7', 'evil.example')").Scan(&n)
	if err != nil || rows != 2 || n != 2 {
		t.Errorf("threat list: %d rows, %d found, %v", rows, n, err)
	}
}
