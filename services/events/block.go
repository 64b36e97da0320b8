package events

import (
	"fmt"
	"slices"
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
	scratch []string
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

// Add appends e; its attributes are stored sorted by key, as Row does.
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
	n := len(e.Attributes)
	if cap(b.kv)-len(b.kv) < 2*n {
		// A new backing array; earlier events keep slices of the old one.
		b.kv = make([]string, 0, max(2*cap(b.kv), 2*n, 1024))
	}
	start := len(b.kv)
	for k := range e.Attributes {
		b.kv = append(b.kv, k)
	}
	keys := b.kv[start : start+n : start+n]
	slices.Sort(keys)
	for _, k := range keys {
		b.kv = append(b.kv, e.Attributes[k])
	}
	b.keys = append(b.keys, keys)
	b.values = append(b.values, b.kv[start+n:start+2*n:start+2*n])
}

// AppendTo appends the block's columns to batch, a batch prepared with
// InsertSQL.
func (b *Block) AppendTo(batch driver.Batch) error {
	b.reserve(batch.Columns())
	for i, c := range b.columns() {
		col := batch.Column(i)
		var err error
		if arrays, ok := c.([][]string); ok {
			// Row by row: the driver appends a whole column of arrays
			// through reflection, a third slower.
			for _, a := range arrays {
				if err = col.AppendRow(a); err != nil {
					break
				}
			}
		} else {
			err = col.Append(c)
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", Columns[i], err)
		}
	}
	return nil
}

// columns are the block's columns in Columns order.
func (b *Block) columns() []any {
	return []any{b.ts, b.nanos, b.tenant, b.feed, b.severity, b.service, b.host, b.message, b.keys, b.values, b.raw}
}

// reserve sizes the batch's plain String and Array(String) columns for the
// block before it is appended: the driver's columns start empty and grow by
// a quarter at a time, which copies a batch's strings about five times.
// Appending one row of the block's total size and as many empty rows as it
// has, then resetting the column (which keeps its memory), costs one copy.
func (b *Block) reserve(cols []column.Interface) {
	data := b.columns()
	for i, col := range cols {
		if i >= len(data) {
			return
		}
		var n, rows int
		switch c := data[i].(type) {
		case []string:
			if col.Type() != "String" {
				continue
			}
			for _, v := range c {
				n += len(v)
			}
			rows = len(c)
		case [][]string:
			if col.Type() != "Array(String)" {
				continue
			}
			for _, vs := range c {
				for _, v := range vs {
					n += len(v)
				}
				rows += len(vs)
			}
		default:
			continue
		}
		if rows == 0 {
			continue
		}
		b.scratch = append(b.scratch[:0], make([]string, rows)...)
		b.scratch[0] = padOf(n)
		var err error
		if col.Type() == "String" {
			_, err = col.Append(b.scratch)
		} else {
			_, err = col.Append([][]string{b.scratch})
		}
		clear(b.scratch)
		col.Reset()
		if err != nil {
			return // only a size hint; the real append reports errors
		}
	}
}
