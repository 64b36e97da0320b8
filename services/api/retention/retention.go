// Package retention rolls off events older than the tier's retention where
// the table has no TTL to do it (ClickHouse before 22.2, see
// services/events): it drops whole daily partitions past the cutoff.
package retention

import (
	"context"
	"fmt"
	"regexp"
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
	rows, err := conn.Query(ctx, `SELECT DISTINCT partition FROM system.parts
WHERE database = @db AND table = @table AND active AND partition < @cutoff ORDER BY partition`,
		clickhouse.Named("db", e.Database), clickhouse.Named("table", "events"), clickhouse.Named("cutoff", cutoff.Format("20060102")))
	if err != nil {
		return nil, fmt.Errorf("cannot list partitions: %w", err)
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot list partitions: %w", err)
		}
		parts = append(parts, p)
	}
	rows.Close()
	var dropped []string
	for _, p := range parts {
		// Partitions are toYYYYMMDD(ts): digits only, written as such.
		if !reDay.MatchString(p) {
			return dropped, fmt.Errorf("unexpected partition %q of %s", p, e.Table())
		}
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %s", e.Table(), p)); err != nil {
			return dropped, fmt.Errorf("cannot drop partition %s: %w", p, err)
		}
		dropped = append(dropped, p)
	}
	return dropped, nil
}

var reDay = regexp.MustCompile(`^[0-9]{8}$`)
