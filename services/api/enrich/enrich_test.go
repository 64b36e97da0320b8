package enrich

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/fetchguard"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var (
	ch *harness.ClickHouse
	pg *harness.Postgres
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func TestValidateSourceNamesTheField(t *testing.T) {
	err := ValidateSource(Dataset{Name: "Bad Name", Source: "/etc/passwd", Format: "xml", SHA256: "abc"}, "/data", nil)
	for _, f := range []string{"name:", "source:", "format:", "sha256:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s not named in %v", f, err)
		}
	}
	if err := ValidateSource(Dataset{Name: "ipinfo", Source: "/data/ip.csv", Format: "csv"}, "/data", nil); err != nil {
		t.Error(err)
	}
	if err := ValidateSource(Dataset{Name: "x", Source: "/data/../etc/passwd", Format: "csv"}, "/data", nil); err == nil {
		t.Error("a path escaping the directory was accepted")
	}
	// A tenant's dataset reads no file of the server's, and no URL of the
	// deployment's own or an internal address.
	for source, want := range map[string]string{
		"/data/ip.csv":                             "files on the server are for platform datasets",
		"http://clickhouse:8123/?query=SELECT+1":   "without a dot",
		"http://prometheus:9090/api/v1/query":      "without a dot",
		"http://127.0.0.1:8123/":                   "loopback",
		"http://169.254.169.254/latest/meta-data/": "link-local",
		"http://[fd00:ec2::254]/":                  "unique local",
		"https://10.0.0.8/feed.csv":                "private",
		"http://metadata.google.internal/":         ".internal",
		"https:///nohost":                          "not a URL with a host",
	} {
		err := ValidateSource(Dataset{Tenant: "acme", Name: "x", Source: source, Format: "list"}, "/data", nil)
		if err == nil || !strings.HasPrefix(err.Error(), "source: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a source error naming %q", source, err, want)
		}
	}
	if err := ValidateSource(Dataset{Tenant: "acme", Name: "x", Source: "https://feeds.example.com/x.txt", Format: "list"}, "/data", nil); err != nil {
		t.Error(err)
	}
}

// A dataset loads whole and swaps in; the same data is not reloaded; a
// checksum mismatch or a broken file leaves the table as it was.
func TestSyncSwapsWholeDatasets(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS enrich_test"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# feed\n203.0.113.7\n\nevil.example\n")
	}))
	defer srv.Close()
	s := &Syncer{Conn: conn, Engine: events.Engine{Database: "enrich_test"}, Dir: dir, Guard: fetchguard.New(fetchguard.TestOnlyAllow(addrOf(t, srv)))}
	file := filepath.Join(dir, "ip.csv")
	v1 := "start_ip,end_ip,Country Code\n1.0.0.0,1.0.0.255,AU\n8.8.8.0,8.8.8.255,US\n"
	os.WriteFile(file, []byte(v1), 0o644)
	d := Dataset{ID: 1, Name: "ipinfo", Source: file, Format: "csv"}
	rows, got, err := s.Sync(ctx, d)
	if err != nil || rows != 2 || got != sum(v1) {
		t.Fatalf("first sync: %d %s %v", rows, got, err)
	}
	check := func(want string) {
		t.Helper()
		var out []string
		r, err := conn.Query(ctx, "SELECT start_ip, country_code FROM enrich_test.enrich_1 ORDER BY start_ip")
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

	// A tenant's threat list over HTTP.
	rows, _, err = s.Sync(ctx, Dataset{ID: 2, Tenant: "acme", Name: "threats", Source: srv.URL + "/list.txt", Format: "list"})
	var n uint64
	conn.QueryRow(ctx, "SELECT count() FROM enrich_test.enrich_2 WHERE indicator IN ('203.0.113.7', 'evil.example')").Scan(&n)
	if err != nil || rows != 2 || n != 2 {
		t.Errorf("threat list: %d rows, %d found, %v", rows, n, err)
	}
}

