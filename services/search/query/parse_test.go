package query

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// show prints a filter tree compactly for comparisons.
func show(n Node) string {
	switch n := n.(type) {
	case nil:
		return "*"
	case And:
		return "(" + join(n.Terms, " AND ") + ")"
	case Or:
		return "(" + join(n.Terms, " OR ") + ")"
	case Not:
		return "NOT " + show(n.X)
	case Text:
		return "text" + val(n.Value)
	case Compare:
		return fmt.Sprintf("%s%s%s", fld(n.Field), n.Op, val(n.Value))
	case Range:
		return fmt.Sprintf("%s[%s..%s]", fld(n.Field), val(n.Low), val(n.High))
	}
	return "?"
}

func join(terms []Node, op string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = show(t)
	}
	return strings.Join(parts, op)
}

func fld(f Field) string {
	if f.Kind == Attribute {
		return "@" + f.Name
	}
	return f.Name
}

func val(v Value) string {
	if v.Quoted {
		return fmt.Sprintf("%q", v.Text)
	}
	return "<" + v.Text + ">"
}

func TestParseFilters(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{``, `*`},
		{`level:error service:api`, `(severity:<error> AND service:<api>)`},
		{`error OR warn`, `(text<error> OR text<warn>)`},
		{`a b OR c`, `((text<a> AND text<b>) OR text<c>)`},
		{`a AND (b OR c)`, `(text<a> AND (text<b> OR text<c>))`},
		{`NOT level:debug -service:web-1`, `(NOT severity:<debug> AND NOT service:<web-1>)`},
		{`"connection reset" host:"web 1"`, `(text"connection reset" AND host:"web 1")`},
		{`http.status>=500 bytes<-5`, `(@http.status>=<500> AND @bytes<<-5>)`},
		{`ts>-15m ts<=now`, `(timestamp><-15m> AND timestamp<=<now>)`},
		{`ts>=2026-11-23T10:00:00Z mac:00:1a:2b`, `(timestamp>=<2026-11-23T10:00:00Z> AND @mac:<00:1a:2b>)`},
		{`duration:[10 TO 20]`, `@duration[<10>..<20>]`},
		{`ts:[-1h TO -5m]`, `timestamp[<-1h>..<-5m>]`},
		{`service:api* user:*`, `(service:<api*> AND @userexists<*>)`},
		{`status!=200 MSG:timeout`, `(@status!=<200> AND message:<timeout>)`},
		{`"say \"hi\" \\ back"`, `text"say \"hi\" \\ back"`},
		{`x=1`, `@x:<1>`},
		{`-(a OR b)`, `NOT (text<a> OR text<b>)`},
		{`naïve:café`, `@naïve:<café>`},
	} {
		q, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := show(q.Filter); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestParsePipeline(t *testing.T) {
	t.Parallel()
	q, err := Parse(`level:error | stats count(), avg(duration) as d, dc(user) by service, host | sort -count, d asc | limit 10 | head 20`)
	if err != nil {
		t.Fatal(err)
	}
	s := q.Stats
	if s == nil || len(s.Aggs) != 3 || s.Aggs[0].Name != "count" || s.Aggs[1].Name != "d" || s.Aggs[1].Field.Name != "duration" ||
		s.Aggs[2].Name != "dc(user)" || len(s.By) != 2 || s.By[0].Name != "service" {
		t.Fatalf("stats %+v", s)
	}
	if len(q.Sort) != 2 || q.Sort[0] != (SortKey{Name: "count", Desc: true, Col: 83}) || q.Sort[1].Name != "d" || q.Sort[1].Desc {
		t.Errorf("sort %+v", q.Sort)
	}
	if q.Limit != 10 {
		t.Errorf("limit %d, the smaller of both", q.Limit)
	}
	q, err = Parse(`| fields ts, service, http.status | sort level`)
	if err != nil || q.Filter != nil || len(q.Fields) != 3 || q.Fields[0].Name != "timestamp" || q.Fields[2].Kind != Attribute || q.Sort[0].Name != "severity" {
		t.Errorf("%+v %v", q, err)
	}
}

func TestParseErrorsPointAtTheColumn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		col  int
		want string
	}{
		{`level:error (a OR b`, 20, "expected ')' to close the '(' at column 13, found end of query"},
		{`level:`, 7, "expected a value"},
		{`"unclosed`, 1, "closing '\"'"},
		{`a OR`, 5, "expected a search term"},
		{`tenant:other`, 1, "other than tenant"},
		{`a | stats count`, 16, "expected '(' after count"},
		{`a | stats median(x)`, 11, "an aggregate"},
		{`a | stats sum()`, 15, "a field name"},
		{`a | limit 0`, 11, "a row count"},
		{`a | limit ten`, 11, "a row count"},
		{`a | frobnicate`, 5, `found "frobnicate"`},
		{`a | lookup Threats on ip`, 12, "lowercase letters"},
		{`a | lookup threats ip`, 20, "expected on"},
		{`a | lookup threats on ts`, 23, "other than ts"},
		{`a | lookup threats.x.y on ip`, 12, "lowercase letters"},
		{`a | limit 5 | lookup threats on ip`, 15, "lookup before stats"},
		{`a | sort count | stats count()`, 18, "stats before sort"},
		{`x:[1 TO 2`, 10, "']' to close the range started at column 3"},
		{`x:[1 2]`, 6, "TO in the range"},
		{`a ! b`, 3, "'!='"},
		{`a ) b`, 3, "'|', AND, OR or the end"},
		{`f*:x`, 1, "without wildcards"},
		{`a | stats count(), count()`, 20, "distinct column names"},
		{"a \xff", 3, "UTF-8"},
		{strings.Repeat("(", 70) + "a" + strings.Repeat(")", 70), 65, "nested"},
	} {
		_, err := Parse(c.in)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: error %v is not a *query.Error", c.in, err)
			continue
		}
		if e.Col != c.col || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%q: column %d %q, want column %d with %q", c.in, e.Col, e.Msg, c.col, c.want)
		}
	}
	if _, err := Parse(strings.Repeat("a ", MaxQueryBytes)); err == nil {
		t.Error("an oversized query parsed")
	}
}

