// Package leader elects one api replica to run the scheduler, through a
// PostgreSQL session advisory lock held on a dedicated connection (never
// through a transaction-mode pooler, which cannot hold session locks).
//
// Liveness: the lock lives as long as the session. A killed process's
// socket is closed by its kernel, so PostgreSQL releases the lock at once;
// a vanished host is detected by TCP keepalives (client and server side)
// and tcp_user_timeout within a few seconds. The leader checks its session
// every Heartbeat; when the check fails it stops its tasks (cancels their
// context) before trying again.
//
// Fencing: each time a replica becomes leader it increments an epoch in
// scheduler_leader, then waits a grace period (longer than a heartbeat)
// before starting tasks, so a deposed leader that is still running has
// stopped its own. Tasks also write through epoch checks (Fence), so work
// of a deposed leader that has not noticed is refused by the database.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LockKey is the advisory lock of the scheduler ("nanosche").
const LockKey int64 = 0x6e616e6f73636865

// Config tunes the election.
type Config struct {
	// URL of PostgreSQL (directly, or through a session-mode pooler).
	URL string
	// ID names this replica in scheduler_leader and task_runs.
	ID string
	// Retry is how often a follower tries the lock; Heartbeat how often
	// the leader checks its session; both bound the failover time.
	Retry, Heartbeat time.Duration
	// Grace is how long a new leader waits before starting tasks, so a
	// deposed leader that is still alive has noticed (within a Heartbeat)
	// and stopped; 0 means twice the Heartbeat.
	Grace time.Duration
}

// Term is one leadership: its fencing epoch and a context that ends when
// leadership is lost.
type Term struct {
	Epoch int64
	Ctx   context.Context
}

// Run campaigns until ctx ends. lead is called in its own goroutine for
// each term with a context cancelled when the term ends; Run waits for lead
// to return before campaigning again, so one replica never runs two terms.
func Run(ctx context.Context, cfg Config, log *slog.Logger, lead func(Term)) error {
	if cfg.Retry <= 0 || cfg.Heartbeat <= 0 || cfg.ID == "" {
		return errors.New("leader: retry, heartbeat and id are required")
	}
	for ctx.Err() == nil {
		err := campaign(ctx, cfg, log, lead)
		if err != nil && ctx.Err() == nil {
			log.Warn("scheduler election", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Retry):
		}
	}
	return nil
}

// connect opens the dedicated lock session with keepalives tuned so a
// dead peer is noticed in seconds on both ends.
func connect(ctx context.Context, cfg Config) (*pgx.Conn, error) {
	pc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the PostgreSQL URL: %w", err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 3}}
	pc.DialFunc = dialer.DialContext
	pc.RuntimeParams["application_name"] = "nano-api-leader " + cfg.ID
	// The server notices a vanished leader host by its own keepalives.
	pc.RuntimeParams["tcp_keepalives_idle"] = "1"
	pc.RuntimeParams["tcp_keepalives_interval"] = "1"
	pc.RuntimeParams["tcp_keepalives_count"] = "3"
	pc.RuntimeParams["tcp_user_timeout"] = "3000"
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("cannot open the leader session: %w", err)
	}
	return conn, nil
}

func campaign(ctx context.Context, cfg Config, log *slog.Logger, lead func(Term)) error {
	conn, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var got bool
		qctx, cancel := context.WithTimeout(ctx, cfg.Heartbeat+2*time.Second)
		err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, LockKey).Scan(&got)
		cancel()
		if err != nil {
			return fmt.Errorf("cannot try the scheduler lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Retry):
		}
	}
	var epoch int64
	err = conn.QueryRow(ctx, `INSERT INTO scheduler_leader (id, epoch, holder, since) VALUES (1, 1, $1, now())
ON CONFLICT (id) DO UPDATE SET epoch = scheduler_leader.epoch + 1, holder = $1, since = now() RETURNING epoch`, cfg.ID).Scan(&epoch)
	if err != nil {
		return fmt.Errorf("cannot take the scheduler epoch: %w", err)
	}
	grace := cfg.Grace
	if grace <= 0 {
		grace = 2 * cfg.Heartbeat
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(grace):
	}
	log.Info("leading the scheduler", "epoch", epoch, "id", cfg.ID)
	termCtx, end := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); lead(Term{Epoch: epoch, Ctx: termCtx}) }()
	defer func() {
		end()
		<-done // tasks have stopped before anyone may lead again from here
		log.Info("scheduler term ended", "epoch", epoch)
	}()
	tick := time.NewTicker(cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Stepping down: stop the tasks, then release the lock.
			end()
			<-done
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, LockKey)
			return nil
		case <-tick.C:
			hctx, cancel := context.WithTimeout(ctx, cfg.Heartbeat)
			var holding bool
			err := conn.QueryRow(hctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
AND granted AND objid = ($1::bigint & 4294967295)::oid AND classid = ($1::bigint >> 32)::oid)`, LockKey).Scan(&holding)
			cancel()
			if err != nil || !holding {
				var pe *pgconn.PgError
				_ = errors.As(err, &pe)
				return fmt.Errorf("lost the scheduler lock (epoch %d): %v", epoch, err)
			}
		}
	}
}

// ErrFenced is a write refused because a newer leader exists.
var ErrFenced = errors.New("leader: a newer scheduler leader exists; this term is over")

// Fence runs f in a transaction that first checks epoch is still the
// current one (and holds the row so no new leader commits in between).
func Fence(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, epoch int64, f func(pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot begin a fenced write: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var current int64
	if err := tx.QueryRow(ctx, `SELECT epoch FROM scheduler_leader WHERE id = 1 FOR SHARE`).Scan(&current); err != nil {
		return fmt.Errorf("cannot read the scheduler epoch: %w", err)
	}
	if current != epoch {
		return ErrFenced
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
