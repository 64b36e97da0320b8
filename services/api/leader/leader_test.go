package leader

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func database(t *testing.T, name string) (string, *pgxpool.Pool) {
	harness.Servers(t)
	t.Helper()
	url, db := metafixture.New(t, pg, name)
	return url, db
}

// Three replicas: exactly one leads at any time; when the leader steps
// down, when its session is killed, the next one takes over with a higher
// epoch, and the old epoch's fenced writes are refused.
func TestOneLeaderAtATimeAndFencing(t *testing.T) {
	harness.Servers(t)
	url, db := database(t, "leader_one")
	var leading atomic.Int32
	var overlap atomic.Bool
	type term struct {
		id    string
		epoch int64
	}
	terms := make(chan term, 20)
	cancels := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[id] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			Run(ctx, Config{URL: url, ID: id, Retry: 50 * time.Millisecond, Heartbeat: 50 * time.Millisecond}, quiet, func(tm Term) {
				if leading.Add(1) > 1 {
					overlap.Store(true)
				}
				terms <- term{id, tm.Epoch}
				<-tm.Ctx.Done()
				leading.Add(-1)
			})
		}()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	next := func() term {
		select {
		case tm := <-terms:
			return tm
		case <-time.After(10 * time.Second):
			t.Fatal("no leader within 10 s")
		}
		return term{}
	}
	first := next()
	// Step down: another replica leads with the next epoch.
	cancels[first.id]()
	second := next()
	if second.id == first.id || second.epoch != first.epoch+1 {
		t.Fatalf("after %v stepped down: %v", first, second)
	}
	// The old epoch can no longer write.
	err := Fence(context.Background(), db, first.epoch, func(pgx.Tx) error { return nil })
	if !errors.Is(err, ErrFenced) {
		t.Errorf("fenced write of a deposed leader: %v", err)
	}
	if err := Fence(context.Background(), db, second.epoch, func(pgx.Tx) error { return nil }); err != nil {
		t.Errorf("the current leader's write: %v", err)
	}
	// Kill the leader's session from the server side: it notices, stops
	// its tasks, and someone leads again.
	start := time.Now()
	if _, err := db.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, "nano-api-leader "+second.id); err != nil {
		t.Fatal(err)
	}
	third := next()
	if third.epoch != second.epoch+1 {
		t.Errorf("after the session died: %v, want epoch %d", third, second.epoch+1)
	}
	t.Logf("failover after a killed session: %v", time.Since(start))
	if overlap.Load() {
		t.Error("two replicas led at the same time")
	}
}
