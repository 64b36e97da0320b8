package sqlgen

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/search/query"
)

// Param is one bound value.
type Param struct {
	Name  string
	Type  string // ClickHouse type in the placeholder
	Value any    // string, uint32, uint64 or float64
}

// Output is how a result column is built from the SELECT's columns.
type Output int

const (
	// Plain: one column, shown as is.
	Plain Output = iota
	// Timestamp: two columns (ts, ts_nanos), shown as one RFC 3339 time.
	Timestamp
	// Attributes: two arrays (keys, values), shown as one object.
	Attributes
)

// Column is one result column.
type Column struct {
	Name   string // as shown
	Type   string // ClickHouse type as shown
	Output Output
}

// Statement is a compiled search.
type Statement struct {
	SQL     string
	Params  []Param
	Columns []Column
	// Keyset: the rows are in event order (newest first), so the next page
	// continues after the last row's time.
	Keyset bool
}

// Request is what to compile.
type Request struct {
	Query  *query.Query
	Tenant string
	// From and To bound event time (both included).
	From, To time.Time
	// Now resolves relative times in the query.
	Now time.Time
	// Table is the events table ("nano.events").
	Table string
	// PageSize is how many rows this page holds; Offset skips rows (stats
	// and sorted event queries); After continues newest-first event order.
	PageSize int
	Offset   int
	After    *Position
	// Returned is how many rows earlier pages held (| limit counts them).
	Returned int
	// Datasets are the enrichment datasets the tenant may look up, their
	// ids by name (metadb.Datasets: its own and the platform's). A lookup
	// of any other name is refused.
	Datasets map[string]int64
}

// Position is where a newest-first page ended: the last row's time and
// how many rows at exactly that time were already returned.
type Position struct {
	Seconds uint32
	Nanos   uint32
	Skip    int
}

