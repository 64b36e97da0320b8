package query

import "strings"

// Query is a parsed search.
type Query struct {
	// Filter selects events; nil selects all of them (in the time range).
	Filter Node
	// Stats, when set, aggregates the selected events.
	Stats *Stats
	// Fields are the columns of an event query (| fields); empty means the
	// default columns.
	Fields []Field
	// Sort orders the result by output columns.
	Sort []SortKey
	// Limit caps the number of result rows (| limit); 0 means no cap
	// beyond the service's own.
	Limit int
	// Lookups keep the events whose field's value is in an enrichment
	// dataset (| lookup dataset[.column] on field), each one more filter.
	Lookups []Lookup
}

// Lookup tests a field against a column of an enrichment dataset: the
// dataset's ClickHouse table enrich_<Dataset>, kept by the api's
// enrichment sync. Dataset and Column are identifiers ([a-z][a-z0-9_]*),
// the only words of a query the compiler writes into SQL text.
type Lookup struct {
	Dataset, Column string
	Field           Field
	Col             int
}

// DefaultLookupColumn is the column of a "list" dataset (one indicator per
// line), which | lookup reads when the query names none.
const DefaultLookupColumn = "indicator"

// Node is a filter expression.
type Node interface{ node() }

// And and Or combine two or more filters, Not negates one. A chain of the
// same operator is one node (n-ary), so a query of many terms stays
// shallow however long it is; the compiled SQL is just as flat.
type (
	And struct{ Terms []Node }
	Or  struct{ Terms []Node }
	Not struct{ X Node }
)

// Text is free text or a phrase, matched case-insensitively anywhere in
// the message.
type Text struct {
	Value Value
}

// Compare is a field test: Op is ":" (match), "=" (the same), "!=", ">",
// ">=", "<", "<=", or "exists" (field:*).
type Compare struct {
	Field Field
	Op    string
	Value Value
}

// Range is field:[Low TO High], both ends included.
type Range struct {
	Field     Field
	Low, High Value
}

func (And) node()     {}
func (Or) node()      {}
func (Not) node()     {}
func (Text) node()    {}
func (Compare) node() {}
func (Range) node()   {}

// Value is a literal as typed. Quoted values are phrases: no wildcards.
type Value struct {
	Text   string
	Quoted bool
	Col    int
}

// Wildcard reports whether v has * or ? wildcards.
func (v Value) Wildcard() bool {
	return !v.Quoted && strings.ContainsAny(v.Text, "*?")
}

// Kind is what a field holds, which decides how it is compared.
type Kind int

const (
	// Attribute is any field of the event's structured attributes.
	Attribute Kind = iota
	// Time is the event time.
	Time
	// Keyword columns (feed, service, host) match exactly.
	Keyword
	// Severity is the normalized level; it compares by rank
	// (level>=warn).
	Severity
	// FullText columns (message, raw) match case-insensitively anywhere.
	FullText
)

// Field is a field reference: a built-in column (Name canonical) or an
// attribute (Name as typed).
type Field struct {
	Name string
	Kind Kind
	Col  int
}

// builtins maps the names analysts type to the built-in columns.
var builtins = map[string]Field{
	"timestamp": {Name: "timestamp", Kind: Time}, "ts": {Name: "timestamp", Kind: Time}, "_time": {Name: "timestamp", Kind: Time},
	"feed": {Name: "feed", Kind: Keyword}, "service": {Name: "service", Kind: Keyword}, "host": {Name: "host", Kind: Keyword},
	"severity": {Name: "severity", Kind: Severity}, "level": {Name: "severity", Kind: Severity},
	"message": {Name: "message", Kind: FullText}, "msg": {Name: "message", Kind: FullText}, "raw": {Name: "raw", Kind: FullText},
}

// MaxAttributeName bounds an attribute name (the ingest side truncates
// keys at its field limit, 1 KiB by default).
const MaxAttributeName = 1 << 10

// Stats is | stats agg, ... [by field, ...].
type Stats struct {
	Aggs []Agg
	By   []Field
}

// Agg is one aggregate: Func is count, sum, avg, min, max or dc (distinct
// count); Field is nil for count(). Name is the output column.
type Agg struct {
	Func  string
	Field *Field
	Name  string
	Col   int
}

// SortKey orders by an output column.
type SortKey struct {
	Name string
	Desc bool
	Col  int
}

// Aggregates are the stats functions and whether they take a field.
var Aggregates = map[string]bool{"count": false, "sum": true, "avg": true, "min": true, "max": true, "dc": true}

// Builtin resolves a built-in column by any of its names, in any case.
func Builtin(name string) (Field, bool) {
	f, ok := builtins[strings.ToLower(name)]
	return f, ok
}
