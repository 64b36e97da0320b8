// Package quota is ingest's per-tenant quotas: events per second (a token
// bucket per tenant on each replica) and bytes per UTC day (counted across
// replicas through the metadata database's ingest_usage table when ingest
// has one, else on the replica). A tenant over either gets 429 with a
// Retry-After, whatever its tokens; the other tenants are not slowed.
package quota

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The quotas' names (metric labels, messages).
const (
	EventsPerSecond = "events_per_second"
	BytesPerDay     = "bytes_per_day"
)

// Limits are every tenant's quotas; zero values are unlimited.
type Limits struct {
	// EventsPerSecond is the sustained rate of one tenant's events on a
	// replica; BurstSeconds of them may come at once (60).
	EventsPerSecond float64
	BurstSeconds    float64
	// BytesPerDay bounds one tenant's bytes of events (as received) per
	// UTC day across the replicas.
	BytesPerDay int64
}

// DefaultBurstSeconds is Limits.BurstSeconds's default.
const DefaultBurstSeconds = 60

// Refusal says why a tenant's events were refused (Quota "" when they
// were not).
type Refusal struct {
	Quota      string
	RetryAfter time.Duration
	Msg        string
}

// Quotas hold every tenant's usage.
type Quotas struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	day     string // UTC date of the byte counts (2006-01-02)
	tenants map[string]*usage
	// carry holds what a day that ended had not yet synced.
	carry []delta
}

type usage struct {
	tokens float64
	last   time.Time
	// shared is the tenant's bytes today by every replica as of the last
	// sync (this one's included then); pending what this replica took
	// since (negative after returns).
	shared                 int64
	pending, pendingEvents int64
}

type delta struct {
	tenant, day   string
	bytes, events int64
}

// New returns quotas of limits on the wall clock.
func New(l Limits) *Quotas { return NewAt(l, time.Now) }

// NewAt is New on the clock now.
func NewAt(l Limits, now func() time.Time) *Quotas {
	if l.BurstSeconds <= 0 {
		l.BurstSeconds = DefaultBurstSeconds
	}
	return &Quotas{limits: l, now: now, tenants: map[string]*usage{}}
}

// Limits are the quotas' limits.
func (q *Quotas) Limits() Limits { return q.limits }

