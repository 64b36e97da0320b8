package events

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Block holds events column by column, in Columns order, as an insert
// sends them: appending whole columns to a batch avoids boxing every value
// of every row. Reset keeps the memory for the next block.
type Block struct {
	ts                                                  []time.Time
	nanos                                               []uint32
	tenant, feed, severity, service, host, message, raw []string
	keys, values                                        [][]string
	// kv backs keys and values (one allocation for all events' attributes).
	kv []string
	// scratch sizes a batch's string columns before appending (reserve).
	scratch [1]string
	// ptrs points at one row's array elements while it is appended.
	ptrs []*string
}

// pad is a string of zeros at least as long as any column reserve has
// sized, shared by all blocks (strings are immutable).
var pad struct {
	sync.Mutex
	s string
}

// padOf returns n zero bytes without allocating them anew each time.
func padOf(n int) string {
	pad.Lock()
	defer pad.Unlock()
	if len(pad.s) < n {
		pad.s = strings.Repeat("\x00", n+n/4)
	}
	return pad.s[:n]
}

// Len is the number of events in the block.
func (b *Block) Len() int { return len(b.ts) }

// Reset empties the block, keeping its capacity.
func (b *Block) Reset() {
	b.ts, b.nanos = b.ts[:0], b.nanos[:0]
	for _, c := range []*[]string{&b.tenant, &b.feed, &b.severity, &b.service, &b.host, &b.message, &b.raw} {
		clear(*c) // let the strings go
		*c = (*c)[:0]
	}
	clear(b.keys)
	clear(b.values)
	clear(b.kv)
	b.keys, b.values, b.kv = b.keys[:0], b.values[:0], b.kv[:0]
}

// Add appends e; its attributes are stored normalized, as Row does.
func (b *Block) Add(e *Event) {
	t := e.Time.UTC()
	b.ts = append(b.ts, time.Unix(t.Unix(), 0).UTC())
	b.nanos = append(b.nanos, uint32(t.Nanosecond()))
	b.tenant = append(b.tenant, e.Tenant)
	b.feed = append(b.feed, e.Feed)
	b.severity = append(b.severity, e.Severity)
	b.service = append(b.service, e.Service)
	b.host = append(b.host, e.Host)
	b.message = append(b.message, e.Message)
	b.raw = append(b.raw, e.Raw)
	a := e.Attributes.sorted()
	n := len(a)
	if cap(b.kv)-len(b.kv) < 2*n {
		// A new backing array; earlier events keep slices of the old one.
		b.kv = make([]string, 0, max(2*cap(b.kv), 2*n, 1024))
	}
	start := len(b.kv)
	for _, at := range a {
		b.kv = append(b.kv, at.Key)
	}
	for _, at := range a {
		b.kv = append(b.kv, at.Value)
	}
	b.keys = append(b.keys, b.kv[start:start+n:start+n])
	b.values = append(b.values, b.kv[start+n:start+2*n:start+2*n])
}

// AppendTo appends the block's columns to batch, a batch prepared with
// InsertSQL.
func (b *Block) AppendTo(batch driver.Batch) error {
	cols := batch.Columns()
	for i, c := range b.columns() {
		typ := cols[i].Type()
		b.reserve(cols[i], typ, c)
		if err := b.appendColumn(batch.Column(i), typ, c); err != nil {
			return fmt.Errorf("column %s: %w", Columns[i], err)
		}
	}
	return nil
}

// appendColumn appends one of the block's columns to col. Arrays go row by
// row (the driver appends a whole column of arrays through reflection);
// plain String elements as pointers, which the driver takes without boxing
// each string (LowCardinality ones as strings: it keys its dictionary by
// the value given).
func (b *Block) appendColumn(col driver.BatchColumn, typ column.Type, c any) error {
	arrays, ok := c.([][]string)
	if !ok {
		return col.Append(c)
	}
	if typ != "Array(String)" {
		for _, a := range arrays {
			if err := col.AppendRow(a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range arrays {
		b.ptrs = b.ptrs[:0]
		for i := range a {
			b.ptrs = append(b.ptrs, &a[i])
		}
		if err := col.AppendRow(b.ptrs); err != nil {
			return err
		}
	}
	clear(b.ptrs)
	return nil
}

// columns are the block's columns in Columns order.
func (b *Block) columns() []any {
	return []any{b.ts, b.nanos, b.tenant, b.feed, b.severity, b.service, b.host, b.message, b.keys, b.values, b.raw}
}

// reserve sizes the text of a plain String or Array(String) column for
// the block's column c before it is appended: the driver's columns start
// empty and grow by a quarter at a time, which copies a batch's strings
// about five times. Appending one string of the column's total size, then
// resetting the column (which keeps its memory), costs one copy. (Their
// positions, 16 bytes a string, still grow as they go: reserving them
// takes a call per string, which costs more than the growing.) It is only
// a size hint: the real append reports errors.
func (b *Block) reserve(col column.Interface, typ column.Type, c any) {
	var n int
	switch c := c.(type) {
	case []string:
		if typ != "String" {
			return
		}
		for _, v := range c {
			n += len(v)
		}
	case [][]string:
		if typ != "Array(String)" {
			return
		}
		for _, vs := range c {
			for _, v := range vs {
				n += len(v)
			}
		}
	default:
		return
	}
	if n == 0 {
		return
	}
	b.scratch[0] = padOf(n)
	if typ == "String" {
		_, _ = col.Append(b.scratch[:])
	} else {
		_ = col.AppendRow(b.scratch[:])
	}
	b.scratch[0] = ""
	col.Reset()
}
