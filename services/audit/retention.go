package audit

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention bounds: an operator may keep the trail from a month to ten
// years (NANO_AUDIT_RETENTION_DAYS, nano:auditRetentionDays).
const (
	MinRetentionDays     = 30
	MaxRetentionDays     = 3650
	DefaultRetentionDays = 400
)

var rePartition = regexp.MustCompile(`^audit_log_([0-9]{6})$`)

// Expire drops the months of the trail whose every entry is older than
// keepDays (whole partitions: nothing deletes single entries), and answers
// the partitions it dropped. Only the schema's owner (the api) can.
func Expire(ctx context.Context, db *pgxpool.Pool, keepDays int, now time.Time) ([]string, error) {
	if keepDays < MinRetentionDays || keepDays > MaxRetentionDays {
		return nil, fmt.Errorf("cannot expire the audit trail: keep %d days is outside %d-%d", keepDays, MinRetentionDays, MaxRetentionDays)
	}
	rows, err := db.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_log'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("cannot list the audit trail's partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("cannot list the audit trail's partitions: %w", err)
	}
	cutoff := now.UTC().AddDate(0, 0, -keepDays)
	var dropped []string
	for _, name := range names {
		m := rePartition.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		month, err := time.Parse("200601", m[1])
		if err != nil {
			continue
		}
		if end := month.AddDate(0, 1, 0); end.After(cutoff) {
			continue
		}
		if _, err := db.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
			return dropped, fmt.Errorf("cannot drop the expired audit partition %s: %w", name, err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}
