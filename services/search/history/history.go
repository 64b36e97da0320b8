// Package history keeps what analysts searched (search history) and what
// they keep (saved searches) in the metadata database (tables from
// metadb), per tenant.
package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/quota"
)

// Entry is one search as it ran.
type Entry struct {
	ID        int64     `json:"id"`
	TokenID   *int64    `json:"token_id,omitempty"`
	Query     string    `json:"query"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	StartedAt time.Time `json:"started_at"`
	ElapsedMS float64   `json:"elapsed_ms"`
	Rows      int64     `json:"rows"`
	RowsRead  int64     `json:"rows_read"`
	BytesRead int64     `json:"bytes_read"`
	// Status is ok, invalid (the query did not parse or compile), failed
	// (ClickHouse refused or failed it) or rejected (admission).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Saved is a saved search; From and To are kept as typed ("-24h", "now",
// a time), so a saved search stays relative.
type Saved struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Query     string    `json:"query"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrNotFound is a saved search that does not exist (for this tenant).
var ErrNotFound = errors.New("no such saved search")

// ErrDuplicate is a saved search name the tenant already uses.
var ErrDuplicate = errors.New("a saved search with this name exists")

// Store reads and writes history and saved searches.
type Store struct {
	DB *pgxpool.Pool
	// MaxSaved caps a tenant's saved searches (Save answers
	// *quota.Exceeded at it).
	MaxSaved quota.Limit
}

// Record stores one search of tenant.
func (s *Store) Record(ctx context.Context, tenant string, e Entry) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO search_history
(tenant, token_id, query, range_from, range_to, started_at, elapsed_ms, result_rows, rows_read, bytes_read, status, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		tenant, e.TokenID, e.Query, e.From, e.To, e.StartedAt, e.ElapsedMS, e.Rows, e.RowsRead, e.BytesRead, e.Status, e.Error)
	if err != nil {
		return fmt.Errorf("cannot record the search: %w", err)
	}
	return nil
}

// History lists tenant's searches newest first: at most limit, older than
// before (0: from the newest).
func (s *Store) History(ctx context.Context, tenant string, limit int, before int64) ([]Entry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.DB.Query(ctx, `SELECT id, token_id, query, range_from, range_to, started_at, elapsed_ms, result_rows, rows_read, bytes_read, status, error
FROM search_history WHERE tenant = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, tenant, before, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot read the search history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.TokenID, &e.Query, &e.From, &e.To, &e.StartedAt, &e.ElapsedMS, &e.Rows, &e.RowsRead, &e.BytesRead, &e.Status, &e.Error)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the search history: %w", err)
	}
	return out, nil
}

const savedColumns = `id, name, query, range_from, range_to, created_at, updated_at`

func scanSaved(r pgx.CollectableRow) (Saved, error) {
	var v Saved
	err := r.Scan(&v.ID, &v.Name, &v.Query, &v.From, &v.To, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

// Save creates a saved search.
func (s *Store) Save(ctx context.Context, tenant string, by *int64, v Saved) (Saved, error) {
	var out Saved
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := quota.Check(ctx, tx, tenant, s.MaxSaved, `SELECT count(*) FROM saved_searches WHERE tenant = $1`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO saved_searches (tenant, name, query, range_from, range_to, created_by)
VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+savedColumns, tenant, v.Name, v.Query, v.From, v.To, by)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanSaved)
		return err
	})
	if _, over := quota.As(err); over {
		return Saved{}, err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return Saved{}, ErrDuplicate
	}
	if err != nil {
		return Saved{}, fmt.Errorf("cannot save the search: %w", err)
	}
	return out, nil
}

// Update replaces a saved search's name, query and range.
func (s *Store) Update(ctx context.Context, tenant string, v Saved) (Saved, error) {
	rows, err := s.DB.Query(ctx, `UPDATE saved_searches SET name = $3, query = $4, range_from = $5, range_to = $6, updated_at = now()
WHERE tenant = $1 AND id = $2 RETURNING `+savedColumns, tenant, v.ID, v.Name, v.Query, v.From, v.To)
	if err != nil {
		return Saved{}, fmt.Errorf("cannot update the saved search: %w", err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanSaved)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Saved{}, ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505":
		return Saved{}, ErrDuplicate
	case err != nil:
		return Saved{}, fmt.Errorf("cannot update the saved search: %w", err)
	}
	return out, nil
}

// Get returns one saved search.
func (s *Store) Get(ctx context.Context, tenant string, id int64) (Saved, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+savedColumns+` FROM saved_searches WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return Saved{}, fmt.Errorf("cannot read the saved search: %w", err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanSaved)
	if errors.Is(err, pgx.ErrNoRows) {
		return Saved{}, ErrNotFound
	}
	if err != nil {
		return Saved{}, fmt.Errorf("cannot read the saved search: %w", err)
	}
	return out, nil
}

// List returns tenant's saved searches by id: at most limit, after the id
// after.
func (s *Store) List(ctx context.Context, tenant string, limit int, after int64) ([]Saved, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+savedColumns+` FROM saved_searches WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, fmt.Errorf("cannot list saved searches: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanSaved)
	if err != nil {
		return nil, fmt.Errorf("cannot list saved searches: %w", err)
	}
	return out, nil
}

// Delete removes a saved search.
func (s *Store) Delete(ctx context.Context, tenant string, id int64) error {
	tag, err := s.DB.Exec(ctx, `DELETE FROM saved_searches WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return fmt.Errorf("cannot delete the saved search: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
