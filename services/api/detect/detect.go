package detect

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/api/leader"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/fielderr"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/search/sqlgen"
)

// Rule is a detection rule.
type Rule struct {
	ID        int64
	Tenant    string
	Name      string
	Query     string
	Schedule  string
	Window    time.Duration
	Op        string
	Threshold float64
	Signal    bool
	// Severity and Labels go on its alerts in Alertmanager (AlertLabels).
	Severity string
	Labels   map[string]string
}

// Crossed reports whether value crosses the rule's threshold.
func (r Rule) Crossed(value float64) bool {
	switch r.Op {
	case ">":
		return value > r.Threshold
	case ">=":
		return value >= r.Threshold
	case "<":
		return value < r.Threshold
	case "<=":
		return value <= r.Threshold
	}
	return false
}

// counted is the rule's query with count() as its measure when it has no
// stats of its own.
func counted(q string) (*query.Query, error) {
	parsed, err := query.Parse(q)
	if err != nil {
		return nil, err
	}
	if parsed.Stats == nil {
		parsed.Stats = &query.Stats{Aggs: []query.Agg{{Func: "count", Name: "count"}}}
		parsed.Sort, parsed.Fields = nil, nil
	}
	return parsed, nil
}

// Validate checks a rule's query and schedule; each problem is a
// *fielderr.Error naming the field.
func Validate(r Rule) error {
	var errs []error
	q, err := counted(r.Query)
	if err != nil {
		errs = append(errs, fielderr.Wrap("query", err))
	} else {
		// Which datasets the tenant may read is decided when the rule runs
		// (a dataset may come later); here every name stands for one.
		names := map[string]int64{}
		for i, n := range sqlgen.LookupNames(q) {
			names[n] = int64(i + 1)
		}
		_, err = sqlgen.Compile(sqlgen.Request{Query: q, Tenant: "t", From: time.Unix(0, 0), To: time.Unix(60, 0), Now: time.Unix(60, 0), Table: "nano.events", PageSize: 1, Datasets: names})
		if err != nil {
			errs = append(errs, fielderr.Wrap("query", err))
		}
		if r.Signal && len(q.Lookups) > 0 {
			errs = append(errs, fielderr.New("signal", "a signal rule's view tests events as they arrive and cannot read a dataset; make it a scheduled rule to use | lookup"))
		}
		if r.Signal && (q.Stats == nil || len(q.Stats.By) > 0 || len(q.Stats.Aggs) != 1 || q.Stats.Aggs[0].Func != "count") {
			errs = append(errs, fielderr.New("signal", "a signal rule counts matching events; its query takes no stats stage"))
		}
	}
	if _, err := ParseSchedule(r.Schedule); err != nil {
		errs = append(errs, fielderr.Wrap("schedule", err))
	}
	return errors.Join(errs...)
}

// MaxGroups bounds the groups one run measures (the first in the order of
// the rule's query): each may raise an alert.
const MaxGroups = 1000

// Detector runs due rules.
type Detector struct {
	DB     *pgxpool.Pool
	Conn   driver.Conn
	Runner *runner.Runner
	// Engine is the events schema's layout: its database holds the signal
	// tables, made on every replica on a cluster.
	Engine events.Engine
	Now    func() time.Time
	// SampleEvents is how many of its events an alert keeps (0: none).
	SampleEvents int
}