func addrOf(t *testing.T, srv *httptest.Server) netip.AddrPort {
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// A dataset whose URL reaches inside the deployment, directly or through
// a redirect, is refused at sync with an error that says so; the internal
// server sees no request, no table is made, and the error shown for the
// dataset never repeats the credentials its URL carried. Tables of
// deleted datasets go.
func TestSyncRefusesInternalSources(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS enrich_ssrf"); err != nil {
		t.Fatal(err)
	}
	_, db := metafixture.New(t, pg, "enrich_ssrf")
	if _, err := db.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ('acme', 'acme');
INSERT INTO scheduler_leader (id, epoch, holder, since) VALUES (1, 1, 'test', now())`); err != nil {
		t.Fatal(err)
	}
	// internal stands for ClickHouse's HTTP port or the metadata endpoint:
	// it must never be reached. public is the one address the test's guard
	// allows; it redirects inside. Every target is on loopback, so a guard
	// that failed would reach the test's server, never another address.
	var internalHits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		internalHits.Add(1)
		io.WriteString(w, "indicator\nsecret-from-inside\n")
	}))
	defer internal.Close()
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback":
			http.Redirect(w, r, internal.URL+"/?query=SELECT+1", http.StatusFound)
		case "/to-localhost":
			http.Redirect(w, r, strings.Replace(internal.URL, "127.0.0.1", "localhost", 1)+"/?query=SELECT+1", http.StatusFound)
		case "/to-mapped":
			http.Redirect(w, r, strings.Replace(internal.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1)+"/latest/meta-data/", http.StatusMovedPermanently)
		default:
			io.WriteString(w, "good.example\n")
		}
	}))
	defer public.Close()
	s := &Syncer{DB: db, Conn: conn, Engine: events.Engine{Database: "enrich_ssrf"}, Guard: fetchguard.New(fetchguard.TestOnlyAllow(addrOf(t, public)))}
	creds := strings.Replace(internal.URL, "http://", "http://feeduser:pa55w0rd@", 1) + "/x.csv?api_key=SECRET123"
	want := map[string]string{
		"direct":      "127.0.0.1 is a loopback address",
		"withcreds":   "127.0.0.1 is a loopback address",
		"toloopback":  "127.0.0.1 is a loopback address",
		"tolocalhost": "a redirect to http://localhost:",
		"tomapped":    "127.0.0.1 is a loopback address",
		"fine":        "",
	}
	sources := map[string]string{
		"direct": internal.URL + "/list.txt", "withcreds": creds, "toloopback": public.URL + "/to-loopback",
		"tolocalhost": public.URL + "/to-localhost", "tomapped": public.URL + "/to-mapped", "fine": public.URL + "/ok",
	}
	for name, source := range sources {
		// Stored as an older version or a changed DNS record would have
		// let them in: the sync checks again.
		if _, err := db.Exec(ctx, `INSERT INTO enrichment_datasets (tenant, name, source, format, interval_seconds) VALUES ('acme', $1, $2, 'list', 3600)`, name, source); err != nil {
			t.Fatal(err)
		}
	}
	// A table of a dataset that no longer exists.
	if err := conn.Exec(ctx, "CREATE TABLE enrich_ssrf.enrich_999 (indicator String) ENGINE = MergeTree() ORDER BY tuple()"); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncDue(ctx, 1); err == nil {
		t.Error("SyncDue reported no failure")
	}
	rows, err := db.Query(ctx, `SELECT id, name, last_error, last_rows FROM enrichment_datasets`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var name, msg string
		if err := rows.Scan(&id, &name, &msg, &n); err != nil {
			t.Fatal(err)
		}
		w := want[name]
		switch {
		case w == "" && (msg != "" || n != 1):
			t.Errorf("%s: %d rows, error %q", name, n, msg)
		case w != "" && !strings.Contains(msg, w):
			t.Errorf("%s: error %q, want one naming %q", name, msg, w)
		case strings.Contains(msg, "pa55w0rd") || strings.Contains(msg, "SECRET123"):
			t.Errorf("%s: the error repeats the source's credentials: %q", name, msg)
		}
		var exists uint8
		if err := conn.QueryRow(ctx, "EXISTS TABLE "+events.EnrichmentTable("enrich_ssrf", id)).Scan(&exists); err != nil || (exists == 1) != (w == "") {
			t.Errorf("%s: table exists %d (%v)", name, exists, err)
		}
	}
	if internalHits.Load() != 0 {
		t.Errorf("the internal server was reached %d times", internalHits.Load())
	}
	var gone uint8
	if err := conn.QueryRow(ctx, "EXISTS TABLE enrich_ssrf.enrich_999").Scan(&gone); err != nil || gone != 0 {
		t.Errorf("the table of a deleted dataset is still there (%d, %v)", gone, err)
	}
	// The production guard (what the api runs) refuses the test's loopback
	// servers too, the allowed one included.
	prod := &Syncer{Conn: conn, Engine: events.Engine{Database: "enrich_ssrf"}}
	if _, _, err := prod.Sync(ctx, Dataset{ID: 50, Tenant: "acme", Name: "p", Source: public.URL + "/ok", Format: "list"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("the production guard fetched from loopback: %v", err)
	}
}
