package tiermove

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/eventsfixture"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var (
	pg *harness.Postgres
	ch *harness.ClickHouse
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

// A single node's events move into a 2 shards x 2 replicas cluster while
// ingest keeps writing to the single node: a run interrupted after its
// first day, a day the target already holds part of, a second run, the
// shippers switched to the cluster, and a final run. Afterwards every
// event the single node acknowledged is in the cluster exactly as often
// as in the source (an event stored twice stays twice), the cluster's own
// events are kept, and a further run copies nothing.
func TestEventsMoveFromASingleNodeIntoACluster(t *testing.T) {
	harness.Servers(t)
	_, target := harness.StartClusterFor(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	source, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	sv, err := events.DetectVersion(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := events.DetectVersion(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	se := events.Engine{Version: sv, Database: "nano_single"}
	te := events.Engine{Version: tv, Database: "nano_cluster", Cluster: harness.ClusterName}
	if err := events.Migrate(ctx, source, se); err != nil {
		t.Fatal(err)
	}
	if err := events.Migrate(ctx, target, te); err != nil {
		t.Fatal(err)
	}

	// Three past days in the source, one batch of them stored twice.
	old := &eventsfixture.Writer{Conn: source, Engine: se, Prefix: "old"}
	day := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	for d := 0; d < 3; d++ {
		for b := 0; b < 10; b++ {
			if err := old.Batch(ctx, day.Add(time.Duration(d)*24*time.Hour+time.Duration(b)*time.Minute), 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	old.N -= 1000
	if err := old.Batch(ctx, day.Add(9*time.Minute), 1000); err != nil { // the same rows as day 1's last batch
		t.Fatal(err)
	}
	// Part of day 2 is already in the target: a run that crashed mid-day.
	partial := &eventsfixture.Writer{Conn: target, Engine: te, Prefix: "old", N: 10000}
	if err := partial.Batch(ctx, day.Add(24*time.Hour), 1000); err != nil {
		t.Fatal(err)
	}

	// Ingest goes on into the source (today) while the move runs.
	live := &eventsfixture.Writer{Conn: source, Engine: se, Prefix: "live"}
	stop := make(chan struct{})
	done := make(chan error, 1)
	today := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	go func() { done <- live.Run(ctx, stop, today, 500) }()

	move := EventsMove{Source: source, SourceEngine: se, Target: target, TargetEngine: te, BatchRows: 2500}
	// A run stopped after its first day.
	cctx, stopRun := context.WithCancel(ctx)
	move.Progress = func(DayReport) { stopRun() }
	if _, err := move.Run(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("the interrupted run: %v", err)
	}
	move.Progress = nil
	rep, err := move.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second run: %d rows copied in %s over %d days", rep.Copied, rep.Elapsed, len(rep.Days))
	for _, d := range rep.Days {
		if d.Day == 20261129 && d.Copied != 9000 {
			t.Errorf("day 20261129: copied %d of 10000 rows, 1000 of which the target held", d.Copied)
		}
	}

	// The shippers switch: ingest stops on the source, starts on the cluster.
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fresh := &eventsfixture.Writer{Conn: target, Engine: te, Prefix: "fresh"}
	for i := 0; i < 5; i++ {
		if err := fresh.Batch(ctx, today.Add(time.Hour+time.Duration(i)*time.Second), 200); err != nil {
			t.Fatal(err)
		}
	}
	final, err := move.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("final run: %d rows copied in %s; %d live events acknowledged by the source during the move", final.Copied, final.Elapsed, len(live.Acked()))
	if len(live.Acked()) == 0 {
		t.Fatal("no live event was written during the move")
	}

	src := eventsfixture.RawCounts(ctx, t, source, se.Table())
	dst := eventsfixture.RawCounts(ctx, t, target, te.Table())
	eventsfixture.CheckMoved(t, src, dst, []*eventsfixture.Writer{old, live}, fresh)
	again, err := move.Run(ctx)
	if err != nil || again.Copied != 0 {
		t.Errorf("a further run copied %d rows (%v)", again.Copied, err)
	}
}

// The metadata moves as one snapshot: rows, ids and sequences, so a token
// issued on the source verifies on the target and the target's next ids
// follow the source's; the target's own start-up rows are replaced; a
// second run gives the same; a target at another schema version is
// refused.
func TestMetadataMoveKeepsTokensAndSequences(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, source := metafixture.New(t, pg, "move_source")
	_, target := metafixture.New(t, pg, "move_target")
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := source.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ($1, $1)", tenant); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := target.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ('default', 'made at start')"); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for i := 0; i < 5; i++ {
		tok, _, err := authtoken.Issue(ctx, source, "acme", nil, fmt.Sprintf("analyst-%d", i), []string{"search"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	if _, err := source.Exec(ctx, "INSERT INTO feeds (tenant, name, kind) VALUES ('acme', 'web', 'http'), ('globex', 'fw', 'hec')"); err != nil {
		t.Fatal(err)
	}
	rep, err := MoveMetadata(ctx, source, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %d tables in %s; sequences %v", len(rep.Tables), rep.Elapsed, rep.Sequences)
	v := &authtoken.Verifier{DB: target}
	for _, tok := range tokens {
		if p, err := v.Verify(ctx, tok); err != nil || p.Tenant != "acme" {
			t.Errorf("a source token on the target: %v %v", p, err)
		}
	}
	var n int
	if err := target.QueryRow(ctx, "SELECT count(*) FROM tenants WHERE id = 'default'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the target's own tenant is still there (%d, %v)", n, err)
	}
	_, id, err := authtoken.Issue(ctx, target, "acme", nil, "after the move", []string{"search"}, nil)
	if err != nil || id != 6 {
		t.Errorf("the first token issued on the target has id %d, want 6 (%v)", id, err)
	}
	if _, err := target.Exec(ctx, "DELETE FROM api_tokens WHERE id = 6"); err != nil {
		t.Fatal(err)
	}
	again, err := MoveMetadata(ctx, source, target)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rep.Tables {
		if again.Tables[i] != rep.Tables[i] {
			t.Errorf("second run: %v, first %v", again.Tables[i], rep.Tables[i])
		}
	}
	if _, err := target.Exec(ctx, "DELETE FROM nano_schema_migrations WHERE version = (SELECT max(version) FROM nano_schema_migrations)"); err != nil {
		t.Fatal(err)
	}
	if _, err := MoveMetadata(ctx, source, target); err == nil {
		t.Error("a target at another schema version was not refused")
	}
}

// The audit trail moves by appending: the source's entries (of an old
// month too, whose partition the target makes) join the target's own,
// which stay; a second run appends nothing; the target's next entry takes
// an id after all of them.
func TestMetadataMoveAppendsTheAuditTrail(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, source := metafixture.New(t, pg, "move_audit_source")
	_, target := metafixture.New(t, pg, "move_audit_target")
	entry := func(db *pgxpool.Pool, at, action string) {
		t.Helper()
		q := `INSERT INTO audit_log (tenant, service, actor_kind, actor, action, outcome) VALUES ('acme', 'api', 'user', 'ann@example.com', $1, 'ok')`
		args := []any{action}
		if at != "" {
			if _, err := db.Exec(ctx, `SELECT nano_audit_partition($1::date)`, at); err != nil {
				t.Fatal(err)
			}
			q = `INSERT INTO audit_log (at, tenant, service, actor_kind, actor, action, outcome) VALUES ($2, 'acme', 'api', 'user', 'ann@example.com', $1, 'ok')`
			args = append(args, at)
		}
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	entry(source, "2024-03-10", "rule.create")
	entry(source, "", "rule.update")
	entry(source, "", "alert.update")
	entry(target, "", "signin")
	count := func() (all, moved int) {
		if err := target.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE origin LIKE 'moved:%') FROM audit_log`).Scan(&all, &moved); err != nil {
			t.Fatal(err)
		}
		return
	}
	rep, err := MoveMetadata(ctx, source, target)
	if err != nil {
		t.Fatal(err)
	}
	var trail *TableReport
	for i := range rep.Tables {
		if rep.Tables[i].Table == "audit_log" {
			trail = &rep.Tables[i]
		}
		if strings.HasPrefix(rep.Tables[i].Table, "audit_log_") {
			t.Errorf("a partition was moved as a table: %v", rep.Tables[i])
		}
	}
	if trail == nil || trail.Rows != 3 {
		t.Fatalf("the trail's report: %+v", rep.Tables)
	}
	if all, moved := count(); all != 4 || moved != 3 {
		t.Errorf("the target's trail: %d entries, %d moved; want 4, 3", all, moved)
	}
	if _, err := MoveMetadata(ctx, source, target); err != nil {
		t.Fatal(err)
	}
	if all, moved := count(); all != 4 || moved != 3 {
		t.Errorf("after a second run: %d entries, %d moved; want 4, 3", all, moved)
	}
	var old, maxID, next int64
	target.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE at < '2024-04-01' AND action = 'rule.create'`).Scan(&old)
	target.QueryRow(ctx, `SELECT max(id) FROM audit_log`).Scan(&maxID)
	if err := target.QueryRow(ctx, `INSERT INTO audit_log (service, actor_kind, action, outcome) VALUES ('api', 'user', 'after', 'ok') RETURNING id`).Scan(&next); err != nil || next <= maxID || old != 1 {
		t.Errorf("after the move: old month's entry %d, next id %d after %d (%v)", old, next, maxID, err)
	}
}
