// Command search benchmarks nano's search service: it starts ClickHouse
// and PostgreSQL (the test harness's), loads generated events (10 million
// by default, over the last 24 hours), starts the search binary, and for a
// fixed set of questions measures p50/p95 latency three ways in the same
// run: through the service (HTTP, JSON, admission, history), the SQL the
// service generates run directly, and hand-written SQL for the same
// question. It prints the figures and the generated/hand-written ratio.
//
//	go run ./tests/bench/search [-events 10000000] [-runs 30]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/search/sqlgen"
	"github.com/nanosiem/nano/tests/harness"
)

// question is one benchmark query: what an analyst types and what an
// expert would write by hand for the same answer ({from}/{to} are the
// range's Unix seconds).
type question struct {
	name, query, hand string
	filter            bool // counts toward the p95 <= 300 ms target
}

const cols = "ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values"

var questions = []question{
	{"field filter", `level:error service:checkout`,
		"SELECT " + cols + " FROM bench.events WHERE tenant = 'acme' AND ts >= toDateTime({from}) AND ts <= toDateTime({to}) AND severity = 'error' AND service = 'checkout' ORDER BY ts DESC, ts_nanos DESC LIMIT 101", true},
	{"attribute filter", `http.status>=500 host:web-7`,
		"SELECT " + cols + " FROM bench.events WHERE tenant = 'acme' AND ts >= toDateTime({from}) AND ts <= toDateTime({to}) AND toFloat64OrNull(attr_values[indexOf(attr_keys, 'http.status')]) >= 500 AND host = 'web-7' ORDER BY ts DESC, ts_nanos DESC LIMIT 101", true},
	{"free text", `"connection reset"`,
		"SELECT " + cols + " FROM bench.events WHERE tenant = 'acme' AND ts >= toDateTime({from}) AND ts <= toDateTime({to}) AND positionCaseInsensitiveUTF8(message, 'connection reset') > 0 ORDER BY ts DESC, ts_nanos DESC LIMIT 101", true},
	{"time range", `ts:[-3h TO -2h]`,
		"SELECT " + cols + " FROM bench.events WHERE tenant = 'acme' AND ts >= toDateTime({to} - 3*3600) AND ts <= toDateTime({to} - 2*3600) ORDER BY ts DESC, ts_nanos DESC LIMIT 101", true},
	{"stats by field", `| stats count() by service`,
		"SELECT service, count() AS c FROM bench.events WHERE tenant = 'acme' AND ts >= toDateTime({from}) AND ts <= toDateTime({to}) GROUP BY service ORDER BY c DESC LIMIT 101", false},
	{"stats by field, filtered", `level:error | stats count(), avg(duration_ms) by service`,
		"SELECT service, count() AS c, avg(toFloat64OrNull(attr_values[indexOf(attr_keys, 'duration_ms')])) FROM bench.events WHERE tenant = 'acme' AND ts >= toDateTime({from}) AND ts <= toDateTime({to}) AND severity = 'error' GROUP BY service ORDER BY c DESC LIMIT 101", false},
}

func main() {
	n := flag.Int("events", 10_000_000, "events to load")
	runs := flag.Int("runs", 30, "measured runs per question and way")
	flag.Parse()
	if err := bench(*n, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench-search:", err)
		os.Exit(1)
	}
}

func bench(n, runs int) error {
	ctx := context.Background()
	ch, err := harness.StartClickHouse()
	if err != nil {
		return err
	}
	defer ch.Stop()
	pg, err := harness.StartPostgres()
	if err != nil {
		return err
	}
	defer pg.Stop()
	conn, err := ch.Open()
	if err != nil {
		return err
	}
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		return err
	}
	if err := events.Migrate(ctx, conn, events.Engine{Version: v, Database: "bench"}); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	if err := load(ctx, conn, n, now); err != nil {
		return err
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM bench.events").Scan(&stored); err != nil {
		return err
	}
	fmt.Printf("loaded %d events in %.1f s (ClickHouse %d.%d.%d, %d cores)\n", stored, time.Since(start).Seconds(), v[0], v[1], v[2], nproc())

	pgURL, token, err := searchToken(ctx, pg)
	if err != nil {
		return err
	}
	base, stop, err := startService(ch.Addr, pgURL)
	if err != nil {
		return err
	}
	defer stop()

	r, err := runner.New(ctx, conn, runner.Limits{})
	if err != nil {
		return err
	}
	return compare(ctx, conn, r, base, token, now, runs)
}

