package detect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/api/leader"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var (
	pg *harness.Postgres
	ch *harness.ClickHouse
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

func TestSchedules(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 7, 30, 0, time.UTC) // a Monday
	for s, want := range map[string]time.Time{
		"@every 5m":      at.Add(5 * time.Minute),
		"*/15 * * * *":   time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC),
		"0 3 * * *":      time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC),
		"30 9 * * 1-5":   time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC),
		"0 0 1 1,7 *":    time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		"8-10 10 23 * *": time.Date(2026, 11, 23, 10, 8, 0, 0, time.UTC),
	} {
		sc, err := ParseSchedule(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if got := sc.Next(at); !got.Equal(want) {
			t.Errorf("%s: next %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]string{"@every 10s": "1m to 720h", "* * *": "found 3 fields", "61 * * * *": "minute", "* 24 * * *": "hour",
		"* * * * 7": "day of week", "*/0 * * * *": "step"} {
		if _, err := ParseSchedule(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", s, err, want)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	err := Validate(Rule{Query: "level:error (", Schedule: "@every 1s"})
	if err == nil || !strings.Contains(err.Error(), "query: column") || !strings.Contains(err.Error(), "schedule:") {
		t.Errorf("%v", err)
	}
	if err := Validate(Rule{Query: "x | stats count() by host", Schedule: "@every 5m", Signal: true}); err == nil || !strings.Contains(err.Error(), "signal:") {
		t.Errorf("signal with stats: %v", err)
	}
	if err := Validate(Rule{Query: "level:error | stats count() by service", Schedule: "*/5 * * * *"}); err != nil {
		t.Error(err)
	}
	// A lookup reads a dataset: scheduled rules take it, signal rules (a view
	// over arriving events) do not.
	if err := Validate(Rule{Query: "level:error | lookup threats on src.ip", Schedule: "@every 5m"}); err != nil {
		t.Errorf("scheduled rule with a lookup: %v", err)
	}
	if err := Validate(Rule{Query: "level:error | lookup threats on src.ip", Schedule: "@every 5m", Signal: true}); err == nil || !strings.Contains(err.Error(), "signal:") {
		t.Errorf("signal rule with a lookup: %v", err)
	}
	// Rules are held to the search's limits when saved: a query of more
	// terms than a search may have never reaches the scheduler.
	long := strings.TrimSuffix(strings.Repeat("a OR ", query.MaxTerms), " OR ")
	if err := Validate(Rule{Query: long, Schedule: "@every 5m"}); err != nil {
		t.Errorf("%d terms: %v", query.MaxTerms, err)
	}
	if err := Validate(Rule{Query: long + " OR b", Schedule: "@every 5m"}); err == nil || !strings.Contains(err.Error(), "query: column") || !strings.Contains(err.Error(), "search terms") {
		t.Errorf("%d terms: %v, want a query error naming the limit", query.MaxTerms+1, err)
	}
}

type fixture struct {
	d     *Detector
	db    *pgxpool.Pool
	epoch int64
	now   time.Time
}

func setup(t *testing.T, name string) *fixture {
	harness.Servers(t)
	t.Helper()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	return setupOn(t, name, conn, "")
}

// setupOn is setup on conn's ClickHouse, a cluster's when cluster names one.
func setupOn(t *testing.T, name string, conn driver.Conn, cluster string) *fixture {
	harness.Servers(t)
	t.Helper()
	ctx := context.Background()
	_, db := metafixture.New(t, pg, name)
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO scheduler_leader (id, epoch, holder, since) VALUES (1, 7, 'test', now())`); err != nil {
		t.Fatal(err)
	}
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	engine := events.Engine{Version: v, Database: name, Cluster: cluster}
	if err := events.Migrate(ctx, conn, engine); err != nil {
		t.Fatal(err)
	}
	r, err := runner.New(ctx, conn, runner.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	return &fixture{d: &Detector{DB: db, Conn: conn, Runner: r, Engine: engine, Now: func() time.Time { return now }}, db: db, epoch: 7, now: now}
}

func (f *fixture) insert(t *testing.T, evs ...events.Event) {
	t.Helper()
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(f.d.Engine.InsertSettings("")))
	b, err := f.d.Conn.PrepareBatch(ctx, events.InsertSQL(f.d.Engine.InsertTable()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := b.Append(e.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) rule(t *testing.T, r Rule) Rule {
	t.Helper()
	err := f.db.QueryRow(context.Background(), `INSERT INTO detection_rules (tenant, name, query, schedule, window_seconds, threshold_op, threshold, signal, next_run_at)
VALUES ('acme', $1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, r.Name, r.Query, r.Schedule, int(r.Window.Seconds()), r.Op, r.Threshold, r.Signal, f.now.Add(-time.Second)).Scan(&r.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Tenant = "acme"
	return r
}

func errorsAt(now time.Time, n int, service string) []events.Event {
	var out []events.Event
	for i := 0; i < n; i++ {
		out = append(out, events.Event{Time: now.Add(-time.Duration(i+1) * time.Second), Tenant: "acme", Severity: "error", Service: service, Host: fmt.Sprintf("h%d", i%2), Message: "boom"})
	}
	return out
}

// Due rules run on schedule: a count over its window above the threshold
// raises an alert (per group for stats ... by), every run is recorded and
// the next run is scheduled.
func TestRulesRaiseAlertsAndRecordRuns(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "detect_rules")
	ctx := context.Background()
	f.insert(t, errorsAt(f.now, 12, "api")...)
	f.insert(t, errorsAt(f.now, 3, "web")...)
	f.insert(t, events.Event{Time: f.now.Add(-time.Hour), Tenant: "acme", Severity: "error", Service: "api"}) // outside the window
	many := f.rule(t, Rule{Name: "many api errors", Query: "level:error service:api", Schedule: "@every 5m", Window: 10 * time.Minute, Op: ">", Threshold: 10})
	few := f.rule(t, Rule{Name: "web quiet", Query: "level:error service:web", Schedule: "@every 5m", Window: 10 * time.Minute, Op: ">", Threshold: 10})
	byHost := f.rule(t, Rule{Name: "per host", Query: "level:error | stats count() by host", Schedule: "*/5 * * * *", Window: 10 * time.Minute, Op: ">=", Threshold: 6})
	if err := f.d.RunDue(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	alerts := map[int64][]string{}
	rows, _ := f.db.Query(ctx, `SELECT rule_id, group_key, value FROM alerts ORDER BY group_key`)
	for rows.Next() {
		var id int64
		var key string
		var v float64
		rows.Scan(&id, &key, &v)
		alerts[id] = append(alerts[id], fmt.Sprintf("%s:%v", key, v))
	}
	if fmt.Sprint(alerts[many.ID]) != "[:12]" || len(alerts[few.ID]) != 0 || fmt.Sprint(alerts[byHost.ID]) != "[host=h0:8 host=h1:7]" {
		t.Errorf("alerts %v", alerts)
	}
	var runs int
	var next time.Time
	f.db.QueryRow(ctx, `SELECT count(*) FROM rule_runs`).Scan(&runs)
	f.db.QueryRow(ctx, `SELECT next_run_at FROM detection_rules WHERE id = $1`, many.ID).Scan(&next)
	if runs != 3 || !next.Equal(f.now.Add(5*time.Minute)) {
		t.Errorf("%d runs, next %v", runs, next)
	}
	// Not due again until then.
	if err := f.d.RunDue(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	f.db.QueryRow(ctx, `SELECT count(*) FROM rule_runs`).Scan(&runs)
	if runs != 3 {
		t.Errorf("%d runs after a second pass, want 3", runs)
	}
	// A deposed leader's run is refused.
	if err := f.d.Run(ctx, f.epoch-1, many); !errors.Is(err, leader.ErrFenced) {
		t.Errorf("run of an old epoch: %v", err)
	}
}

// A scheduled rule's lookup reads its tenant's dataset of that name, or
// the platform's, never another tenant's: a rule of acme naming globex's
// dataset fails its run with the same error as for a name nobody has.
func TestRuleLookupsStayInTheTenant(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "detect_lookup")
	ctx := context.Background()
	if err := metadb.EnsureTenant(ctx, f.db, "globex", "Globex"); err != nil {
		t.Fatal(err)
	}
	dataset := func(tenant, name string, rows ...string) {
		var id int64
		if err := f.db.QueryRow(ctx, `INSERT INTO enrichment_datasets (tenant, name, source, format, interval_seconds)
VALUES (NULLIF($1, ''), $2, 'https://feeds.example.com/x', 'list', 3600) RETURNING id`, tenant, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		table := events.EnrichmentTable(f.d.Engine.Database, id)
		if err := f.d.Conn.Exec(ctx, "CREATE TABLE "+table+" (indicator String) ENGINE = MergeTree() ORDER BY tuple()"); err != nil {
			t.Fatal(err)
		}
		b, err := f.d.Conn.PrepareBatch(ctx, "INSERT INTO "+table+" (indicator)")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	dataset("acme", "bad_services", "api")
	dataset("globex", "globex_only", "api", "web")
	dataset("", "shared", "web")
	f.insert(t, errorsAt(f.now, 12, "api")...)
	f.insert(t, errorsAt(f.now, 3, "web")...)
	own := f.rule(t, Rule{Name: "own", Query: "level:error | lookup bad_services on service", Schedule: "@every 5m", Window: 10 * time.Minute, Op: ">", Threshold: 0})
	shared := f.rule(t, Rule{Name: "shared", Query: "level:error | lookup shared on service", Schedule: "@every 5m", Window: 10 * time.Minute, Op: ">", Threshold: 0})
	other := f.rule(t, Rule{Name: "other", Query: "level:error | lookup globex_only on service", Schedule: "@every 5m", Window: 10 * time.Minute, Op: ">", Threshold: 0})
	if err := f.d.RunDue(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	rows, err := f.db.Query(ctx, `SELECT rule_id, coalesce(value, -1), error FROM rule_runs`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var v float64
		var msg string
		rows.Scan(&id, &v, &msg)
		got[id] = fmt.Sprintf("%v %s", v, msg)
	}
	rows.Close()
	if got[own.ID] != "12 " || got[shared.ID] != "3 " || !strings.Contains(got[other.ID], `no enrichment dataset "globex_only" of this tenant or the platform`) {
		t.Errorf("runs: own %q, shared %q, other %q", got[own.ID], got[shared.ID], got[other.ID])
	}
}

// A signal rule counts through its materialized view: events inserted
// after the view exists are counted, per minute.
func TestSignalRulesReadTheirView(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "detect_signals")
	ctx := context.Background()
	r := f.rule(t, Rule{Name: "signal", Query: `level:error "boom" -service:"it's"`, Schedule: "@every 1m", Window: 30 * time.Minute, Op: ">", Threshold: 4, Signal: true})
	if err := f.d.EnsureSignal(ctx, r); err != nil {
		t.Fatal(err)
	}
	f.insert(t, errorsAt(f.now, 5, "api")...)
	f.insert(t, events.Event{Time: f.now, Tenant: "other", Severity: "error", Message: "boom"})
	if err := f.d.RunDue(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	var value float64
	var alerts int
	if err := f.db.QueryRow(ctx, `SELECT value, alerts FROM rule_runs WHERE rule_id = $1`, r.ID).Scan(&value, &alerts); err != nil {
		t.Fatal(err)
	}
	if value != 5 || alerts != 1 {
		t.Errorf("signal value %v alerts %d, want 5 and 1", value, alerts)
	}

	// A changed query gets new objects; pruning drops the old ones, and
	// all of them once the rule is deleted.
	signalObjects := func() []string {
		names, err := f.d.signalObjects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	before := signalObjects()
	if len(before) != 2 {
		t.Fatalf("signal objects %v, want a table and a view", before)
	}
	changed := r
	changed.Query = "level:warn"
	if _, err := f.db.Exec(ctx, `UPDATE detection_rules SET query = $2 WHERE id = $1`, r.ID, changed.Query); err != nil {
		t.Fatal(err)
	}
	if err := f.d.EnsureSignal(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if err := f.d.PruneSignals(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	after := signalObjects()
	if len(after) != 2 || slices.Contains(after, before[0]) || slices.Contains(after, before[1]) {
		t.Errorf("after a query change and pruning: %v (before %v), want only the new table and view", after, before)
	}
	if _, err := f.db.Exec(ctx, `DELETE FROM detection_rules WHERE id = $1`, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.d.PruneSignals(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	if left := signalObjects(); len(left) != 0 {
		t.Errorf("after deleting the rule and pruning: %v left", left)
	}
	if err := f.d.PruneSignals(ctx, f.epoch+1); !errors.Is(err, leader.ErrFenced) {
		t.Errorf("pruning with a stale epoch: %v, want ErrFenced", err)
	}
}

// Baselines: mean, deviation and a threshold three deviations above.
func TestAutotuneSuggestsAThreshold(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "detect_autotune")
	ctx := context.Background()
	r := f.rule(t, Rule{Name: "tuned", Query: "level:error", Schedule: "@every 5m", Window: 5 * time.Minute, Op: ">", Threshold: 100})
	for _, v := range []float64{10, 12, 8, 10, 10} {
		if _, err := f.db.Exec(ctx, `INSERT INTO rule_runs (rule_id, epoch, started_at, finished_at, value) VALUES ($1, 7, $2, $2, $3)`, r.ID, f.now.Add(-time.Hour), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.d.Autotune(ctx, f.epoch); err != nil {
		t.Fatal(err)
	}
	var n int
	var mean, sd, suggested float64
	if err := f.db.QueryRow(ctx, `SELECT samples, mean, stddev, suggested_threshold FROM rule_baselines WHERE rule_id = $1`, r.ID).Scan(&n, &mean, &sd, &suggested); err != nil {
		t.Fatal(err)
	}
	// stddev_pop of 10,12,8,10,10 is sqrt(1.6).
	if n != 5 || mean != 10 || fmt.Sprintf("%.4f", sd) != "1.2649" || fmt.Sprintf("%.4f", suggested) != "13.7947" {
		t.Errorf("baseline %d %v %v %v", n, mean, sd, suggested)
	}
}
