package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/pgmigrate"
)

// pgSchema is the shared store's schema. Records are the same JSON the
// file store writes; the columns beside them are what queries select on.
var pgSchema = pgmigrate.Set{
	What: "the provisioning store", Table: "nano_provision_migrations",
	Lock: 0x6e616e6f70726f76, // "nanoprov"
	Migrations: []pgmigrate.Migration{
		{Version: 1, Name: "deployments, operations, events and stack settings", SQL: `
CREATE TABLE provision_deployments (
    name text PRIMARY KEY,
    record jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE provision_operations (
    id text PRIMARY KEY,
    deployment text NOT NULL,
    created timestamptz NOT NULL,
    done boolean NOT NULL,
    owner text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    record jsonb NOT NULL
);
CREATE INDEX provision_operations_unfinished ON provision_operations (created) WHERE NOT done;
CREATE TABLE provision_events (
    operation text NOT NULL,
    seq integer NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (operation, seq)
);
CREATE TABLE provision_stack_settings (
    name text PRIMARY KEY,
    settings bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
`},
		{Version: 2, Name: "deployment tokens (hashed) and the deployments' uid counter", SQL: `
CREATE TABLE provision_tokens (
    id text PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    deployment text NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX provision_tokens_deployment ON provision_tokens (deployment);
CREATE SEQUENCE provision_uid_seq;
`},
	},
}

// pgTimeout bounds every statement of the store.
const pgTimeout = 15 * time.Second

// pgStore keeps the records in PostgreSQL, so several endpoint processes
// serve one control plane. A deployment's lock is a session advisory lock
// held on this process's own connection: when the process dies, its
// connection closes and PostgreSQL releases its locks, which is how the
// others learn that its operations were interrupted.
type pgStore struct {
	url string
	db  *pgxpool.Pool

	mu   sync.Mutex // guards conn and held
	conn *pgx.Conn  // the session holding this process's locks
	held map[string]bool
}

func newPGStore(url string) (*pgStore, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*pgTimeout)
	defer cancel()
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot reach PostgreSQL: %w", err)
	}
	if err := pgSchema.Apply(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot open the lock session: %w", err)
	}
	return &pgStore{url: url, db: db, conn: conn, held: map[string]bool{}}, nil
}

func (s *pgStore) shared() bool { return true }

func (s *pgStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.conn.Close(context.Background())
	s.db.Close()
}

func pgCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), pgTimeout)
}

// lockSQL names a deployment's advisory lock: a 64-bit hash of its name
// in a namespace of its own.
const lockKey = `hashtextextended('nano-provision:' || $1, 0)`

func (s *pgStore) lock(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Session locks stack within a session: this process's own second
	// claim is refused here, not by PostgreSQL.
	if s.held[name] {
		return false, nil
	}
	ctx, cancel := pgCtx()
	defer cancel()
	var ok bool
	if err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: cannot take the deployment's lock: %w", err)
	}
	if ok {
		s.held[name] = true
	}
	return ok, nil
}

func (s *pgStore) unlock(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held[name] {
		return nil
	}
	delete(s.held, name)
	ctx, cancel := pgCtx()
	defer cancel()
	if _, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, name); err != nil {
		// A broken session has released the lock already.
		return fmt.Errorf("store: cannot release the deployment's lock: %w", err)
	}
	return nil
}

// keepLocks pings the lock session; when it is gone (PostgreSQL restarted,
// the connection dropped) it opens a new one and takes the locks again.
// The ones another process took meanwhile are lost.
func (s *pgStore) keepLocks() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := pgCtx()
	defer cancel()
	if err := s.conn.Ping(ctx); err == nil {
		return nil, nil
	}
	_ = s.conn.Close(ctx)
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return nil, fmt.Errorf("store: cannot reopen the lock session: %w", err)
	}
	s.conn = conn
	var lost []string
	for name := range s.held {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, name).Scan(&ok); err != nil || !ok {
			delete(s.held, name)
			lost = append(lost, name)
		}
	}
	return lost, nil
}

func (s *pgStore) putOp(o *Operation) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	ctx, cancel := pgCtx()
	defer cancel()
	_, err = s.db.Exec(ctx, `INSERT INTO provision_operations (id, deployment, created, done, owner, record)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET done = EXCLUDED.done, owner = EXCLUDED.owner, record = EXCLUDED.record`,
		o.ID, o.Deployment, o.Created, o.Done(), o.Owner, b)
	return err
}

func (s *pgStore) getOp(id string) (*Operation, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	var b []byte
	if err := s.db.QueryRow(ctx, `SELECT record FROM provision_operations WHERE id = $1`, id).Scan(&b); err != nil {
		return nil, notFound(err)
	}
	o := &Operation{}
	return o, json.Unmarshal(b, o)
}