// searchToken makes the metadata database the service reads and a
// search token of tenant acme.
func searchToken(ctx context.Context, pg *harness.Postgres) (string, string, error) {
	pgURL, err := pg.CreateDatabase(ctx, "bench")
	if err != nil {
		return "", "", err
	}
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	if err := metadb.Migrate(ctx, db); err != nil {
		return "", "", err
	}
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		return "", "", err
	}
	token, _, err := authtoken.Issue(ctx, db, "acme", nil, "bench", []string{authtoken.ScopeSearch}, nil)
	return pgURL, token, err
}

// compare times each question of the last 24 h three ways (through the
// service, its generated SQL direct, hand-written SQL direct) and prints
// them with the targets.
func compare(ctx context.Context, conn driver.Conn, r *runner.Runner, base, token string, now time.Time, runs int) error {
	from := now.Add(-24 * time.Hour)
	fmt.Printf("\n%-26s %8s %8s | %8s %8s | %8s %8s | %6s %6s\n", "question (last 24 h)", "svc p50", "svc p95", "gen p50", "gen p95", "hand p50", "hand p95", "gen/hand", "rows")
	worstFilterP95, worstRatio := 0.0, 0.0
	for _, q := range questions {
		body, _ := json.Marshal(map[string]any{"query": q.query, "from": from.Format(time.RFC3339), "to": now.Format(time.RFC3339), "page_size": 100})
		svc, rows, err := measure(runs, func() (int, error) { return viaService(base, token, body) })
		if err != nil {
			return fmt.Errorf("%s via the service: %w", q.name, err)
		}
		parsed, err := query.Parse(q.query)
		if err != nil {
			return err
		}
		st, err := sqlgen.Compile(sqlgen.Request{Query: parsed, Tenant: "acme", From: from, To: now, Now: now, Table: "bench.events", PageSize: 101})
		if err != nil {
			return err
		}
		gen, _, err := measure(runs, func() (int, error) {
			s, err := r.Run(ctx, st, func([]any) error { return nil })
			return s.Rows, err
		})
		if err != nil {
			return fmt.Errorf("%s generated SQL: %w", q.name, err)
		}
		hand := strings.NewReplacer("{from}", fmt.Sprint(from.Unix()), "{to}", fmt.Sprint(now.Unix())).Replace(q.hand)
		hw, _, err := measure(runs, func() (int, error) { return drain(ctx, conn, hand) })
		if err != nil {
			return fmt.Errorf("%s hand-written SQL: %w", q.name, err)
		}
		ratio := gen.p50 / hw.p50
		fmt.Printf("%-26s %8.1f %8.1f | %8.1f %8.1f | %8.1f %8.1f | %6.2fx %6d\n", q.name, svc.p50, svc.p95, gen.p50, gen.p95, hw.p50, hw.p95, ratio, rows)
		if q.filter && svc.p95 > worstFilterP95 {
			worstFilterP95 = svc.p95
		}
		worstRatio = max(worstRatio, ratio)
	}
	fmt.Printf("\nmilliseconds; %d runs each after 3 warm-up runs; svc = HTTP end to end, gen = generated SQL direct, hand = hand-written SQL direct\n", runs)
	fmt.Printf("targets: filter p95 <= 300 ms: worst %.1f ms (%s); generated within 1.2x of hand-written: worst %.2fx (%s)\n",
		worstFilterP95, verdict(worstFilterP95 <= 300), worstRatio, verdict(worstRatio <= 1.2))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// load generates n events over the 24 hours before now inside ClickHouse
// (INSERT ... SELECT from numbers()), a million per statement. 90% belong
// to tenant acme; one in 500 messages says "connection reset".
func load(ctx context.Context, conn driver.Conn, n int, now time.Time) error {
	const chunk = 1_000_000
	for off := 0; off < n; off += chunk {
		size := min(chunk, n-off)
		sql := fmt.Sprintf(`INSERT INTO bench.events (%s)
SELECT
    toDateTime(%d - intDiv(i * 86400, %d)) AS ts,
    toUInt32((i * 7919) %% 1000000000) AS ts_nanos,
    if(i %% 10 = 0, 'other', 'acme') AS tenant,
    'http' AS feed,
    arrayElement(['info', 'info', 'info', 'warn', 'error', 'debug'], (i %% 6) + 1) AS severity,
    arrayElement(['checkout', 'cart', 'search', 'auth', 'payments', 'shipping', 'catalog', 'users', 'orders', 'gateway', 'mailer', 'billing'], (intDiv(i, 7) %% 12) + 1) AS service,
    concat('web-', toString(intDiv(i, 3) %% 50)) AS host,
    concat('GET /api/v1/orders/', toString(i), '?expand=items,customer HTTP/1.1 ', toString(200 + (i %% 5) * 100), ' in ', toString(i %% 900), ' ms from 10.', toString(i %% 256), '.', toString(intDiv(i, 256) %% 256), '.7', if(i %% 500 = 3, ' upstream: Connection reset by peer', '')) AS message,
    ['http.status', 'duration_ms', 'user.id', 'region'] AS attr_keys,
    [toString(200 + (i %% 5) * 100), toString(i %% 900), concat('u-', toString(i %% 10000)), 'eu-central-1'] AS attr_values,
    concat('{"i":', toString(i), '}') AS raw
FROM (SELECT number + %d AS i FROM numbers(%d))`, strings.Join(events.Columns, ", "), now.Unix(), n, off, size)
		if err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("cannot load events: %w", err)
		}
	}
	// Merge parts so every way reads the same layout.
	return conn.Exec(ctx, "OPTIMIZE TABLE bench.events FINAL")
}

