package query

import (
	"regexp"
	"strconv"
	"strings"
)

// MaxQueryBytes bounds the text of a query; MaxDepth its nesting (groups
// and negations); MaxTerms its predicates (search terms, phrases, field
// tests). Together they bound the size and depth of the compiled SQL.
const (
	MaxQueryBytes = 16 << 10
	MaxDepth      = 64
	MaxTerms      = 1024
)

// MaxLimit bounds | limit.
const MaxLimit = 1_000_000

// Parse parses q. An empty query (or one of only a pipeline) selects every
// event. Errors are *Error.
func Parse(q string) (*Query, error) {
	if len(q) > MaxQueryBytes {
		return nil, errAt(1, "a query of at most %d bytes (this one has %d)", MaxQueryBytes, len(q))
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	out := &Query{}
	if k := p.peek().kind; k != tPipe && k != tEOF {
		if out.Filter, err = p.or(); err != nil {
			return nil, err
		}
	}
	for p.peek().kind == tPipe {
		p.next()
		if err := p.stage(out); err != nil {
			return nil, err
		}
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.expected(t, "'|', AND, OR or the end of the query")
	}
	return out, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
	terms int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) expected(t token, what string) *Error {
	found := t.kind.String()
	if t.kind != tEOF {
		found += " " + strconv.Quote(t.text)
	}
	return errAt(t.col, "expected %s, found %s", what, found)
}

func (p *parser) or() (Node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for p.peek().kind == tOr {
		p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, right)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return Or{Terms: flatten(terms, func(n Node) ([]Node, bool) { o, ok := n.(Or); return o.Terms, ok })}, nil
}

// flatten splices the terms of nested nodes of the same operator (a group
// such as "(a OR b) OR c") into one list; nested says whether a term is
// one and gives its terms.
func flatten(terms []Node, nested func(Node) ([]Node, bool)) []Node {
	out := make([]Node, 0, len(terms))
	for _, t := range terms {
		if inner, ok := nested(t); ok {
			out = append(out, inner...)
		} else {
			out = append(out, t)
		}
	}
	return out
}

func startsTerm(k kind) bool {
	return k == tWord || k == tString || k == tNot || k == tLParen
}

func (p *parser) and() (Node, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for {
		k := p.peek().kind
		if k == tAnd {
			p.next()
		} else if !startsTerm(k) {
			break
		}
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, right)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return And{Terms: flatten(terms, func(n Node) ([]Node, bool) { a, ok := n.(And); return a.Terms, ok })}, nil
}

func (p *parser) unary() (Node, error) {
	t := p.peek()
	if t.kind == tNot {
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.unary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	}
	return p.primary()
}

func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > MaxDepth {
		return errAt(t.col, "at most %d nested groups or negations", MaxDepth)
	}
	return nil
}

func (p *parser) primary() (Node, error) {
	t := p.next()
	if t.kind == tString || t.kind == tWord {
		if p.terms++; p.terms > MaxTerms {
			return nil, errAt(t.col, "at most %d search terms in a query; combine values (field:[a TO b], wildcards) or split the search", MaxTerms)
		}
	}
	switch t.kind {
	case tLParen:
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.expected(c, "')' to close the '(' at column "+strconv.Itoa(t.col))
		}
		return x, nil
	case tString:
		return Text{Value: Value{Text: t.text, Quoted: true, Col: t.col}}, nil
	case tWord:
		switch p.peek().kind {
		case tColon:
			p.next()
			return p.match(t)
		case tCmp:
			op := p.next()
			f, err := field(t)
			if err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			if op.text == "=" {
				op.text = ":"
			}
			return Compare{Field: f, Op: op.text, Value: v}, nil
		}
		return Text{Value: Value{Text: t.text, Col: t.col}}, nil
	}
	return nil, p.expected(t, "a search term, a \"phrase\", NOT or '('")
}

