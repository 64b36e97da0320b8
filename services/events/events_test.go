package events

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/tests/harness"
)

var (
	ch     *harness.ClickHouse
	update = flag.Bool("update", false, "rewrite golden files")
)

// connect opens the test server (closed with the test) and detects its
// version; ctx ends with the test or after 30 s.
func connect(t *testing.T) (context.Context, driver.Conn, [3]int) {
	harness.Servers(t)
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	version, err := DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, conn, version
}

func TestMain(m *testing.M) {
	flag.Parse()
	harness.MainWithClickHouse(m, &ch)
}

// On the real server: migrations apply once and again as no-ops, events go
// in through the one insert statement and come back with their nanoseconds
// and attributes.
func TestMigrateAndRoundTrip(t *testing.T) {
	harness.Servers(t)
	ctx, conn, version := connect(t)
	e := Engine{Version: version, Database: "nano_rt", RetentionDays: 90}
	for i := 0; i < 2; i++ {
		if err := Migrate(ctx, conn, e); err != nil {
			t.Fatalf("migrate run %d: %v", i+1, err)
		}
	}
	applied, err := Applied(ctx, conn, e.Database)
	if err != nil || len(applied) != len(Migrations) {
		t.Fatalf("applied %v, %v", applied, err)
	}
	var recorded uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM nano_rt.schema_migrations").Scan(&recorded); err != nil || recorded != uint64(len(Migrations)) {
		t.Errorf("schema_migrations has %d rows after two runs, want %d (%v)", recorded, len(Migrations), err)
	}
	at := time.Date(2026, 11, 23, 10, 4, 5, 123456789, time.UTC)
	batch, err := conn.PrepareBatch(ctx, InsertSQL(e.Table()))
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Time: at, Tenant: "acme", Feed: "http", Severity: NormalizeSeverity("WARNING"), Service: "api", Host: "web-1",
		Message: "disk almost full", Attributes: Attrs{{"used.pct", "93"}, {"disk", "/var"}}, Raw: `{"msg":"disk almost full"}`}
	if err := batch.Append(ev.Row()...); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var (
		ts              time.Time
		nanos           uint32
		tenant, sev     string
		keys, vals      []string
		message, rawOut string
	)
	if err := conn.QueryRow(ctx, "SELECT ts, ts_nanos, tenant, severity, attr_keys, attr_values, message, raw FROM nano_rt.events").
		Scan(&ts, &nanos, &tenant, &sev, &keys, &vals, &message, &rawOut); err != nil {
		t.Fatal(err)
	}
	got := time.Unix(ts.Unix(), int64(nanos)).UTC()
	if !got.Equal(at) || tenant != "acme" || sev != "warn" || strings.Join(keys, ",") != "disk,used.pct" ||
		strings.Join(vals, ",") != "/var,93" || message != ev.Message || rawOut != ev.Raw {
		t.Errorf("read back %v %q %q %v %v %q %q", got, tenant, sev, keys, vals, message, rawOut)
	}
}

// The DDL per engine and layout, as golden files: what a modern server gets
// (codecs, LowCardinality, token index, TTL to the warm volume, storage
// policy, Distributed over replicated shards) and what an old one gets.
func TestDDLGolden(t *testing.T) {
	modern := [3]int{25, 8, 0}
	for name, e := range map[string]Engine{
		"single-legacy":  {Version: [3]int{18, 16, 1}, Database: "nano", RetentionDays: 90},
		"single-modern":  {Version: modern, Database: "nano", RetentionDays: 90},
		"cluster-modern": {Version: modern, Database: "nano", Cluster: "nano", StoragePolicy: "nano_hot_warm", WarmAfterDays: 30, RetentionDays: 365},
	} {
		var b strings.Builder
		for _, m := range Migrations {
			for _, s := range m.Statements(e) {
				fmt.Fprintf(&b, "-- migration %d: %s\n%s\n", m.Version, m.Name, s)
			}
		}
		path := filepath.Join("testdata", name+".sql")
		if *update {
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != b.String() {
			t.Errorf("%s differs from the DDL; review and run go test ./services/events -update\n%s", path, b.String())
		}
	}
}

func TestEngineValidate(t *testing.T) {
	err := Engine{Database: "nano; DROP", Cluster: "a-b", StoragePolicy: "p", WarmAfterDays: 400, RetentionDays: 365}.Validate()
	for _, want := range []string{`database "nano; DROP" is not an identifier`, `cluster "a-b" is not an identifier`, "warm after 400 days and retention 365 days"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
}

func TestClampAndSeverity(t *testing.T) {
	l := DefaultLimits
	e := Event{Message: strings.Repeat("é", l.MessageBytes)}
	for i := l.Attributes + 9; i >= 0; i-- {
		e.Attributes = append(e.Attributes, Attr{fmt.Sprintf("k%03d", i), "v"})
	}
	e.Attributes = append(e.Attributes, Attr{"k000", "last"}) // a repeat: the last value wins
	e.Clamp(l)
	if len(e.Message) > l.MessageBytes || !strings.HasSuffix(e.Message, "é") || len(e.Attributes) != l.Attributes {
		t.Errorf("clamped message %d bytes, %d attributes", len(e.Message), len(e.Attributes))
	}
	if a := e.Attributes; a[0] != (Attr{"k000", "last"}) || a[len(a)-1].Key != fmt.Sprintf("k%03d", l.Attributes-1) {
		t.Errorf("clamp kept %v ... %v, want k000=last ... the first %d keys", a[0], a[len(a)-1], l.Attributes)
	}
	// Keys shortened to the same prefix are one attribute afterwards.
	e = Event{Attributes: Attrs{{"abcd", "1"}, {"abce", "2"}, {"x", "3"}, {"x", "4"}}}
	e.Clamp(Limits{FieldBytes: 3, MessageBytes: 10, RawBytes: 10, Attributes: 10})
	if got := fmt.Sprint(e.Attributes); got != "[{abc 2} {x 4}]" {
		t.Errorf("clamped attributes %s, want [{abc 2} {x 4}]", got)
	}
	for in, want := range map[string]string{"WARNING": "warn", "err": "error", "Critical": "fatal", "notice": "info", "custom": "custom"} {
		if got := NormalizeSeverity(in); got != want {
			t.Errorf("NormalizeSeverity(%q) = %q, want %q", in, got, want)
		}
	}
	if v, err := ParseVersion("18.16.1"); err != nil || v != [3]int{18, 16, 1} {
		t.Errorf("ParseVersion: %v %v", v, err)
	}
}