// Take counts n events of size bytes against tenant's quotas, or refuses
// them (counting nothing) when they would pass one. An events-per-second
// refusal's RetryAfter is when the bucket holds them; a bytes-per-day
// one's is the next UTC midnight.
func (q *Quotas) Take(tenant string, n int, bytes int64) Refusal {
	if q == nil || (q.limits.EventsPerSecond <= 0 && q.limits.BytesPerDay <= 0) {
		return Refusal{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	u := q.tenant(tenant, now)
	if l := q.limits.BytesPerDay; l > 0 {
		if used := u.shared + u.pending; used+bytes > l {
			next := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day()+1, 0, 0, 0, 0, time.UTC)
			return Refusal{Quota: BytesPerDay, RetryAfter: next.Sub(now),
				Msg: fmt.Sprintf("tenant %q has used %s of its %s per day (UTC) of events; these %s would pass it: retry after midnight UTC",
					tenant, size(used), size(l), size(bytes))}
		}
	}
	if rate := q.limits.EventsPerSecond; rate > 0 {
		burst := math.Max(rate*q.limits.BurstSeconds, 1)
		u.tokens = math.Min(burst, u.tokens+now.Sub(u.last).Seconds()*rate)
		u.last = now
		// A request larger than the burst passes on a full bucket and
		// leaves it in debt: large requests are slowed, never refused
		// forever.
		if float64(n) > u.tokens && u.tokens < burst {
			need := math.Min(float64(n), burst) - u.tokens
			return Refusal{Quota: EventsPerSecond, RetryAfter: time.Duration(math.Ceil(need / rate * float64(time.Second))),
				Msg: fmt.Sprintf("tenant %q is over its %g events per second (bursts of %g): retry later", tenant, rate, burst)}
		}
		u.tokens -= float64(n)
	}
	u.pending += bytes
	u.pendingEvents += int64(n)
	return Refusal{}
}

// Return gives back what Take counted for events that were not stored
// (the write failed: the client sends them again).
func (q *Quotas) Return(tenant string, n int, bytes int64) {
	if q == nil || (q.limits.EventsPerSecond <= 0 && q.limits.BytesPerDay <= 0) {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.tenant(tenant, q.now())
	u.pending -= bytes
	u.pendingEvents -= int64(n)
	if rate := q.limits.EventsPerSecond; rate > 0 {
		u.tokens = math.Min(math.Max(rate*q.limits.BurstSeconds, 1), u.tokens+float64(n))
	}
}

// Used is tenant's bytes today as this replica knows them.
func (q *Quotas) Used(tenant string) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.tenant(tenant, q.now())
	return u.shared + u.pending
}

// tenant is tenant's usage (after rollover). q.mu is held.
func (q *Quotas) tenant(tenant string, now time.Time) *usage {
	q.rollover(now)
	u, ok := q.tenants[tenant]
	if !ok {
		u = &usage{tokens: math.Max(q.limits.EventsPerSecond*q.limits.BurstSeconds, 1), last: now}
		q.tenants[tenant] = u
	}
	return u
}

// rollover starts a new day's byte counts when the UTC date changed; what
// the old day had not synced is carried to the next sync. q.mu is held.
func (q *Quotas) rollover(now time.Time) {
	day := now.UTC().Format(time.DateOnly)
	if day == q.day {
		return
	}
	for name, u := range q.tenants {
		if u.pending != 0 || u.pendingEvents != 0 {
			q.carry = append(q.carry, delta{tenant: name, day: q.day, bytes: u.pending, events: u.pendingEvents})
		}
		u.shared, u.pending, u.pendingEvents = 0, 0, 0
	}
	q.day = day
}

// Sync adds what this replica counted since the last sync to the tenants'
// rows of ingest_usage and reads every tenant's total for today (every
// replica's): one round. What it could not write is kept for the next.
func (q *Quotas) Sync(ctx context.Context, db *pgxpool.Pool) error {
	if q == nil || q.limits.BytesPerDay <= 0 {
		return nil
	}
	q.mu.Lock()
	q.rollover(q.now())
	day := q.day
	deltas := q.carry
	q.carry = nil
	for name, u := range q.tenants {
		if u.pending != 0 || u.pendingEvents != 0 {
			deltas = append(deltas, delta{tenant: name, day: day, bytes: u.pending, events: u.pendingEvents})
			u.pending, u.pendingEvents = 0, 0
		}
	}
	q.mu.Unlock()
	if err := q.write(ctx, db, deltas); err != nil {
		q.mu.Lock()
		q.rollover(q.now())
		for _, d := range deltas {
			if d.day == q.day {
				u := q.tenant(d.tenant, q.now())
				u.pending += d.bytes
				u.pendingEvents += d.events
			} else {
				q.carry = append(q.carry, d)
			}
		}
		q.mu.Unlock()
		return err
	}
	rows, err := db.Query(ctx, `SELECT tenant, bytes FROM ingest_usage WHERE day = $1`, day)
	if err != nil {
		return fmt.Errorf("cannot read the tenants' ingest usage: %w", err)
	}
	totals := map[string]int64{}
	for rows.Next() {
		var tenant string
		var bytes int64
		if err := rows.Scan(&tenant, &bytes); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read the tenants' ingest usage: %w", err)
		}
		totals[tenant] = bytes
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read the tenants' ingest usage: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.day != day {
		return nil // a new day began meanwhile: its counts start at 0
	}
	for tenant, bytes := range totals {
		q.tenant(tenant, q.now()).shared = bytes
	}
	return nil
}

// write adds deltas to ingest_usage in one transaction.
func (q *Quotas) write(ctx context.Context, db *pgxpool.Pool, deltas []delta) error {
	if len(deltas) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, d := range deltas {
		b.Queue(`INSERT INTO ingest_usage (tenant, day, bytes, events) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant, day) DO UPDATE SET bytes = ingest_usage.bytes + EXCLUDED.bytes, events = ingest_usage.events + EXCLUDED.events`,
			d.tenant, d.day, d.bytes, d.events)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() }); err != nil {
		return fmt.Errorf("cannot record the tenants' ingest usage: %w", err)
	}
	return nil
}

// SyncEvery syncs every interval until ctx ends, and once more then.
func (q *Quotas) SyncEvery(ctx context.Context, db *pgxpool.Pool, interval time.Duration, log *slog.Logger) {
	if q == nil || q.limits.BytesPerDay <= 0 {
		return
	}
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := q.Sync(final, db); err != nil {
				log.Warn("the tenants' last ingest usage was not recorded", "error", err)
			}
			return
		case <-time.After(interval):
		}
		if err := q.Sync(ctx, db); err != nil && ctx.Err() == nil {
			log.Warn("the tenants' ingest usage was not synced; each replica counts its own meanwhile", "error", err)
		}
	}
}

// size renders bytes for messages (GB are 10^9 bytes, as the tiers count).
func size(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	default:
		return fmt.Sprintf("%d bytes", b)
	}
}