// FuzzParse: any input parses or fails with an *Error inside the input's
// columns; never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`level:error service:api`, `a OR (b -c)`, `x:[1 TO 2] | stats count() by y | sort -count | limit 5`, `"p\"q"`, `| fields a,b`, `ts>-15m`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("%q: %T %v", s, err, err)
			}
			if e.Col < 1 || e.Col > len([]rune(s))+1 {
				t.Fatalf("%q: column %d outside the query", s, e.Col)
			}
			return
		}
		if q == nil {
			t.Fatalf("%q: nil query without an error", s)
		}
	})
}

// A chain of MaxTerms terms parses into one flat node; one term more is
// refused at that term's column.
func TestTermLimitAndFlatChains(t *testing.T) {
	t.Parallel()
	terms := make([]string, MaxTerms)
	for i := range terms {
		terms[i] = "a"
	}
	q, err := Parse(strings.Join(terms, " OR "))
	if err != nil {
		t.Fatal(err)
	}
	if or, ok := q.Filter.(Or); !ok || len(or.Terms) != MaxTerms {
		t.Fatalf("filter %T, want one Or of %d terms", q.Filter, MaxTerms)
	}
	q, err = Parse("(a OR b) OR (c OR d) e AND (f g)")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := show(q.Filter), "(text<a> OR text<b> OR ((text<c> OR text<d>) AND text<e> AND text<f> AND text<g>))"; got != want {
		t.Errorf("nested chains: %s, want %s", got, want)
	}
	over := strings.Join(append(terms, "b"), " OR ")
	_, err = Parse(over)
	var qe *Error
	if !errors.As(err, &qe) || qe.Col != len(over) || !strings.Contains(qe.Msg, fmt.Sprint(MaxTerms)) {
		t.Errorf("%d terms: %v, want an error at column %d naming the limit", MaxTerms+1, err, len(over))
	}
}

// | lookup names a dataset (and column, default indicator) and a field.
func TestParseLookup(t *testing.T) {
	t.Parallel()
	q, err := Parse(`level:error | lookup threats on src.ip | lookup owners.host on host | stats count() by host`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Lookup{
		{Dataset: "threats", Column: DefaultLookupColumn, Field: Field{Name: "src.ip", Kind: Attribute, Col: 33}, Col: 15},
		{Dataset: "owners", Column: "host", Field: Field{Name: "host", Kind: q.Lookups[1].Field.Kind, Col: 65}, Col: 42},
	}
	if len(q.Lookups) != 2 || q.Lookups[0] != want[0] || q.Lookups[1].Dataset != "owners" || q.Lookups[1].Column != "host" || q.Lookups[1].Field.Name != "host" || q.Stats == nil {
		t.Errorf("lookups %+v, want %+v", q.Lookups, want)
	}
	many := "x"
	for i := 0; i <= MaxLookups; i++ {
		many += " | lookup d on f"
	}
	if _, err := Parse(many); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d lookups: %v", MaxLookups+1, err)
	}
}

func TestStagesSplitsAtTopLevelPipes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q      string
		filter string
		stages []string
	}{
		{`level:error`, `level:error`, nil},
		{`msg:"a|b" | stats count() by host`, `msg:"a|b"`, []string{"stats count() by host"}},
		{`| stats count()`, ``, []string{"stats count()"}},
		{`é:"ü" | lookup bad on src | stats count() by src`, `é:"ü"`, []string{"lookup bad on src", "stats count() by src"}},
	} {
		f, st, err := Stages(c.q)
		if err != nil || f != c.filter || len(st) != len(c.stages) {
			t.Errorf("Stages(%q) = %q %q %v, want %q %q", c.q, f, st, err, c.filter, c.stages)
			continue
		}
		for i := range st {
			if st[i] != c.stages[i] {
				t.Errorf("Stages(%q) stage %d = %q, want %q", c.q, i, st[i], c.stages[i])
			}
		}
	}
	q := `host:` + Phrase(`we"b\1`)
	parsed, err := Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := parsed.Filter.(Compare); !ok || c.Value.Text != `we"b\1` || !c.Value.Quoted {
		t.Errorf("Phrase does not round-trip: %#v", parsed.Filter)
	}
}
