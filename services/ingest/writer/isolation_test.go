package writer

import (
	"context"
	"errors"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/tests/chdb"
)

// spread is n events of tenant, one per day going back from the day
// before today (n distinct days).
func spread(tenant string, n int) []events.Event {
	out := make([]events.Event, n)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for i := range out {
		out[i] = events.Event{Time: day.AddDate(0, 0, -1-i).Add(time.Hour), Tenant: tenant, Feed: "test", Message: fmt.Sprintf("spread %d", i), Raw: "{}"}
	}
	return out
}

func of(tenant, tag string, n int) []events.Event {
	evs := batchOf(n, tag)
	for i := range evs {
		evs[i].Tenant = tenant
	}
	return evs
}

// outcome is one request's result.
type outcome struct {
	name string
	err  error
}

// enqueueAll queues named requests before the writer runs (one batch:
// FlushInterval is long, MaxBatchEvents large), runs it until they are
// answered and returns each request's error by name.
func enqueueAll(t *testing.T, w *Writer, reqs map[string][]events.Event, order []string) map[string]error {
	t.Helper()
	results := make(chan outcome, len(order))
	for _, name := range order {
		name := name
		if err := w.Enqueue("http", reqs[name], func(err error) { results <- outcome{name, err} }); err != nil {
			results <- outcome{name, err}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	out := map[string]error{}
	for range order {
		select {
		case o := <-results:
			out[o.name] = o.err
		case <-time.After(60 * time.Second):
			t.Fatalf("requests unanswered after 60 s: %v", out)
		}
	}
	cancel()
	<-stopped
	return out
}

// The failure on the engine the tiers deploy (ClickHouse 26.7
// in-process here): an insert block of more than 100 days is refused
// whole (max_partitions_per_insert_block), so one request spread over
// 150 days fails every other request batched with it. The writer keeps
// them apart: with its day bound (90) the spread request never reaches
// ClickHouse, and when the server's limit is lower than the writer's
// bound (a server configured so, simulated with a bound of 1000) the
// batch ClickHouse refuses is split and only the spread request fails;
// the two others are committed.
func TestPartitionLimitOnModernEngine(t *testing.T) {
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
	run := func(sql string) string {
		t.Helper()
		out, err := db.Query(sql, "TSV")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return strings.TrimSpace(out)
	}
	run("CREATE DATABASE nano")
	for _, m := range events.Migrations {
		for _, sql := range m.Statements(e) {
			run(sql)
		}
	}
	if got := run("SELECT value FROM system.settings WHERE name = 'max_partitions_per_insert_block'"); got != "100" {
		t.Fatalf("max_partitions_per_insert_block is %s, want the default 100", got)
	}
	count := func(tenant string) string {
		return run("SELECT count() FROM nano.events WHERE tenant = '" + tenant + "'")
	}
	store := chdb.Inserter{Engine: db}

	// The failure itself: one insert of the three requests' rows.
	b, err := store.PrepareBatch(context.Background(), events.InsertSQL(e.Table()))
	if err != nil {
		t.Fatal(err)
	}
	var block events.Block
	for _, evs := range [][]events.Event{of("acme", "a", 10), spread("mallory", 150), of("globex", "b", 10)} {
		for i := range evs {
			block.Add(&evs[i])
		}
	}
	if err := block.AppendTo(b); err != nil {
		t.Fatal(err)
	}
	err = b.Send()
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 252 || !strings.Contains(ex.Message, "max_partitions_per_insert_block") {
		t.Fatalf("one insert of 150 days and two small requests: %v, want ClickHouse's TOO_MANY_PARTS (252) naming max_partitions_per_insert_block", err)
	}
	if count("acme")+count("globex") != "00" {
		t.Fatal("the refused insert stored rows")
	}
	t.Logf("ClickHouse %s on one batch of all three: %v", strings.TrimSpace(v), err)

	reqs := map[string][]events.Event{"acme": of("acme", "a", 10), "mallory": spread("mallory", 150), "globex": of("globex", "b", 10)}
	order := []string{"acme", "mallory", "globex"}

	// The writer's bound: the spread request is refused at once.
	m := telemetry.New()
	w, err := New(store, Config{Table: e.Table(), FlushInterval: 50 * time.Millisecond, MaxAttempts: 2, RetryBackoff: 10 * time.Millisecond}, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	got := enqueueAll(t, w, reqs, order)
	var refused *RefusedError
	if got["acme"] != nil || got["globex"] != nil || !errors.As(got["mallory"], &refused) {
		t.Fatalf("with the day bound: %v; want acme and globex committed, mallory refused", got)
	}
	if exception(refused.Err) != nil || testutil.ToFloat64(m.BatchSplits) != 0 || testutil.ToFloat64(m.CHErrors) != 0 {
		t.Errorf("with the day bound the spread request reached ClickHouse: %v (splits %v, ClickHouse errors %v)",
			refused, testutil.ToFloat64(m.BatchSplits), testutil.ToFloat64(m.CHErrors))
	}
	if count("acme") != "10" || count("globex") != "10" || count("mallory") != "0" {
		t.Errorf("stored acme %s, globex %s, mallory %s; want 10, 10, 0", count("acme"), count("globex"), count("mallory"))
	}

	// A server whose limit is below the writer's bound: ClickHouse
	// refuses the batch, the writer splits it.
	run("TRUNCATE TABLE nano.events")
	m = telemetry.New()
	w, err = New(store, Config{Table: e.Table(), FlushInterval: 50 * time.Millisecond, MaxAttempts: 2, RetryBackoff: 10 * time.Millisecond, MaxBatchDays: 1000}, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	got = enqueueAll(t, w, reqs, order)
	if got["acme"] != nil || got["globex"] != nil {
		t.Fatalf("innocent requests batched with a 150-day one: %v; want both committed", got)
	}
	if !errors.As(got["mallory"], &refused) || !strings.Contains(refused.Error(), "code 252") {
		t.Fatalf("the 150-day request: %v, want ClickHouse's refusal (code 252) as a *RefusedError", got["mallory"])
	}
	if count("acme") != "10" || count("globex") != "10" || count("mallory") != "0" {
		t.Errorf("stored acme %s, globex %s, mallory %s; want 10, 10, 0", count("acme"), count("globex"), count("mallory"))
	}
	if n := testutil.ToFloat64(m.BatchSplits); n < 1 {
		t.Errorf("%v batch splits, want at least 1", n)
	}
	t.Logf("refused: %v", refused)
}

// A batch ClickHouse refuses for one request's rows, on the 18.16 server:
// a check on the insert path (a materialized view reading the inserted
// block, as signal rules do, that throws on the poisoned rows before
// anything is stored) refuses every insert holding them. The writer
// commits every other request of the batch and gives the poisoned one
// its refusal; a request alone whose rows ClickHouse refuses is refused
// too (the refusal is about its data), and nothing is stored twice.
func TestRefusedRequestDoesNotFailItsBatch(t *testing.T) {
	harness.Servers(t)
	conn, table := setup(t, "w_poison")
	ctx := context.Background()
	for _, sql := range []string{
		"CREATE TABLE w_poison.sink AS " + table + " ENGINE = Null",
		"CREATE MATERIALIZED VIEW w_poison.guard TO " + table + " AS SELECT * FROM w_poison.sink WHERE throwIf(message LIKE 'poison%') = 0",
	} {
		if err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	reqs := map[string][]events.Event{}
	var order []string
	for i := range 7 {
		name := fmt.Sprintf("client%d", i)
		if i == 3 {
			name = "mallory"
			reqs[name] = of("mallory", "poison", 5)
		} else {
			reqs[name] = of(name, name, 20)
		}
		order = append(order, name)
	}
	m := telemetry.New()
	w, err := New(conn, Config{Table: "w_poison.sink", FlushInterval: 50 * time.Millisecond, MaxAttempts: 3, RetryBackoff: 10 * time.Millisecond}, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	got := enqueueAll(t, w, reqs, order)
	for _, name := range order {
		var refused *RefusedError
		switch {
		case name == "mallory" && !errors.As(got[name], &refused):
			t.Errorf("the poisoned request: %v, want a *RefusedError", got[name])
		case name != "mallory" && got[name] != nil:
			t.Errorf("%s, batched with the poisoned request: %v, want committed", name, got[name])
		}
	}
	var stored, poisoned uint64
	if err := conn.QueryRow(ctx, "SELECT count(), countIf(tenant = 'mallory') FROM "+table).Scan(&stored, &poisoned); err != nil {
		t.Fatal(err)
	}
	if stored != 6*20 || poisoned != 0 {
		t.Errorf("stored %d events (%d poisoned), want the six others' 120 once and none poisoned", stored, poisoned)
	}
	if testutil.ToFloat64(m.BatchSplits) < 1 || w.LastError() != nil {
		t.Errorf("splits %v, last error %v; want splits and no server failure", testutil.ToFloat64(m.BatchSplits), w.LastError())
	}
	t.Logf("answers: %v; splits %v", got, testutil.ToFloat64(m.BatchSplits))

	// Alone, the poisoned request is refused for its data.
	w, err = New(conn, Config{Table: "w_poison.sink", FlushInterval: 50 * time.Millisecond, MaxAttempts: 3, RetryBackoff: 10 * time.Millisecond}, telemetry.New(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	alone := enqueueAll(t, w, map[string][]events.Event{"mallory": of("mallory", "poison", 5)}, []string{"mallory"})
	if refused := (*RefusedError)(nil); !errors.As(alone["mallory"], &refused) || !strings.Contains(refused.Error(), "code 395") {
		t.Errorf("the poisoned request alone: %v, want ClickHouse's refusal (throwIf, code 395)", alone["mallory"])
	}
}

// A batch takes requests in order until the next would pass the day bound
// (or the event bound); a request spanning more days than one insert may
// hold is refused when queued, and nothing else is.
func TestBatchesHoldAtMostMaxBatchDays(t *testing.T) {
	w, err := New(nil, Config{Table: "x", MaxBatchDays: 5, MaxBatchEvents: 1000}, telemetry.New(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	noop := func(error) {}
	for _, r := range [][]events.Event{spread("a", 3), spread("b", 2), spread("c", 4), of("d", "d", 1), spread("e", 5)} {
		if err := w.Enqueue("http", r, noop); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Enqueue("http", spread("f", 6), noop); !errors.As(err, new(*RefusedError)) {
		t.Errorf("6 days with a bound of 5: %v, want a *RefusedError", err)
	}
	var sizes []string
	for {
		b := w.take()
		if len(b) == 0 {
			break
		}
		var names []string
		var days []uint32
		for _, r := range b {
			names = append(names, r.events[0].Tenant)
			days = mergeDays(days, r.days)
		}
		if len(days) > 5 {
			t.Errorf("batch %v holds %d days", names, len(days))
		}
		sizes = append(sizes, strings.Join(names, ""))
	}
	// a, b and c go back 3, 2 and 4 days from yesterday, d is today: 5
	// days; e's 5 days from yesterday would make 6.
	if got := strings.Join(sizes, " "); got != "abcd e" {
		t.Errorf("batches %q, want \"abcd e\"", got)
	}
}
