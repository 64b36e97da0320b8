package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/sqlgen"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

var ch *harness.ClickHouse

func TestMain(m *testing.M) { harness.MainWithClickHouse(m, &ch) }

var base = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// dataset is 240 events of two tenants over one hour; every query below is
// checked against a Go predicate over the same events.
func dataset() []events.Event {
	services := []string{"api", "web", "db"}
	levels := []string{"debug", "info", "info", "warn", "error"}
	messages := []string{"GET /users 200", "Connection reset by peer", "request timeout after 30s", "disk full on /var", "user login ok", "café ünïcode MESSAGE"}
	var out []events.Event
	for i := 0; i < 240; i++ {
		e := events.Event{
			Time:    base.Add(time.Duration(i)*15*time.Second + time.Duration(i%3)*250*time.Millisecond),
			Tenant:  "acme",
			Feed:    "http",
			Service: services[i%3], Host: fmt.Sprintf("web-%d", i%4), Severity: levels[i%5],
			Message:    messages[i%6],
			Attributes: events.Attrs{{Key: "http.status", Value: strconv.Itoa([]int{200, 404, 500, 503}[i%4])}, {Key: "duration", Value: strconv.Itoa(i % 97)}},
			Raw:        fmt.Sprintf(`{"i":%d}`, i),
		}
		if i%7 == 0 {
			e.Attributes = append(e.Attributes, events.Attr{Key: "user", Value: fmt.Sprintf("u%d", i%3)})
		}
		if i%10 == 0 {
			e.Tenant = "other" // never visible to acme
		}
		out = append(out, e)
	}
	return out
}

type check struct {
	q    string
	want func(e events.Event) bool
}

func num(e events.Event, k string) float64 {
	f, err := strconv.ParseFloat(e.Attributes.Map()[k], 64)
	if err != nil {
		return -1
	}
	return f
}

var checks = []check{
	{``, func(e events.Event) bool { return true }},
	{`level:error service:api`, func(e events.Event) bool { return e.Severity == "error" && e.Service == "api" }},
	{`level:ERROR`, func(e events.Event) bool { return e.Severity == "error" }},
	{`"connection reset"`, func(e events.Event) bool { return strings.Contains(e.Message, "Connection reset") }},
	{`timeout OR full`, func(e events.Event) bool {
		return strings.Contains(e.Message, "timeout") || strings.Contains(e.Message, "full")
	}},
	{`NOT level:debug -service:web`, func(e events.Event) bool { return e.Severity != "debug" && e.Service != "web" }},
	{`host:web-? service:a*`, func(e events.Event) bool { return e.Service == "api" }},
	{`http.status>=500 http.status<600`, func(e events.Event) bool { return num(e, "http.status") >= 500 }},
	{`duration:[10 TO 20]`, func(e events.Event) bool { d := num(e, "duration"); return d >= 10 && d <= 20 }},
	{`level>=warn`, func(e events.Event) bool { return e.Severity == "warn" || e.Severity == "error" }},
	{`level:[info TO warn]`, func(e events.Event) bool { return e.Severity == "info" || e.Severity == "warn" }},
	{`ts>=2026-11-23T09:30:00Z`, func(e events.Event) bool { return !e.Time.Before(base.Add(30 * time.Minute)) }},
	{`ts>2026-11-23T09:30:00.25Z`, func(e events.Event) bool { return e.Time.After(base.Add(30*time.Minute + 250*time.Millisecond)) }},
	{`ts:[2026-11-23T09:10:00Z TO 2026-11-23T09:20:00.5Z]`, func(e events.Event) bool {
		return !e.Time.Before(base.Add(10*time.Minute)) && !e.Time.After(base.Add(20*time.Minute+500*time.Millisecond))
	}},
	{`user:*`, func(e events.Event) bool { _, ok := e.Attributes.Map()["user"]; return ok }},
	{`-user:* message:"DISK"`, func(e events.Event) bool {
		_, ok := e.Attributes.Map()["user"]
		return !ok && strings.Contains(e.Message, "disk")
	}},
	{`ünï*`, func(e events.Event) bool { return strings.Contains(e.Message, "ünïcode") }},
	{`CAFÉ`, func(e events.Event) bool { return strings.Contains(e.Message, "café") }},
	{`raw:"{\"i\":7}"`, func(e events.Event) bool { return e.Raw == `{"i":7}` }},
	{`raw:*23?}`, func(e events.Event) bool { return regexp.MustCompile(`23.\}`).MatchString(e.Raw) }},
	{`http.status!=200 (service:db OR host:web-1)`, func(e events.Event) bool {
		return e.Attributes.Map()["http.status"] != "200" && (e.Service == "db" || e.Host == "web-1")
	}},
	{`"'; DROP TABLE nano.events; --"`, func(e events.Event) bool { return false }},
	{`service:"a'b\\"`, func(e events.Event) bool { return false }},
	// The longest boolean chains a query may hold (query.MaxTerms terms)
	// run on both engines: they compile flat, within the AST limits sent.
	{longChain(" OR ", "service:web", "x:no"), func(e events.Event) bool { return e.Service == "web" }},
	{longChain(" AND ", "service:web", "-x:no"), func(e events.Event) bool { return e.Service == "web" }},
	{longChain(" ", "level:error", "NOT (x:a OR y:b)"), func(e events.Event) bool { return e.Severity == "error" }},
}

