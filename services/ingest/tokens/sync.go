package tokens

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LoadFromDatabase reads the feeds' ingest tokens the api issued (hashes
// only; revoked ones and those of deleted feeds are gone) and puts them in
// s in place of the previous load. Each token speaks for its feed's tenant
// with the feed's name, at rate.
func LoadFromDatabase(ctx context.Context, db *pgxpool.Pool, s *Store, rate float64) (int, error) {
	rows, err := db.Query(ctx, `SELECT t.hash, t.tenant, f.name, f.kind FROM ingest_tokens t JOIN feeds f ON f.id = t.feed_id WHERE t.revoked_at IS NULL`)
	if err != nil {
		return 0, fmt.Errorf("cannot read ingest tokens: %w", err)
	}
	defer rows.Close()
	out := map[[sha256.Size]byte]Identity{}
	for rows.Next() {
		var hash []byte
		var id Identity
		if err := rows.Scan(&hash, &id.Tenant, &id.Feed, &id.Kind); err != nil {
			return 0, fmt.Errorf("cannot read ingest tokens: %w", err)
		}
		if len(hash) != sha256.Size {
			continue
		}
		id.RatePerSecond = rate
		out[[sha256.Size]byte(hash)] = id
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("cannot read ingest tokens: %w", err)
	}
	s.ReplaceDatabaseTokens(out)
	return len(out), nil
}

// Sync reloads the database's tokens every interval until ctx ends; a
// failed load keeps the previous tokens.
func Sync(ctx context.Context, db *pgxpool.Pool, s *Store, rate float64, interval time.Duration, log *slog.Logger) {
	for {
		if _, err := LoadFromDatabase(ctx, db, s, rate); err != nil && ctx.Err() == nil {
			log.Warn("ingest tokens not refreshed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
