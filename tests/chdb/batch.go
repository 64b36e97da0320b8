package chdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Inserter lets code that inserts through clickhouse-go's batches
// (PrepareBatch, the columns, Send) insert into the in-process engine:
// the batch's columns are clickhouse-go's own, typed as the table's
// columns are on the engine, and Send runs one INSERT ... FORMAT
// JSONEachRow of their rows (LowCardinality columns are sent as their
// values, which the engine encodes). The engine's errors come back as
// *clickhouse.Exception (code, name, message), as the native protocol
// gives them. Insert settings in the context (deduplication tokens) are
// not carried.
type Inserter struct{ Engine *Engine }

var reLowCardinality = regexp.MustCompile(`LowCardinality\(([^()]*)\)`)

var reInsert = regexp.MustCompile(`^INSERT INTO ([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*) \(([A-Za-z0-9_, ]+)\)$`)

// PrepareBatch starts a batch of query ("INSERT INTO db.table (columns)").
func (in Inserter) PrepareBatch(_ context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	m := reInsert.FindStringSubmatch(strings.TrimSpace(query))
	if m == nil {
		return nil, fmt.Errorf("chdb.Inserter: cannot parse %q", query)
	}
	out, err := in.Engine.Query(fmt.Sprintf("SELECT name, type FROM system.columns WHERE database = '%s' AND table = '%s'", m[1], m[2]), "TSV")
	if err != nil {
		return nil, exception(err)
	}
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, typ, ok := strings.Cut(line, "\t"); ok {
			types[name] = typ
		}
	}
	b := &batch{in: in, table: m[1] + "." + m[2]}
	for _, name := range strings.Split(m[3], ",") {
		name = strings.TrimSpace(name)
		typ, ok := types[name]
		if !ok {
			return nil, fmt.Errorf("chdb.Inserter: %s has no column %s", b.table, name)
		}
		// A LowCardinality column as its values' type: the driver's
		// LowCardinality columns cannot be read back before they are
		// encoded, and the JSON text is the same.
		typ = reLowCardinality.ReplaceAllString(typ, "$1")
		col, err := column.Type(typ).Column(name, &column.ServerContext{Timezone: time.UTC})
		if err != nil {
			return nil, fmt.Errorf("chdb.Inserter: column %s: %w", name, err)
		}
		b.names = append(b.names, name)
		b.cols = append(b.cols, col)
	}
	return b, nil
}

type batch struct {
	in    Inserter
	table string
	names []string
	cols  []column.Interface
	sent  bool
}

type batchColumn struct{ col column.Interface }

func (c batchColumn) Append(v any) error {
	_, err := c.col.Append(v)
	return err
}

func (c batchColumn) AppendRow(v any) error { return c.col.AppendRow(v) }

func (b *batch) Abort() error { b.sent = true; return nil }
func (b *batch) Close() error { b.sent = true; return nil }
func (b *batch) Flush() error { return nil }
func (b *batch) IsSent() bool { return b.sent }

func (b *batch) Append(v ...any) error {
	if len(v) != len(b.cols) {
		return fmt.Errorf("chdb.Inserter: %d values for %d columns", len(v), len(b.cols))
	}
	for i, x := range v {
		if err := b.cols[i].AppendRow(x); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) AppendStruct(any) error {
	return errors.New("chdb.Inserter: AppendStruct is not supported")
}

func (b *batch) Column(i int) driver.BatchColumn { return batchColumn{b.cols[i]} }

func (b *batch) Columns() []column.Interface { return b.cols }

func (b *batch) Rows() int {
	if len(b.cols) == 0 {
		return 0
	}
	return b.cols[0].Rows()
}

// Send inserts the rows in one statement.
func (b *batch) Send() error {
	b.sent = true
	var body strings.Builder
	fmt.Fprintf(&body, "INSERT INTO %s (%s) FORMAT JSONEachRow\n", b.table, strings.Join(b.names, ", "))
	for r := 0; r < b.Rows(); r++ {
		row := make(map[string]any, len(b.cols))
		for i, c := range b.cols {
			v := c.Row(r, false)
			if t, ok := v.(time.Time); ok {
				v = t.Unix()
			}
			row[b.names[i]] = v
		}
		line, err := json.Marshal(row)
		if err != nil {
			return fmt.Errorf("chdb.Inserter: row %d: %w", r, err)
		}
		body.Write(line)
		body.WriteByte('\n')
	}
	if _, err := b.in.Engine.Query(body.String(), ""); err != nil {
		return exception(err)
	}
	return nil
}

var reException = regexp.MustCompile(`(?s)Code: (\d+)\. DB::Exception: (.*?)(?: \(([A-Z_]+)\))?(?:\s*\(version [^)]*\))?\s*$`)

// exception turns the engine's error text into the *clickhouse.Exception
// the native protocol would have given (the text as is when it has no
// code).
func exception(err error) error {
	m := reException.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	code, _ := strconv.Atoi(m[1])
	msg := m[2]
	if m[3] != "" {
		msg += " (" + m[3] + ")"
	}
	return &clickhouse.Exception{Code: int32(code), Name: "DB::Exception", Message: msg}
}