// longChain is first and then copies of filler joined by op, with
// query.MaxTerms terms in all.
func longChain(op, first, filler string) string {
	terms := []string{first}
	n := 1
	for per := strings.Count(filler, ":"); n+per <= query.MaxTerms; n += per {
		terms = append(terms, filler)
	}
	return strings.Join(terms, op)
}

func expected(all []events.Event, c check) int {
	n := 0
	for _, e := range all {
		if e.Tenant == "acme" && c.want(e) {
			n++
		}
	}
	return n
}

func compile(t *testing.T, q string, page int) *sqlgen.Statement {
	t.Helper()
	parsed, err := query.Parse(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	st, err := sqlgen.Compile(sqlgen.Request{Query: parsed, Tenant: "acme", From: base, To: base.Add(time.Hour), Now: base.Add(time.Hour),
		Table: "nano.events", PageSize: page})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return st
}

func load(t *testing.T) (driver.Conn, []events.Event) {
	harness.Servers(t)
	t.Helper()
	ctx := context.Background()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Migrate(ctx, conn, events.Engine{Version: v, Database: "nano"}); err != nil {
		t.Fatal(err)
	}
	all := dataset()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM nano.events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		b, err := conn.PrepareBatch(ctx, events.InsertSQL("nano.events"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if err := b.Append(e.Row()...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	return conn, all
}

// Every query shape on the harness's ClickHouse (18.16, values bound by the
// driver) returns exactly the events the Go predicate picks.
func TestQueriesOnServer(t *testing.T) {
	harness.Servers(t)
	conn, all := load(t)
	r, err := New(context.Background(), conn, Limits{MaxExecutionTime: 10 * time.Second, MaxRowsToRead: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	if r.ServerParams {
		t.Fatal("the harness server is old; this test covers driver-bound values")
	}
	for _, c := range checks {
		st := compile(t, c.q, 1000)
		var rows [][]any
		stats, err := r.Run(context.Background(), st, func(row []any) error { rows = append(rows, row); return nil })
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if want := expected(all, c); len(rows) != want || stats.Rows != want {
			t.Errorf("%s: %d rows, want %d", c.q, len(rows), want)
		}
		if stats.RowsRead == 0 {
			t.Errorf("%s: no rows read reported", c.q)
		}
		for i := 1; i < len(rows); i++ {
			if rows[i-1][0].(string) < rows[i][0].(string) {
				t.Fatalf("%s: rows not newest first: %v then %v", c.q, rows[i-1][0], rows[i][0])
			}
		}
	}
	// One row in full: the timestamp keeps its nanoseconds, attributes are
	// an object.
	var got []any
	if _, err := r.Run(context.Background(), compile(t, `duration:1 ts<2026-11-23T09:00:16Z`, 10), func(row []any) error { got = row; return nil }); err != nil {
		t.Fatal(err)
	}
	want := []any{"2026-11-23T09:00:15.25Z", "http", "info", "web", "web-1", "Connection reset by peer", map[string]string{"duration": "1", "http.status": "404"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("row %v, want %v", got, want)
	}
}

// Aggregations match Go's counts, sums and distinct counts.
func TestStatsOnServer(t *testing.T) {
	harness.Servers(t)
	conn, all := load(t)
	r, err := New(context.Background(), conn, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st := compile(t, `level:error | stats count(), avg(duration) as avg_ms, max(duration), dc(host) as hosts by service | sort service`, 100)
	got := map[string]string{}
	if _, err := r.Run(context.Background(), st, func(row []any) error {
		got[row[0].(string)] = fmt.Sprintf("%v %.3f %v %v", row[1], row[2], row[3], row[4])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	type agg struct {
		n, sum, max float64
		hosts       map[string]bool
	}
	by := map[string]*agg{}
	for _, e := range all {
		if e.Tenant != "acme" || e.Severity != "error" {
			continue
		}
		a := by[e.Service]
		if a == nil {
			a = &agg{hosts: map[string]bool{}}
			by[e.Service] = a
		}
		d := num(e, "duration")
		a.n++
		a.sum += d
		if d > a.max {
			a.max = d
		}
		a.hosts[e.Host] = true
	}
	want := map[string]string{}
	for s, a := range by {
		want[s] = fmt.Sprintf("%v %.3f %v %v", a.n, a.sum/a.n, a.max, len(a.hosts))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stats %v, want %v", got, want)
	}
	// avg of an attribute no event has is NULL, shown as nil.
	st = compile(t, `| stats avg(nope), count()`, 10)
	if _, err := r.Run(context.Background(), st, func(row []any) error {
		if row[0] != nil {
			t.Errorf("avg(nope) = %v, want nil", row[0])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The complexity settings reach the server: SQL nested deeper than
// MaxASTDepth (as the compiler once made of long chains) is refused by
// ClickHouse with TOO_DEEP_AST, and the server keeps serving.
func TestASTLimitsReachTheServer(t *testing.T) {
	harness.Servers(t)
	conn, _ := load(t)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(Limits{}.Settings()))
	// ((a AND b) AND c) ...: one and() inside the next, as binary chains were.
	deep := strings.Repeat("(", MaxASTDepth) + "dummy = 0" + strings.Repeat(" AND dummy = 0)", MaxASTDepth)
	err := conn.Exec(ctx, "SELECT count() FROM system.one WHERE "+deep)
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 167 {
		t.Fatalf("nested %d deep: %v, want TOO_DEEP_AST (167)", MaxASTDepth, err)
	}
	if err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the server after a refused query: %v", err)
	}
}

// Limits reach the server: a search that must read more rows than allowed
// fails with ClickHouse's error instead of running on.
func TestLimitsReachTheServer(t *testing.T) {
	harness.Servers(t)
	conn, _ := load(t)
	r, err := New(context.Background(), conn, Limits{MaxRowsToRead: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), compile(t, `timeout`, 10), func([]any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "Limit for rows") {
		t.Errorf("err %v, want ClickHouse's row limit", err)
	}
}

// The same statements on the modern engine (ClickHouse 26.7 in-process),
// with the values as server-side parameters: same answers.
func TestQueriesOnModernEngine(t *testing.T) {
	harness.Servers(t)
	db, err := chdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Query("SELECT version()", "TSV")
	if err != nil {
		t.Fatal(err)
	}
	version, err := events.ParseVersion(strings.TrimSpace(v))
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: version, Database: "nano", RetentionDays: 3650}
	must := func(sql string) string {
		t.Helper()
		out, err := db.Query(sql, "JSONEachRow")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return out
	}
	must("CREATE DATABASE IF NOT EXISTS nano")
	for _, m := range events.Migrations {
		for _, sql := range m.Statements(e) {
			must(sql)
		}
	}
	all := dataset()
	var rows strings.Builder
	for _, ev := range all {
		row := ev.Row()
		obj := map[string]any{}
		for i, c := range events.Columns {
			obj[c] = row[i]
		}
		obj["ts"] = row[0].(time.Time).Format("2006-01-02 15:04:05")
		b, _ := json.Marshal(obj)
		rows.Write(b)
		rows.WriteByte('\n')
	}
	must(events.InsertSQL("nano.events") + " FORMAT JSONEachRow\n" + rows.String())
	run := func(st *sqlgen.Statement) []map[string]any {
		for _, p := range st.Params {
			// A parameter's value is text in the escaped format (as the
			// driver sends it), here inside an SQL string literal.
			text := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`).Replace(fmt.Sprint(p.Value))
			must(fmt.Sprintf("SET param_%s = '%s'", p.Name, strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(text)))
		}
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(must(st.SQL)), "\n") {
			if l == "" {
				continue
			}
			m := map[string]any{}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	for _, c := range checks {
		if got, want := len(run(compile(t, c.q, 1000))), expected(all, c); got != want {
			t.Errorf("%s: %d rows, want %d", c.q, got, want)
		}
	}
	// The modern engine refuses SQL nested deeper than MaxASTDepth too, and
	// keeps answering: its parser's own depth limit (max_parser_depth, TOO_DEEP_RECURSION)
	// may stop it before the AST check (TOO_DEEP_AST); search maps both to 400.
	deep := strings.Repeat("(", MaxASTDepth) + "dummy = 0" + strings.Repeat(" AND dummy = 0)", MaxASTDepth)
	if _, err := db.Query(fmt.Sprintf("SELECT count() FROM system.one WHERE %s SETTINGS max_ast_depth = %d", deep, MaxASTDepth), "TSV"); err == nil || !strings.Contains(err.Error(), "TOO_DEEP_AST") && !strings.Contains(err.Error(), "TOO_DEEP_RECURSION") {
		t.Errorf("nested %d deep on the modern engine: %v, want TOO_DEEP_AST or TOO_DEEP_RECURSION", MaxASTDepth, err)
	}
	must("SELECT 1")
	got := run(compile(t, `| stats count() as n by service | sort service`, 10))
	var names []string
	total := 0.0
	for _, r := range got {
		names = append(names, r["g0"].(string))
		n, _ := strconv.ParseFloat(fmt.Sprint(r["a0"]), 64)
		total += n
	}
	if !sort.StringsAreSorted(names) || len(names) != 3 || int(total) != expected(all, checks[0]) {
		t.Errorf("stats on the modern engine: %v", got)
	}
}
