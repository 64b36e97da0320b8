package chbackup

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Native is a Conn over clickhouse-go's native protocol. Every column read
// must be a String or an Enum (the statements here convert the rest with
// toString).
type Native struct{ Conn driver.Conn }

// Query runs sql and returns its rows as text.
func (n Native) Query(ctx context.Context, sql string) ([][]string, error) {
	rows, err := n.Conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := len(rows.Columns())
	var out [][]string
	for rows.Next() {
		row := make([]string, cols)
		dest := make([]any, cols)
		for i := range row {
			dest[i] = &row[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("chbackup: %w", err)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
