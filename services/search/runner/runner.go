// Package runner executes compiled searches (package sqlgen) on ClickHouse
// with per-query limits, turning rows into JSON-ready values as they
// arrive and reporting what the server read.
package runner

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/search/sqlgen"
)

// Limits are passed to ClickHouse with every query; zero leaves the
// server's setting.
type Limits struct {
	MaxExecutionTime time.Duration
	MaxRowsToRead    uint64
	MaxBytesToRead   uint64
	MaxMemoryUsage   uint64
}

// Query complexity limits sent with every search, a second line of
// defence behind the compiler's own bounds (query.MaxTerms, query.MaxDepth,
// sqlgen.MaxFilterBytes): a compiled search stays far below them, and a
// query past them fails in ClickHouse's parser with an error instead of
// exhausting the server.
const (
	MaxASTDepth            = 256
	MaxASTElements         = 50_000
	MaxExpandedASTElements = 500_000
)

// Settings are the limits as ClickHouse settings.
func (l Limits) Settings() clickhouse.Settings {
	s := clickhouse.Settings{
		"max_ast_depth":             MaxASTDepth,
		"max_ast_elements":          MaxASTElements,
		"max_expanded_ast_elements": MaxExpandedASTElements,
	}
	if l.MaxExecutionTime > 0 {
		s["max_execution_time"] = int(math.Ceil(l.MaxExecutionTime.Seconds()))
	}
	if l.MaxRowsToRead > 0 {
		s["max_rows_to_read"] = int(min(l.MaxRowsToRead, math.MaxInt64))
	}
	if l.MaxBytesToRead > 0 {
		s["max_bytes_to_read"] = int(min(l.MaxBytesToRead, math.MaxInt64))
	}
	if l.MaxMemoryUsage > 0 {
		s["max_memory_usage"] = int(min(l.MaxMemoryUsage, math.MaxInt64))
	}
	return s
}

// Stats describe one execution.
type Stats struct {
	Rows      int           `json:"rows"`
	RowsRead  uint64        `json:"rows_read"`
	BytesRead uint64        `json:"bytes_read"`
	Elapsed   time.Duration `json:"-"`
}

// Runner runs statements on one ClickHouse.
type Runner struct {
	Conn   driver.Conn
	Limits Limits
	// ServerParams: the server takes query parameters ({name:Type}, since
	// ClickHouse 22.8); older servers get the values bound by the driver.
	ServerParams bool
	// SearchReplicas: reads over a cluster's Distributed table go to each
	// shard's first live replica in the cluster's order, the replica
	// dedicated to searches (load_balancing 'in_order'; the setting is a
	// string, which servers before 20.1 take only in the query's SETTINGS
	// clause). Without it ClickHouse picks any replica of the other shards.
	SearchReplicas bool
}

// New asks the server its version to choose how parameters travel.
func New(ctx context.Context, conn driver.Conn, l Limits) (*Runner, error) {
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	return &Runner{Conn: conn, Limits: l, ServerParams: v[0] > 22 || (v[0] == 22 && v[1] >= 8)}, nil
}

var rePlaceholder = regexp.MustCompile(`\{(p[0-9]+):[A-Za-z0-9]+\}`)

// SQL is st's text and arguments as this runner sends them: placeholders
// for server-side parameters, or @name for the driver to bind.
func (r *Runner) SQL(st *sqlgen.Statement) (string, []any) {
	sql := st.SQL
	if r.SearchReplicas {
		sql += "\nSETTINGS load_balancing = 'in_order'"
	}
	if !r.ServerParams {
		return BindInDriver(sql, st.Params)
	}
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		args[i] = clickhouse.Named(p.Name, p.Value)
	}
	return sql, args
}

// Run executes st and calls emit with each row, one value per
// st.Columns entry (times as RFC 3339 strings, attributes as objects,
// NULL and non-finite numbers as nil). An error from emit stops the query.
// The returned Stats are final: the results are named so that the deferred
// close (which drains the server's last progress packets) and the elapsed
// time land in what the caller gets.
func (r *Runner) Run(ctx context.Context, st *sqlgen.Statement, emit func(row []any) error) (stats Stats, err error) {
	start := time.Now()
	defer func() { stats.Elapsed = time.Since(start) }()
	ctx = clickhouse.Context(ctx,
		clickhouse.WithSettings(r.Limits.Settings()),
		clickhouse.WithProgress(func(p *clickhouse.Progress) {
			stats.RowsRead += p.Rows
			stats.BytesRead += p.Bytes
		}))
	sql, args := r.SQL(st)
	rows, err := r.Conn.Query(ctx, sql, args...)
	if err != nil {
		return stats, fmt.Errorf("cannot run the search: %w", err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	dest := make([]any, len(types))
	for i, t := range types {
		dest[i] = reflect.New(t.ScanType()).Interface()
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return stats, fmt.Errorf("cannot read a result row: %w", err)
		}
		row, err := shape(st.Columns, dest)
		if err != nil {
			return stats, err
		}
		stats.Rows++
		if err := emit(row); err != nil {
			return stats, err
		}
	}
	if err := rows.Err(); err != nil {
		return stats, fmt.Errorf("cannot run the search: %w", err)
	}
	return stats, nil
}

// shape turns scanned columns into one value per result column.
func shape(cols []sqlgen.Column, dest []any) ([]any, error) {
	row := make([]any, 0, len(cols))
	i := 0
	for _, c := range cols {
		switch c.Output {
		case sqlgen.Timestamp:
			ts, ok1 := dest[i].(*time.Time)
			nanos, ok2 := dest[i+1].(*uint32)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("search result: %s is %T and %T", c.Name, dest[i], dest[i+1])
			}
			row = append(row, time.Unix(ts.Unix(), int64(*nanos)).UTC().Format(time.RFC3339Nano))
			i += 2
		case sqlgen.Attributes:
			keys, ok1 := dest[i].(*[]string)
			values, ok2 := dest[i+1].(*[]string)
			if !ok1 || !ok2 || len(*keys) != len(*values) {
				return nil, fmt.Errorf("search result: %s is %T and %T", c.Name, dest[i], dest[i+1])
			}
			m := make(map[string]string, len(*keys))
			for j, k := range *keys {
				m[k] = (*values)[j]
			}
			row = append(row, m)
			i += 2
		default:
			row = append(row, plain(dest[i]))
			i++
		}
	}
	return row, nil
}

// plain dereferences a scanned value; NULL and NaN/Inf become nil (JSON
// has no such numbers).
func plain(p any) any {
	v := reflect.ValueOf(p).Elem()
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	x := v.Interface()
	if f, ok := x.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil
	}
	return x
}

// BindInDriver is st's text with @name placeholders and its arguments, for
// statements the server cannot parameterize (DDL such as a materialized
// view's SELECT): the driver binds the values, quoting them.
func BindInDriver(sql string, params []sqlgen.Param) (string, []any) {
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = clickhouse.Named(p.Name, p.Value)
	}
	return rePlaceholder.ReplaceAllString(sql, "@$1"), args
}