type latency struct{ p50, p95 float64 }

// measure runs f 3 times to warm up, then runs times, and returns the
// latency percentiles in milliseconds and the rows of the last run.
func measure(runs int, f func() (int, error)) (latency, int, error) {
	var ms []float64
	rows := 0
	for i := 0; i < runs+3; i++ {
		t := time.Now()
		n, err := f()
		if err != nil {
			return latency{}, 0, err
		}
		if i >= 3 {
			ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		}
		rows = n
	}
	sort.Float64s(ms)
	pct := func(p float64) float64 { return ms[min(len(ms)-1, int(p*float64(len(ms))))] }
	return latency{pct(0.50), pct(0.95)}, rows, nil
}

func viaService(base, token string, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", base+"/v1/search", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var r struct {
		Count  int             `json:"count"`
		Errors json.RawMessage `json:"errors"` // a failure after rows were sent
	}
	if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != 200 || r.Errors != nil {
		return 0, fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
	}
	return r.Count, nil
}

func drain(ctx context.Context, conn driver.Conn, sql string) (int, error) {
	rows, err := conn.Query(clickhouse.Context(ctx), sql)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// startService builds and starts the search binary; stop ends it.
func startService(chAddr, pgURL string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "bench-search")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "search")
	if out, err := exec.Command("go", "build", "-o", bin, "./services/search").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("cannot build the search service: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	svc := exec.Command(bin)
	svc.Env = append(os.Environ(), contract.ClickHouseAddr+"="+chAddr, contract.ClickHouseDatabase+"=bench",
		contract.PostgresURL+"="+pgURL, contract.ListenAddr+"="+addr)
	svc.Stderr = io.Discard
	if err := svc.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { svc.Process.Kill(); svc.Wait(); os.RemoveAll(dir) }
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(base + contract.ReadyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("the search service did not get ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func nproc() int { return runtime.NumCPU() }
