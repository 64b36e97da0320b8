// Package retention rolls off events older than the tier's retention where
// the table has no TTL to do it (ClickHouse before 22.2, see
// services/events): it drops whole daily partitions past the cutoff.
package retention

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
)

// RollOff drops the events table's partitions whose newest day is older
// than e.RetentionDays before now; it does nothing where the schema's TTL
// expires rows or retention is 0. It returns the dropped partitions.
func RollOff(ctx context.Context, conn driver.Conn, e events.Engine, now time.Time) ([]string, error) {
	if e.Modern() || e.RetentionDays <= 0 {
		return nil, nil
	}
	cutoff := now.UTC().AddDate(0, 0, -e.RetentionDays)
	cutoff = time.Date(cutoff.Year(), cutoff.Month(), cutoff.Day(), 0, 0, 0, 0, time.UTC)
	// The partition is the day (toYYYYMMDD(ts)); a day before the cutoff's
	// day holds only expired events.
	// A server lists its own parts; on a cluster the days are read through
	// the Distributed table (the ts filter prunes to the old partitions).
	list, args := `SELECT DISTINCT partition FROM system.parts
WHERE database = @db AND table = 'events' AND active AND partition < @cutoff ORDER BY partition`,
		[]any{clickhouse.Named("db", e.Database), clickhouse.Named("cutoff", cutoff.Format("20060102"))}
	if e.Replicated() {
		list, args = fmt.Sprintf("SELECT DISTINCT toString(toYYYYMMDD(ts)) AS partition FROM %s WHERE ts < toDateTime(@cutoff) ORDER BY partition", e.Table()),
			[]any{clickhouse.Named("cutoff", cutoff.Unix())}
	}
	parts, err := partitions(ctx, conn, list, args...)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, p := range parts {
		if err := dropDay(ctx, conn, e, p); err != nil {
			return dropped, err
		}
		dropped = append(dropped, p)
	}
	return dropped, nil
}

// partitions runs a query listing partitions (days).
func partitions(ctx context.Context, conn driver.Conn, sql string, args ...any) ([]string, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list partitions: %w", err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("cannot list partitions: %w", err)
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list partitions: %w", err)
	}
	return parts, nil
}

// dropDay drops day p of the events, on every shard of a cluster.
func dropDay(ctx context.Context, conn driver.Conn, e events.Engine, p string) error {
	// Partitions are toYYYYMMDD(ts): digits only, written as such.
	if !reDay.MatchString(p) {
		return fmt.Errorf("unexpected partition %q of %s", p, e.LocalTable())
	}
	err := e.ExecDDL(ctx, conn, fmt.Sprintf("ALTER TABLE %s%s DROP PARTITION %s", e.LocalTable(), e.OnCluster(), p))
	if err := events.IgnoreQueued(err); err != nil {
		return fmt.Errorf("cannot drop partition %s: %w", p, err)
	}
	return nil
}

var reDay = regexp.MustCompile(`^[0-9]{8}$`)

// DropOldestDay deletes the oldest day of events, even before the
// retention would, and returns it; never the newest day (being written),
// so "" when only that one is left. On a cluster the day is dropped on
// every shard. Only the operator's explicit policy calls it (the api's
// disk task with NANO_DISK_DROP_OLDEST_BELOW_PCT set): by default a full
// disk stops ingest instead, and nothing stored is deleted.
func DropOldestDay(ctx context.Context, conn driver.Conn, e events.Engine) (string, error) {
	parts, err := partitions(ctx, conn, `SELECT DISTINCT partition FROM system.parts WHERE database = @db AND table = @table AND active ORDER BY partition`,
		clickhouse.Named("db", e.Database), clickhouse.Named("table", strings.TrimPrefix(e.LocalTable(), e.Database+".")))
	if err != nil || len(parts) < 2 {
		return "", err
	}
	if err := dropDay(ctx, conn, e, parts[0]); err != nil {
		return "", err
	}
	return parts[0], nil
}
