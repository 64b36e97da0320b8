package sqlgen

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/search/query"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.sql")

var testNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func compile(t testing.TB, q string) (*Statement, error) {
	t.Helper()
	parsed, err := query.Parse(q)
	if err != nil {
		return nil, err
	}
	return Compile(Request{Query: parsed, Tenant: "acme", From: testNow.Add(-time.Hour), To: testNow, Now: testNow, Table: "nano.events", PageSize: 100})
}

func corpus(t testing.TB) []string {
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := s.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// The SQL of every corpus query, with its parameters, against
// testdata/golden.sql (go test -update rewrites it).
func TestGoldenSQL(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for _, q := range corpus(t) {
		st, err := compile(t, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		fmt.Fprintf(&b, "-- %s\n%s;\n", q, st.SQL)
		for _, p := range st.Params {
			if s, ok := p.Value.(string); ok {
				fmt.Fprintf(&b, "--   %s %s = %q\n", p.Name, p.Type, s)
			} else {
				fmt.Fprintf(&b, "--   %s %s = %v\n", p.Name, p.Type, p.Value)
			}
		}
		b.WriteString("\n")
	}
	if *update {
		if err := os.WriteFile("testdata/golden.sql", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/golden.sql")
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("generated SQL differs from testdata/golden.sql (go test ./services/search/sqlgen -update):\n%s", b.String())
	}
}

// vocabulary is every word the compiler may write into SQL; anything else
// (a user's value, field name or tenant) must arrive as a parameter.
var vocabulary = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`SELECT FROM WHERE AND OR NOT IN GROUP BY ORDER LIMIT OFFSET AS ASC DESC
		nano.events ts ts_nanos tenant feed severity service host message raw attr_keys attr_values
		toDateTime arrayElement indexOf has like lowerUTF8 positionCaseInsensitiveUTF8 toFloat64OrNull
		count uniq sum avg min max`) {
		vocabulary[w] = true
	}
}

var (
	rePlaceholder = regexp.MustCompile(`\{p[0-9]+:(String|UInt32|UInt64|Float64)\}`)
	reSQLToken    = regexp.MustCompile(`^(\s+|[A-Za-z_][A-Za-z0-9_.]*|[0-9]+|''|!=|>=|<=|[(),=<>])`)
	reAlias       = regexp.MustCompile(`^[gaf][0-9]+$`)
)

// checkVocabulary fails unless st's SQL is made only of the compiler's
// words, punctuation, placeholders and the empty string literal, and every
// placeholder has its parameter.
func checkVocabulary(t testing.TB, q string, st *Statement) {
	t.Helper()
	names := map[string]bool{}
	for _, p := range st.Params {
		names[p.Name] = true
	}
	for _, ph := range rePlaceholder.FindAllString(st.SQL, -1) {
		if !names[ph[1:strings.IndexByte(ph, ':')]] {
			t.Fatalf("%q: placeholder %s has no parameter", q, ph)
		}
	}
	rest := rePlaceholder.ReplaceAllString(st.SQL, " ")
	for rest != "" {
		m := reSQLToken.FindString(rest)
		if m == "" {
			t.Fatalf("%q: SQL has text outside the compiler's vocabulary at %q\n%s", q, rest, st.SQL)
		}
		if w := strings.TrimSpace(m); w != "" && (w[0] == '_' || w[0] >= 'A') && !vocabulary[w] && !reAlias.MatchString(w) {
			t.Fatalf("%q: SQL contains the word %q, which is not the compiler's\n%s", q, w, st.SQL)
		}
		rest = rest[len(m):]
	}
}

func TestCorpusVocabulary(t *testing.T) {
	t.Parallel()
	for _, q := range corpus(t) {
		st, err := compile(t, q)
		if err != nil {
			t.Fatal(err)
		}
		checkVocabulary(t, q, st)
	}
}

// Random queries built from hostile values: quotes, backslashes, SQL,
// placeholders, braces, newlines; none of it reaches the SQL text.
func TestRandomQueriesOnlyBindValues(t *testing.T) {
	t.Parallel()
	hostile := []string{`'`, `\'`, `"`, `; DROP TABLE nano.events; --`, `{p0:String}`, `@p1`, `?`, `$1`, "a\nb", `%`, `_`, `\`, `é漢`, `) OR 1=1 --`, `toDateTime(0)`, `arrayJoin`, `x*`, `*y?`, `SELECT`}
	fields := []string{"service", "host", "level", "message", "raw", "feed", "user.name", "http.status", "a'b", `"x y"`, "msg"}
	r := rand.New(rand.NewSource(1))
	pick := func(s []string) string { return s[r.Intn(len(s))] }
	value := func() string {
		v := pick(hostile) + pick(hostile)
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
	}
	for i := 0; i < 5000; i++ {
		var terms []string
		for j := 0; j <= r.Intn(4); j++ {
			switch r.Intn(6) {
			case 0:
				terms = append(terms, value())
			case 1:
				terms = append(terms, pick(fields)+":"+value())
			case 2:
				terms = append(terms, "NOT "+pick(fields)+"!="+value())
			case 3:
				terms = append(terms, pick(fields)+":*")
			case 4:
				terms = append(terms, "n>"+fmt.Sprint(r.Float64()*1000-500))
			default:
				terms = append(terms, "("+value()+" OR "+value()+")")
			}
		}
		q := strings.Join(terms, " ")
		switch r.Intn(3) {
		case 0:
			q += " | stats count(), dc(" + pick(fields[6:8]) + ") by " + pick(fields[6:]) + " | sort -count | limit 7"
		case 1:
			q += " | fields ts, " + pick(fields[6:]) + " | sort " + pick(fields)
		}
		st, err := compile(t, q)
		if err != nil {
			if _, ok := err.(*query.Error); ok {
				continue
			}
			t.Fatalf("%q: %v", q, err)
		}
		checkVocabulary(t, q, st)
	}
}

// FuzzCompile: whatever parses compiles to SQL of the compiler's
// vocabulary, or fails with a *query.Error.
func FuzzCompile(f *testing.F) {
	for _, q := range corpus(f) {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		st, err := compile(t, q)
		if err != nil {
			if _, ok := err.(*query.Error); !ok {
				t.Fatalf("%q: %T %v", q, err, err)
			}
			return
		}
		checkVocabulary(t, q, st)
	})
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q    string
		col  int
		want string
	}{
		{`ts:2026-11-23`, 1, "a time comparison"},
		{`ts>yesterday`, 4, "expected a time"},
		{`ts>2200-01-01`, 4, "between 1970 and 2106"},
		{`n>abc`, 3, "expected a number"},
		{`level>loud`, 7, "a level"},
		{`service>a`, 1, "service is text"},
		{`message>=a`, 1, "message is text"},
		{`host:[a TO b]`, 1, "a range on a time"},
		{`| stats avg(service)`, 13, "a numeric attribute"},
		{`| stats count() by ts`, 20, "other than the timestamp"},
		{`| stats count() by host | sort nope`, 32, `found "nope"`},
	} {
		_, err := compile(t, c.q)
		e, ok := err.(*query.Error)
		if !ok || e.Col != c.col || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%q: %v, want column %d with %q", c.q, err, c.col, c.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"now": testNow, "-15m": testNow.Add(-15 * time.Minute), "-2h": testNow.Add(-2 * time.Hour), "-7d": testNow.AddDate(0, 0, -7),
		"-1w": testNow.AddDate(0, 0, -7), "-30s": testNow.Add(-30 * time.Second), "2026-11-23": time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		"2026-11-23T09:00:00.25+01:00": time.Date(2026, 11, 23, 8, 0, 0, 25e7, time.UTC), "1700000000": time.Unix(1700000000, 0),
	} {
		got, ok := ParseTime(in, testNow)
		if !ok || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "-", "-5y", "-99999999999999w", "yesterday", "2026-13-01"} {
		if _, ok := ParseTime(bad, testNow); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