func (d *Detector) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// RunDue runs every enabled rule whose time has come (a scheduler task).
func (d *Detector) RunDue(ctx context.Context, epoch int64) error {
	rows, err := d.DB.Query(ctx, `SELECT id, tenant, name, query, schedule, window_seconds, threshold_op, threshold, signal, severity, labels
FROM detection_rules WHERE enabled AND next_run_at <= $1 ORDER BY next_run_at LIMIT 100`, d.now())
	if err != nil {
		return fmt.Errorf("cannot read due rules: %w", err)
	}
	rules, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rule, error) {
		var x Rule
		var window int
		err := r.Scan(&x.ID, &x.Tenant, &x.Name, &x.Query, &x.Schedule, &window, &x.Op, &x.Threshold, &x.Signal, &x.Severity, &x.Labels)
		x.Window = time.Duration(window) * time.Second
		return x, err
	})
	if err != nil {
		return fmt.Errorf("cannot read due rules: %w", err)
	}
	var errs []error
	for _, r := range rules {
		if err := d.Run(ctx, epoch, r); err != nil {
			if errors.Is(err, leader.ErrFenced) || ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("rule %d (%s): %w", r.ID, r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Verdict is what a run decides for one group of a rule (the one group
// of a rule without stats ... by): its group-by values, the value compared
// with the threshold, and whether it crosses it (raises an alert).
type Verdict struct {
	// Group is the alert's group key (field=value,...; "" without by).
	Group  string       `json:"group"`
	Values []GroupValue `json:"values"`
	Value  float64      `json:"value"`
	Fires  bool         `json:"fires"`
}

// Evaluation is a rule evaluated over its window [From, To].
type Evaluation struct {
	From, To time.Time
	// Groups are the measured groups in the order of the rule's query.
	Groups []Verdict
}

// Firing are the groups that raise an alert.
func (e Evaluation) Firing() []Verdict {
	var out []Verdict
	for _, g := range e.Groups {
		if g.Fires {
			out = append(out, g)
		}
	}
	return out
}

// Total is the value a run records: the sum over its groups.
func (e Evaluation) Total() float64 {
	sum := 0.0
	for _, g := range e.Groups {
		sum += g.Value
	}
	return sum
}

// Evaluate measures r over its window ending at end and decides each
// group: what Run records, and what the api's rule test answers (it
// records nothing). A signal rule is read through its view, which
// Evaluate does not create: before the view exists (the scheduler makes
// it at the rule's first run) it counts 0, as that run would.
func (d *Detector) Evaluate(ctx context.Context, r Rule, end time.Time) (Evaluation, error) {
	ev := Evaluation{From: end.Add(-r.Window), To: end}
	groups, err := d.measure(ctx, r, ev.From, ev.To)
	if err != nil {
		return ev, err
	}
	for i := range groups {
		groups[i].Fires = r.Crossed(groups[i].Value)
	}
	ev.Groups = groups
	return ev, nil
}

// EvaluateNow is Evaluate over r's window ending now (the detector's
// clock), as a run starting now would see it.
func (d *Detector) EvaluateNow(ctx context.Context, r Rule) (Evaluation, error) {
	return d.Evaluate(ctx, r, d.now())
}

// Run evaluates r once and records the run, its alerts and the next run
// time in one fenced transaction.
func (d *Detector) Run(ctx context.Context, epoch int64, r Rule) error {
	start := d.now()
	sched, err := ParseSchedule(r.Schedule)
	if err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	// A signal rule's view is made at its first run (a failure to make it
	// is the run's error, as a failed search is).
	ev := Evaluation{From: start.Add(-r.Window), To: start}
	var runErr error
	if r.Signal {
		runErr = d.EnsureSignal(ctx, r)
	}
	if runErr == nil {
		ev, runErr = d.Evaluate(ctx, r, start)
	}
	from := ev.From
	crossed := ev.Firing()
	// Each alert keeps a few of the events it counted (the first groups'
	// only: a bounded number of searches per run).
	samples := make([][]Sample, len(crossed))
	for i := range min(len(crossed), maxSampledGroups) {
		var err error
		if samples[i], err = d.samples(ctx, r, crossed[i].Values, from, start); err != nil {
			slog.Warn("cannot read an alert's sample events", "rule", r.ID, "error", err)
		}
	}
	return leader.Fence(ctx, d.DB, epoch, func(tx pgx.Tx) error {
		var total *float64
		if runErr == nil {
			sum := ev.Total()
			total = &sum
		}
		msg := ""
		if runErr != nil {
			msg = runErr.Error()
		}
		var runID int64
		if err := tx.QueryRow(ctx, `INSERT INTO rule_runs (rule_id, epoch, started_at, finished_at, value, alerts, error)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.ID, epoch, start, d.now(), total, len(crossed), msg).Scan(&runID); err != nil {
			return fmt.Errorf("cannot record the run: %w", err)
		}
		for i, m := range crossed {
			sampled := samples[i]
			if sampled == nil {
				sampled = []Sample{}
			}
			groupValues := m.Values
			if groupValues == nil {
				groupValues = []GroupValue{}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO alerts (tenant, rule_id, run_id, group_key, value, window_start, window_end, labels, group_values, samples)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, r.Tenant, r.ID, runID, m.Group, m.Value, from, start, AlertLabels(r, m.Values), groupValues, sampled); err != nil {
				return fmt.Errorf("cannot record an alert: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE detection_rules SET next_run_at = $2 WHERE id = $1`, r.ID, sched.Next(start)); err != nil {
			return fmt.Errorf("cannot schedule the next run: %w", err)
		}
		return nil
	})
}

// measure counts r's events in [from, to]: through its signal view, or a
// search (per group for stats ... by; Fires is left for Evaluate).
func (d *Detector) measure(ctx context.Context, r Rule, from, to time.Time) ([]Verdict, error) {
	if r.Signal {
		exists, err := d.signalExists(ctx, r)
		if err != nil || !exists {
			return []Verdict{{Values: []GroupValue{}}}, err
		}
		var n uint64
		err = d.Conn.QueryRow(ctx, fmt.Sprintf("SELECT sum(n) FROM %s WHERE minute >= toDateTime(@from) AND minute <= toDateTime(@to)", d.signalTable(r)),
			namedArgs(map[string]any{"from": uint32(from.Unix()), "to": uint32(to.Unix())})...).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("cannot read the signal: %w", err)
		}
		return []Verdict{{Values: []GroupValue{}, Value: float64(n)}}, nil
	}
	q, err := counted(r.Query)
	if err != nil {
		return nil, err
	}
	// A lookup reads the rule's tenant's dataset of that name, else the
	// platform's; never another tenant's.
	datasets, err := metadb.Datasets(ctx, d.DB, r.Tenant, sqlgen.LookupNames(q))
	if err != nil {
		return nil, err
	}
	st, err := sqlgen.Compile(sqlgen.Request{Query: q, Tenant: r.Tenant, From: from, To: to, Now: to, Table: d.Engine.Database + ".events", PageSize: MaxGroups, Datasets: datasets})
	if err != nil {
		return nil, err
	}
	var out []Verdict
	groups := len(q.Stats.By)
	_, err = d.Runner.Run(ctx, st, func(row []any) error {
		key := []string{}
		gv := []GroupValue{}
		for i := 0; i < groups; i++ {
			key = append(key, fmt.Sprintf("%s=%v", q.Stats.By[i].Name, row[i]))
			gv = append(gv, GroupValue{Field: q.Stats.By[i].Name, Value: fmt.Sprint(row[i])})
		}
		v, _ := toFloat(row[groups])
		out = append(out, Verdict{Group: strings.Join(key, ","), Values: gv, Value: v})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if groups == 0 && len(out) == 0 {
		out = []Verdict{{Values: []GroupValue{}}}
	}
	return out, nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case uint64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	case int64:
		return float64(n), true
	}
	return 0, false
}

// signalStem names a signal rule's ClickHouse objects: the rule's id and a
// digest of its query, so a rule whose query changes gets new objects and
// PruneSignals drops the old ones.
func signalStem(r Rule) string {
	h := sha256.Sum256([]byte(r.Query))
	return fmt.Sprintf("signal_%d_%x", r.ID, h[:4])
}

// signalTable is what a signal rule's per-minute counts are read from; on
// a cluster a Distributed table over signalLocal, each shard's replicated
// counts. signalView fills signalLocal from the events inserted on each
// server (a replica fetching a part does not run views, so nothing counts
// twice).
func (d *Detector) signalTable(r Rule) string { return d.Engine.Database + "." + signalStem(r) }
func (d *Detector) signalLocal(r Rule) string {
	if d.Engine.Replicated() {
		return d.signalTable(r) + "_local"
	}
	return d.signalTable(r)
}
func (d *Detector) signalView(r Rule) string { return d.Engine.Database + "." + signalStem(r) + "_mv" }

// reSignalObject matches the tables and views of signal rules (also those
// named before the query digest was part of the name).
var reSignalObject = regexp.MustCompile(`^(signal_[0-9]+(_[0-9a-f]{8})?)(_mv|_local)?$`)

// signalExists says whether a signal rule's read table exists (it is made
// last, so then the rest does).
func (d *Detector) signalExists(ctx context.Context, r Rule) (bool, error) {
	var exists uint8
	if err := d.Conn.QueryRow(ctx, "EXISTS TABLE "+d.signalTable(r)).Scan(&exists); err != nil {
		return false, fmt.Errorf("cannot check the signal table: %w", err)
	}
	return exists == 1, nil
}

// EnsureSignal creates a signal rule's per-minute counts and the
// materialized view that fills them from new events (from its creation
// on; earlier events are not counted). The read table is made last, so
// once it exists the rest does; on a cluster a statement some host has
// not run in time is queued for it and not an error.
func (d *Detector) EnsureSignal(ctx context.Context, r Rule) error {
	if exists, err := d.signalExists(ctx, r); err != nil || exists {
		return err
	}
	q, err := query.Parse(r.Query)
	if err != nil {
		return err
	}
	where, params, err := sqlgen.Filter(q, r.Tenant, d.now())
	if err != nil {
		return err
	}
	e, on := d.Engine, d.Engine.OnCluster()
	view, args := runner.BindInDriver(fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s%s TO %s AS SELECT toStartOfMinute(ts) AS minute, count() AS n FROM %s WHERE %s GROUP BY minute",
		d.signalView(r), on, d.signalLocal(r), e.LocalTable(), where), params)
	type statement struct {
		what, sql string
		args      []any
	}
	statements := []statement{
		{what: "table", sql: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s (minute DateTime, n UInt64) ENGINE = %s ORDER BY minute",
			d.signalLocal(r), on, e.ReplicatedEngine("SummingMergeTree", signalStem(r)+"_local"))},
		{what: "view", sql: view, args: args},
	}
	if e.Replicated() {
		statements = append(statements, statement{what: "read table", sql: fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s ENGINE = Distributed(%s, %s, %s)",
			d.signalTable(r), on, d.signalLocal(r), e.Cluster, e.Database, signalStem(r)+"_local")})
	}
	for _, st := range statements {
		err := e.ExecDDL(ctx, d.Conn, st.sql, st.args...)
		if err := events.IgnoreQueued(err); err != nil {
			return fmt.Errorf("cannot create the signal's %s: %w", st.what, err)
		}
	}
	return nil
}

// PruneSignals drops the ClickHouse objects of signal rules that were
// deleted, are no longer signals, or whose query changed (a scheduler task:
// the api's rule handlers change only PostgreSQL).
func (d *Detector) PruneSignals(ctx context.Context, epoch int64) error {
	return leader.Fence(ctx, d.DB, epoch, func(tx pgx.Tx) error { return d.pruneSignals(ctx, tx) })
}

// signalObjects lists the names of the signal tables and views in
// ClickHouse.
func (d *Detector) signalObjects(ctx context.Context) ([]string, error) {
	rows, err := d.Conn.Query(ctx, "SELECT name FROM system.tables WHERE database = @db AND startsWith(name, 'signal_') ORDER BY name", clickhouse.Named("db", d.Engine.Database))
	if err != nil {
		return nil, fmt.Errorf("cannot list signal objects: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("cannot list signal objects: %w", err)
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

func (d *Detector) pruneSignals(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT id, query FROM detection_rules WHERE signal`)
	if err != nil {
		return fmt.Errorf("cannot list signal rules: %w", err)
	}
	want := map[string]bool{}
	for rows.Next() {
		var r Rule
		if err := rows.Scan(&r.ID, &r.Query); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read a signal rule: %w", err)
		}
		want[signalStem(r)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot list signal rules: %w", err)
	}
	names, err := d.signalObjects(ctx)
	if err != nil {
		return err
	}
	// Views first: a view writes into its table.
	for _, views := range []bool{true, false} {
		for _, name := range names {
			m := reSignalObject.FindStringSubmatch(name)
			if m == nil || want[m[1]] || (m[3] == "_mv") != views {
				continue
			}
			err := d.Engine.ExecDDL(ctx, d.Conn, "DROP TABLE IF EXISTS "+d.Engine.Database+"."+name+d.Engine.OnCluster())
			if err := events.IgnoreQueued(err); err != nil {
				return fmt.Errorf("cannot drop %s: %w", name, err)
			}
		}
	}
	return nil
}

// Autotune computes each rule's baseline from its runs of the last week:
// mean and standard deviation of the measured value, and a suggested
// threshold three deviations beyond the mean (a scheduler task).
func (d *Detector) Autotune(ctx context.Context, epoch int64) error {
	return leader.Fence(ctx, d.DB, epoch, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO rule_baselines (rule_id, samples, mean, stddev, suggested_threshold, computed_at)
SELECT r.id, count(x.value), avg(x.value), coalesce(stddev_pop(x.value), 0),
       CASE WHEN r.threshold_op IN ('>', '>=') THEN avg(x.value) + 3 * coalesce(stddev_pop(x.value), 0)
            ELSE greatest(avg(x.value) - 3 * coalesce(stddev_pop(x.value), 0), 0) END,
       $1
FROM detection_rules r JOIN rule_runs x ON x.rule_id = r.id
WHERE x.value IS NOT NULL AND x.started_at > $1::timestamptz - interval '7 days'
GROUP BY r.id, r.threshold_op
HAVING count(x.value) >= 5
ON CONFLICT (rule_id) DO UPDATE SET samples = excluded.samples, mean = excluded.mean, stddev = excluded.stddev,
    suggested_threshold = excluded.suggested_threshold, computed_at = excluded.computed_at`, d.now())
		if err != nil {
			return fmt.Errorf("cannot compute baselines: %w", err)
		}
		return nil
	})
}

func namedArgs(m map[string]any) []any {
	out := make([]any, 0, len(m))
	for k, v := range m {
		out = append(out, clickhouse.Named(k, v))
	}
	return out
}