// match parses what follows "field:".
func (p *parser) match(name token) (Node, error) {
	f, err := field(name)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tLBracket {
		p.next()
		low, err := p.value()
		if err != nil {
			return nil, err
		}
		if to := p.next(); to.kind != tWord || to.text != "TO" {
			return nil, p.expected(to, "TO in the range started at column "+strconv.Itoa(t.col))
		}
		high, err := p.value()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRBracket {
			return nil, p.expected(c, "']' to close the range started at column "+strconv.Itoa(t.col))
		}
		return Range{Field: f, Low: low, High: high}, nil
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if !v.Quoted && v.Text == "*" {
		return Compare{Field: f, Op: "exists", Value: v}, nil
	}
	return Compare{Field: f, Op: ":", Value: v}, nil
}

func (p *parser) value() (Value, error) {
	t := p.next()
	switch t.kind {
	case tWord:
		return Value{Text: t.text, Col: t.col}, nil
	case tString:
		return Value{Text: t.text, Quoted: true, Col: t.col}, nil
	}
	return Value{}, p.expected(t, "a value (a word or a \"quoted value\")")
}

// field resolves a field name: a built-in column or an attribute.
func field(t token) (Field, error) {
	if t.kind != tWord {
		return Field{}, errAt(t.col, "expected a field name, found %s", t.kind)
	}
	name := t.text
	if f, ok := builtins[strings.ToLower(name)]; ok {
		f.Col = t.col
		return f, nil
	}
	switch {
	case strings.EqualFold(name, "tenant"):
		return Field{}, errAt(t.col, "a field other than tenant (your credential decides the tenant)")
	case strings.ContainsAny(name, "*?"):
		return Field{}, errAt(t.col, "a field name without wildcards, found %q", name)
	case len(name) > MaxAttributeName:
		return Field{}, errAt(t.col, "a field name of at most %d bytes", MaxAttributeName)
	}
	return Field{Name: name, Kind: Attribute, Col: t.col}, nil
}

// stage parses one pipeline stage after '|'.
func (p *parser) stage(q *Query) error {
	t := p.next()
	if t.kind != tWord {
		return p.expected(t, "a stage (lookup, stats, sort, limit, head or fields)")
	}
	switch strings.ToLower(t.text) {
	case "lookup":
		if q.Stats != nil || len(q.Sort) > 0 || q.Limit > 0 || len(q.Fields) > 0 {
			return errAt(t.col, "lookup before stats, sort, limit and fields (it selects events)")
		}
		return p.lookup(q, t.col)
	case "stats":
		if q.Stats != nil {
			return errAt(t.col, "one stats stage (a second one starts here)")
		}
		if len(q.Sort) > 0 || q.Limit > 0 || len(q.Fields) > 0 {
			return errAt(t.col, "stats before sort, limit and fields")
		}
		return p.stats(q)
	case "sort":
		keys, err := p.sortKeys()
		if err != nil {
			return err
		}
		q.Sort = append(q.Sort, keys...)
		return nil
	case "limit", "head":
		n := p.next()
		v, err := strconv.Atoi(n.text)
		if n.kind != tWord || err != nil || v < 1 || v > MaxLimit {
			return p.expected(n, "a row count from 1 to "+strconv.Itoa(MaxLimit))
		}
		if q.Limit == 0 || v < q.Limit {
			q.Limit = v
		}
		return nil
	case "fields":
		if q.Stats != nil {
			return errAt(t.col, "fields before stats, or by-fields in stats (stats already chose the columns)")
		}
		for {
			f, err := field(p.next())
			if err != nil {
				return err
			}
			q.Fields = append(q.Fields, f)
			if p.peek().kind != tComma {
				return nil
			}
			p.next()
		}
	}
	return errAt(t.col, "a stage (lookup, stats, sort, limit, head or fields), found %q", t.text)
}

// reIdent is a dataset or column name as the enrichment sync makes them.
var reIdent = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// MaxLookups bounds the lookup stages of a query.
const MaxLookups = 8

// lookup parses "dataset[.column] on field" after | lookup.
func (p *parser) lookup(q *Query, col int) error {
	if len(q.Lookups) == MaxLookups {
		return errAt(col, "at most %d lookup stages", MaxLookups)
	}
	d := p.next()
	if d.kind != tWord {
		return p.expected(d, "an enrichment dataset's name (dataset or dataset.column)")
	}
	dataset, column, _ := strings.Cut(d.text, ".")
	if column == "" {
		column = DefaultLookupColumn
	}
	if !reIdent.MatchString(dataset) || !reIdent.MatchString(column) {
		return errAt(d.col, "an enrichment dataset and column name of lowercase letters, digits and '_' (dataset or dataset.column), found %q", d.text)
	}
	if on := p.next(); on.kind != tWord || !strings.EqualFold(on.text, "on") {
		return p.expected(on, "on and the field to look up")
	}
	f, err := field(p.next())
	if err != nil {
		return err
	}
	if f.Kind == Time {
		return errAt(f.Col, "a field other than ts to look up")
	}
	q.Lookups = append(q.Lookups, Lookup{Dataset: dataset, Column: column, Field: f, Col: col})
	return nil
}

func (p *parser) stats(q *Query) error {
	s := &Stats{}
	names := map[string]bool{}
	for {
		fn := p.next()
		takes, ok := Aggregates[strings.ToLower(fn.text)]
		if fn.kind != tWord || !ok {
			return p.expected(fn, "an aggregate: count(), sum(f), avg(f), min(f), max(f) or dc(f)")
		}
		a := Agg{Func: strings.ToLower(fn.text), Col: fn.col}
		if o := p.next(); o.kind != tLParen {
			return p.expected(o, "'(' after "+a.Func)
		}
		if takes {
			f, err := field(p.next())
			if err != nil {
				return err
			}
			a.Field = &f
			a.Name = a.Func + "(" + f.Name + ")"
		} else {
			a.Name = a.Func
		}
		if c := p.next(); c.kind != tRParen {
			what := "')'"
			if takes {
				what = "')' after the field"
			}
			return p.expected(c, what)
		}
		if w := p.peek(); w.kind == tWord && strings.EqualFold(w.text, "as") {
			p.next()
			n := p.next()
			if n.kind != tWord && n.kind != tString {
				return p.expected(n, "a column name after as")
			}
			a.Name = n.text
		}
		if names[a.Name] {
			return errAt(a.Col, "distinct column names (%q twice; rename one with as)", a.Name)
		}
		names[a.Name] = true
		s.Aggs = append(s.Aggs, a)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if w := p.peek(); w.kind == tWord && strings.EqualFold(w.text, "by") {
		p.next()
		for {
			f, err := field(p.next())
			if err != nil {
				return err
			}
			if names[f.Name] {
				return errAt(f.Col, "distinct column names (%q twice)", f.Name)
			}
			names[f.Name] = true
			s.By = append(s.By, f)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	q.Stats = s
	return nil
}

func (p *parser) sortKeys() ([]SortKey, error) {
	var keys []SortKey
	for {
		t := p.next()
		k := SortKey{Col: t.col}
		if t.kind == tNot && t.text == "-" {
			k.Desc = true
			t = p.next()
		}
		if t.kind != tWord && t.kind != tString {
			return nil, p.expected(t, "a column to sort by")
		}
		k.Name = strings.TrimPrefix(t.text, "+")
		if f, ok := builtins[strings.ToLower(k.Name)]; ok {
			k.Name = f.Name
		}
		if d := p.peek(); d.kind == tWord && (strings.EqualFold(d.text, "asc") || strings.EqualFold(d.text, "desc")) {
			p.next()
			k.Desc = strings.EqualFold(d.text, "desc")
		}
		keys = append(keys, k)
		if p.peek().kind != tComma {
			return keys, nil
		}
		p.next()
	}
}