func (s *pgStore) unfinished() ([]*Operation, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT record FROM provision_operations WHERE NOT done ORDER BY created`)
	if err != nil {
		return nil, err
	}
	return collectJSON[Operation](rows)
}

func (s *pgStore) requestCancel(id string) error {
	ctx, cancel := pgCtx()
	defer cancel()
	_, err := s.db.Exec(ctx, `UPDATE provision_operations SET cancel_requested = true WHERE id = $1 AND NOT done`, id)
	return err
}

func (s *pgStore) cancelRequests(owner string) ([]string, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT id FROM provision_operations WHERE cancel_requested AND NOT done AND owner = $1`, owner)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (s *pgStore) putDeployment(d *Deployment) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	ctx, cancel := pgCtx()
	defer cancel()
	_, err = s.db.Exec(ctx, `INSERT INTO provision_deployments (name, record) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record, updated_at = now()`, d.Name, b)
	return err
}

func (s *pgStore) getDeployment(name string) (*Deployment, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	var b []byte
	if err := s.db.QueryRow(ctx, `SELECT record FROM provision_deployments WHERE name = $1`, name).Scan(&b); err != nil {
		return nil, notFound(err)
	}
	d := &Deployment{}
	return d, json.Unmarshal(b, d)
}

func (s *pgStore) deleteDeployment(name string) error {
	ctx, cancel := pgCtx()
	defer cancel()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{`DELETE FROM provision_deployments WHERE name = $1`, `DELETE FROM provision_stack_settings WHERE name = $1`} {
		if _, err := tx.Exec(ctx, q, name); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (s *pgStore) deployments() ([]*Deployment, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT record FROM provision_deployments ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return collectJSON[Deployment](rows)
}

// appendEvent numbers events in order: one goroutine of the owning
// process writes an operation's events.
func (s *pgStore) appendEvent(id string, event []byte) error {
	ctx, cancel := pgCtx()
	defer cancel()
	_, err := s.db.Exec(ctx, `INSERT INTO provision_events (operation, seq, body)
SELECT $1, coalesce(max(seq) + 1, 0), $2 FROM provision_events WHERE operation = $1`, id, event)
	return err
}

func (s *pgStore) events(id string, from int) ([][]byte, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT body FROM provision_events WHERE operation = $1 AND seq >= $2 ORDER BY seq`, id, from)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

func (s *pgStore) putStackSettings(name string, b []byte) error {
	ctx, cancel := pgCtx()
	defer cancel()
	_, err := s.db.Exec(ctx, `INSERT INTO provision_stack_settings (name, settings) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()`, name, b)
	return err
}

func (s *pgStore) stackSettings(name string) ([]byte, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	var b []byte
	err := s.db.QueryRow(ctx, `SELECT settings FROM provision_stack_settings WHERE name = $1`, name).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func collectJSON[T any](rows pgx.Rows) ([]*T, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*T, error) {
		var b []byte
		if err := r.Scan(&b); err != nil {
			return nil, err
		}
		v := new(T)
		return v, json.Unmarshal(b, v)
	})
}

func (s *pgStore) nextUID() (uint64, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT nextval('provision_uid_seq')`).Scan(&n); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

func (s *pgStore) putToken(t *Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	ctx, cancel := pgCtx()
	defer cancel()
	_, err = s.db.Exec(ctx, `INSERT INTO provision_tokens (id, hash, deployment, record) VALUES ($1, $2, $3, $4)`, t.ID, t.Hash, t.Deployment, b)
	return err
}

func (s *pgStore) tokens(deployment string) ([]*Token, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT record, hash FROM provision_tokens WHERE $1 = '' OR deployment = $1 ORDER BY record->>'created'`, deployment)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanToken)
}

func (s *pgStore) tokenByHash(hash string) (*Token, error) {
	ctx, cancel := pgCtx()
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT record, hash FROM provision_tokens WHERE hash = $1`, hash)
	if err != nil {
		return nil, err
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanToken)
	return t, notFound(err)
}

func scanToken(r pgx.CollectableRow) (*Token, error) {
	var b []byte
	t := &Token{}
	if err := r.Scan(&b, &t.Hash); err != nil {
		return nil, err
	}
	return t, json.Unmarshal(b, t)
}

func (s *pgStore) deleteToken(id string) error {
	ctx, cancel := pgCtx()
	defer cancel()
	tag, err := s.db.Exec(ctx, `DELETE FROM provision_tokens WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

func (s *pgStore) deleteTokens(deployment string) error {
	ctx, cancel := pgCtx()
	defer cancel()
	_, err := s.db.Exec(ctx, `DELETE FROM provision_tokens WHERE deployment = $1`, deployment)
	return err
}