var reTable = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}\.[A-Za-z_][A-Za-z0-9_]{0,63}$`)

type compiler struct {
	params []Param
	now    time.Time
}

// param adds a bound value and returns its placeholder.
func (c *compiler) param(typ string, v any) string {
	name := "p" + strconv.Itoa(len(c.params))
	c.params = append(c.params, Param{Name: name, Type: typ, Value: v})
	return "{" + name + ":" + typ + "}"
}

// Compile builds the SELECT for r.
func Compile(r Request) (*Statement, error) {
	if r.PageSize < 1 {
		return nil, fmt.Errorf("page size %d is not positive", r.PageSize)
	}
	c := &compiler{now: r.Now}
	where, err := c.where(r)
	if err != nil {
		return nil, err
	}
	st := &Statement{}
	var sel, order []string
	var group []string
	if s := r.Query.Stats; s != nil {
		sel, group, order, st.Columns, err = c.stats(s, r.Query.Sort)
	} else {
		sel, order, st.Columns, st.Keyset, err = c.events(r.Query)
		if err == nil && st.Keyset && r.After != nil {
			where = append(where, c.timeCmpParts("<=", r.After.Seconds, r.After.Nanos))
		}
	}
	if err != nil {
		return nil, err
	}
	limit, offset := r.PageSize, r.Offset
	if q := r.Query.Limit; q > 0 && q-r.Returned < limit {
		limit = q - r.Returned
	}
	if limit < 1 {
		return nil, fmt.Errorf("the query's limit of %d rows is reached", r.Query.Limit)
	}
	if st.Keyset && r.After != nil {
		offset = r.After.Skip
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s\nFROM %s\nWHERE %s\n", strings.Join(sel, ", "), r.Table, strings.Join(where, "\n  AND "))
	if len(group) > 0 {
		fmt.Fprintf(&b, "GROUP BY %s\n", strings.Join(group, ", "))
	}
	fmt.Fprintf(&b, "ORDER BY %s\nLIMIT %s", strings.Join(order, ", "), c.param("UInt64", uint64(limit)))
	if offset > 0 {
		fmt.Fprintf(&b, " OFFSET %s", c.param("UInt64", uint64(offset)))
	}
	st.SQL = b.String()
	st.Params = c.params
	return st, nil
}

// where is the WHERE conditions every statement of r shares: the
// request's checks, the tenant, the time range, the filter and lookups.
func (c *compiler) where(r Request) ([]string, error) {
	if !reTable.MatchString(r.Table) {
		return nil, fmt.Errorf("events table %q is not database.table", r.Table)
	}
	if r.Query == nil || r.Tenant == "" {
		return nil, fmt.Errorf("a query and a tenant are required")
	}
	if err := inRange(r.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := inRange(r.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	where := []string{"tenant = " + c.param("String", r.Tenant), c.timeCmp(">=", r.From), c.timeCmp("<=", r.To)}
	if r.Query.Filter != nil {
		f, err := c.boundedFilter(r.Query.Filter)
		if err != nil {
			return nil, err
		}
		where = append(where, f)
	}
	database, _, _ := strings.Cut(r.Table, ".")
	ls, err := c.lookups(r.Query.Lookups, database, r.Datasets)
	if err != nil {
		return nil, err
	}
	return append(where, ls...), nil
}

// events is the SELECT of an event query.
func (c *compiler) events(q *query.Query) (sel, order []string, cols []Column, keyset bool, err error) {
	fields := q.Fields
	if len(fields) == 0 {
		sel = []string{"ts", "ts_nanos", "feed", "severity", "service", "host", "message", "attr_keys", "attr_values"}
		cols = []Column{{"timestamp", "DateTime64(9)", Timestamp}, {"feed", "String", Plain}, {"severity", "String", Plain},
			{"service", "String", Plain}, {"host", "String", Plain}, {"message", "String", Plain}, {"attributes", "Map(String, String)", Attributes}}
	}
	for i, f := range fields {
		switch f.Kind {
		case query.Time:
			sel = append(sel, "ts", "ts_nanos")
			cols = append(cols, Column{"timestamp", "DateTime64(9)", Timestamp})
		case query.Attribute:
			sel = append(sel, c.attr(f)+" AS f"+strconv.Itoa(i))
			cols = append(cols, Column{f.Name, "String", Plain})
		default:
			sel = append(sel, column(f))
			cols = append(cols, Column{f.Name, "String", Plain})
		}
	}
	for _, k := range q.Sort {
		switch f, ok := query.Builtin(k.Name); {
		case ok && f.Kind == query.Time:
			order = append(order, "ts"+dir(k.Desc), "ts_nanos"+dir(k.Desc))
		case ok:
			order = append(order, column(f)+dir(k.Desc))
		default:
			order = append(order, c.attr(query.Field{Name: k.Name, Kind: query.Attribute})+dir(k.Desc))
		}
	}
	// Newest first, and as the tie-break of any other order. Pages of the
	// default order continue from the last row's time when rows show it.
	keyset = len(order) == 0 && slices.ContainsFunc(cols, func(c Column) bool { return c.Output == Timestamp })
	// Events of one instant are ordered by their other columns, so each
	// page sees them in the same order (pages skip the ones already sent).
	order = append(order, "ts DESC", "ts_nanos DESC", "message", "host", "service", "feed", "severity")
	return sel, order, cols, keyset, nil
}

// stats is the SELECT of an aggregation.
func (c *compiler) stats(s *query.Stats, sort []query.SortKey) (sel, group, order []string, cols []Column, err error) {
	aliases := map[string]string{}
	for i, f := range s.By {
		if f.Kind == query.Time {
			return nil, nil, nil, nil, &query.Error{Col: f.Col, Msg: "a field other than the timestamp after by"}
		}
		alias := "g" + strconv.Itoa(i)
		sel = append(sel, c.valueExpr(f)+" AS "+alias)
		group = append(group, alias)
		aliases[f.Name] = alias
		cols = append(cols, Column{f.Name, "String", Plain})
	}
	for i, a := range s.Aggs {
		alias := "a" + strconv.Itoa(i)
		var expr, typ string
		switch a.Func {
		case "count":
			expr, typ = "count()", "UInt64"
		case "dc":
			expr, typ = "uniq("+c.valueExpr(*a.Field)+")", "UInt64"
		default:
			if a.Field.Kind != query.Attribute {
				return nil, nil, nil, nil, &query.Error{Col: a.Field.Col, Msg: fmt.Sprintf("a numeric attribute in %s(), not the %s column", a.Func, a.Field.Name)}
			}
			expr, typ = a.Func+"(toFloat64OrNull("+c.attr(*a.Field)+"))", "Nullable(Float64)"
		}
		sel = append(sel, expr+" AS "+alias)
		aliases[a.Name] = alias
		cols = append(cols, Column{a.Name, typ, Plain})
	}
	for _, k := range sort {
		alias, ok := aliases[k.Name]
		if !ok {
			return nil, nil, nil, nil, &query.Error{Col: k.Col, Msg: fmt.Sprintf("a column of the stats result to sort by, found %q", k.Name)}
		}
		order = append(order, alias+dir(k.Desc))
	}
	if len(sort) == 0 {
		order = append(order, "a0 DESC")
	}
	// Groups break ties, so pages do not overlap.
	order = append(order, group...)
	return sel, group, order, cols, nil
}

func dir(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// column is a built-in field's column.
func column(f query.Field) string {
	switch f.Name {
	case "feed", "severity", "service", "host", "message", "raw":
		return f.Name
	}
	panic("sqlgen: not a built-in column: " + f.Name)
}

// attr is an attribute's value ("" when the event lacks it).
func (c *compiler) attr(f query.Field) string {
	return "arrayElement(attr_values, indexOf(attr_keys, " + c.param("String", f.Name) + "))"
}

// valueExpr is a field's value as a string.
func (c *compiler) valueExpr(f query.Field) string {
	switch f.Kind {
	case query.Attribute:
		return c.attr(f)
	case query.Time:
		return "ts"
	}
	return column(f)
}

// MaxFilterBytes bounds a compiled filter: its SQL and the values it
// binds (which servers before 22.8 receive inside the SQL text).
const MaxFilterBytes = 128 << 10

// boundedFilter compiles a query's filter within MaxFilterBytes.
func (c *compiler) boundedFilter(n query.Node) (string, error) {
	from := len(c.params)
	f, err := c.filter(n)
	if err != nil {
		return "", err
	}
	size := len(f)
	for _, p := range c.params[from:] {
		if v, ok := p.Value.(string); ok {
			size += len(v)
		}
	}
	if size > MaxFilterBytes {
		return "", &query.Error{Col: 1, Msg: fmt.Sprintf("a filter that compiles to at most %d bytes (this one compiles to %d); use fewer or shorter terms", MaxFilterBytes, size)}
	}
	return f, nil
}

func (c *compiler) filter(n query.Node) (string, error) {
	switch n := n.(type) {
	case query.And:
		return c.chain(n.Terms, " AND ")
	case query.Or:
		return c.chain(n.Terms, " OR ")
	case query.Not:
		x, err := c.filter(n.X)
		if err != nil {
			return "", err
		}
		return "NOT (" + x + ")", nil
	case query.Text:
		return c.contains("message", n.Value), nil
	case query.Compare:
		return c.compare(n)
	case query.Range:
		return c.rangeFilter(n)
	}
	return "", fmt.Errorf("sqlgen: unknown node %T", n)
}

// chain joins terms with one operator at one level: ClickHouse parses
// "a AND b AND c" as one and(a, b, c), so the AST stays shallow.
func (c *compiler) chain(terms []query.Node, op string) (string, error) {
	parts := make([]string, len(terms))
	for i, t := range terms {
		p, err := c.filter(t)
		if err != nil {
			return "", err
		}
		parts[i] = p
	}
	return "(" + strings.Join(parts, op) + ")", nil
}

// contains matches v anywhere in a full-text column, ignoring case.
func (c *compiler) contains(col string, v query.Value) string {
	if v.Wildcard() {
		return "like(lowerUTF8(" + col + "), " + c.param("String", "%"+likePattern(strings.ToLower(v.Text))+"%") + ")"
	}
	return "positionCaseInsensitiveUTF8(" + col + ", " + c.param("String", v.Text) + ") > 0"
}

func (c *compiler) compare(n query.Compare) (string, error) {
	f, v := n.Field, n.Value
	switch f.Kind {
	case query.Time:
		if n.Op == ":" || n.Op == "!=" || n.Op == "exists" {
			return "", &query.Error{Col: f.Col, Msg: "a time comparison (>, >=, <, <=) or a range ts:[from TO to]"}
		}
		t, err := timeValue(v, c.now)
		if err != nil {
			return "", err
		}
		return c.timeCmp(n.Op, t), nil
	case query.FullText:
		switch n.Op {
		case ":":
			return c.contains(column(f), v), nil
		case "!=":
			return "NOT (" + c.contains(column(f), v) + ")", nil
		case "exists":
			return column(f) + " != ''", nil
		}
		return "", &query.Error{Col: f.Col, Msg: fmt.Sprintf("%s is text: match it with : or !=", f.Name)}
	case query.Severity:
		return c.severity(n)
	}
	expr := c.valueExpr(f)
	if n.Op == "exists" {
		if f.Kind == query.Attribute {
			return "has(attr_keys, " + c.param("String", f.Name) + ")", nil
		}
		return expr + " != ''", nil
	}
	switch n.Op {
	case ":", "!=":
		neg := ""
		if n.Op == "!=" {
			neg = "NOT "
		}
		if v.Wildcard() {
			return neg + "like(" + expr + ", " + c.param("String", likePattern(v.Text)) + ")", nil
		}
		op := " = "
		if neg != "" {
			op = " != "
		}
		return expr + op + c.param("String", v.Text), nil
	}
	if f.Kind != query.Attribute {
		return "", &query.Error{Col: f.Col, Msg: fmt.Sprintf("%s is text: match it with : or !=", f.Name)}
	}
	num, err := numberValue(v)
	if err != nil {
		return "", err
	}
	return "toFloat64OrNull(" + expr + ") " + n.Op + " " + c.param("Float64", num), nil
}

// severity compares levels by rank: level>=warn is warn, error or fatal.
func (c *compiler) severity(n query.Compare) (string, error) {
	v := n.Value
	switch n.Op {
	case "exists":
		return "severity != ''", nil
	case ":", "!=":
		neg := ""
		if n.Op == "!=" {
			neg = "NOT "
		}
		if v.Wildcard() {
			return neg + "like(severity, " + c.param("String", likePattern(strings.ToLower(v.Text))) + ")", nil
		}
		op := " = "
		if neg != "" {
			op = " != "
		}
		return "severity" + op + c.param("String", events.NormalizeSeverity(v.Text)), nil
	}
	rank := -1
	norm := events.NormalizeSeverity(v.Text)
	for i, s := range events.Severities {
		if s == norm {
			rank = i
		}
	}
	if rank < 0 {
		return "", &query.Error{Col: v.Col, Msg: fmt.Sprintf("a level (%s), found %q", strings.Join(events.Severities, ", "), v.Text)}
	}
	var in []string
	for i, s := range events.Severities {
		if (n.Op == ">" && i > rank) || (n.Op == ">=" && i >= rank) || (n.Op == "<" && i < rank) || (n.Op == "<=" && i <= rank) {
			in = append(in, c.param("String", s))
		}
	}
	if len(in) == 0 {
		return "0", nil // nothing ranks above fatal or below trace
	}
	return "severity IN (" + strings.Join(in, ", ") + ")", nil
}

func (c *compiler) rangeFilter(n query.Range) (string, error) {
	switch n.Field.Kind {
	case query.Time:
		lo, err := timeValue(n.Low, c.now)
		if err != nil {
			return "", err
		}
		hi, err := timeValue(n.High, c.now)
		if err != nil {
			return "", err
		}
		return "(" + c.timeCmp(">=", lo) + " AND " + c.timeCmp("<=", hi) + ")", nil
	case query.Attribute:
		lo, err := numberValue(n.Low)
		if err != nil {
			return "", err
		}
		hi, err := numberValue(n.High)
		if err != nil {
			return "", err
		}
		e := "toFloat64OrNull(" + c.attr(n.Field) + ")"
		return "(" + e + " >= " + c.param("Float64", lo) + " AND " + e + " <= " + c.param("Float64", hi) + ")", nil
	case query.Severity:
		lo, err := c.severity(query.Compare{Field: n.Field, Op: ">=", Value: n.Low})
		if err != nil {
			return "", err
		}
		hi, err := c.severity(query.Compare{Field: n.Field, Op: "<=", Value: n.High})
		if err != nil {
			return "", err
		}
		return "(" + lo + " AND " + hi + ")", nil
	}
	return "", &query.Error{Col: n.Field.Col, Msg: fmt.Sprintf("a range on a time, a level or a numeric attribute, not on %s", n.Field.Name)}
}

// timeCmp compares the event time (seconds and nanoseconds) with t.
func (c *compiler) timeCmp(op string, t time.Time) string {
	return c.timeCmpParts(op, uint32(t.Unix()), uint32(t.Nanosecond()))
}

func (c *compiler) timeCmpParts(op string, sec, nanos uint32) string {
	s := "toDateTime(" + c.param("UInt32", sec) + ")"
	switch op {
	case ">=":
		if nanos == 0 {
			return "ts >= " + s
		}
		return "(ts > " + s + " OR (ts = " + s + " AND ts_nanos >= " + c.param("UInt32", nanos) + "))"
	case "<=":
		return "(ts < " + s + " OR (ts = " + s + " AND ts_nanos <= " + c.param("UInt32", nanos) + "))"
	case ">":
		return "(ts > " + s + " OR (ts = " + s + " AND ts_nanos > " + c.param("UInt32", nanos) + "))"
	case "<":
		if nanos == 0 {
			return "ts < " + s
		}
		return "(ts < " + s + " OR (ts = " + s + " AND ts_nanos < " + c.param("UInt32", nanos) + "))"
	}
	panic("sqlgen: time operator " + op)
}

// lookups are the conditions of | lookup stages: the field's value is in
// the dataset's column. The dataset's table is in the events' database,
// named by the id its name resolved to for this tenant (datasets); the
// column is an identifier the parser checked (query.Lookup), so it may
// stand in the SQL text. A name the tenant may not read is an error at
// its column, the same whether another tenant has such a dataset or not.
func (c *compiler) lookups(ls []query.Lookup, database string, datasets map[string]int64) ([]string, error) {
	var out []string
	for _, l := range ls {
		id, ok := datasets[l.Dataset]
		if !ok {
			return nil, &query.Error{Col: l.Col, Msg: fmt.Sprintf("no enrichment dataset %q of this tenant or the platform (datasets: the api's GET /v1/enrichments)", l.Dataset)}
		}
		out = append(out, fmt.Sprintf("%s IN (SELECT %s FROM %s)", c.valueExpr(l.Field), l.Column, events.EnrichmentTable(database, id)))
	}
	return out, nil
}

// LookupNames are the distinct datasets q's lookups name (what a caller
// resolves into Request.Datasets).
func LookupNames(q *query.Query) []string {
	var out []string
	for _, l := range q.Lookups {
		if !slices.Contains(out, l.Dataset) {
			out = append(out, l.Dataset)
		}
	}
	return out
}

// Filter compiles only the query's filter with the tenant condition (no
// time bounds, no SELECT): for definitions such as materialized views that
// test each inserted event. Lookups are refused there: a view would read
// the dataset as it was when each event arrived, not as it is now.
func Filter(q *query.Query, tenant string, now time.Time) (string, []Param, error) {
	if q == nil || tenant == "" {
		return "", nil, fmt.Errorf("a query and a tenant are required")
	}
	if len(q.Lookups) > 0 {
		return "", nil, &query.Error{Col: q.Lookups[0].Col, Msg: "no lookup in a signal rule (its view tests events as they arrive); use a scheduled rule"}
	}
	c := &compiler{now: now}
	where := "tenant = " + c.param("String", tenant)
	if q.Filter != nil {
		f, err := c.boundedFilter(q.Filter)
		if err != nil {
			return "", nil, err
		}
		where += " AND " + f
	}
	return where, c.params, nil
}
