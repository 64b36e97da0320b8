package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
)

// referenceFlatten is what the scanner must agree with: encoding/json's
// decoding of one object (numbers as their text) flattened.
func referenceFlatten(rec []byte) (map[string]string, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one value")
	}
	var flat events.Attrs
	flatten("", obj, &flat)
	return flat.Map(), nil
}

// repeatsKey reports whether a valid JSON object names one flattened key
// or nested object twice ({"a":1,"a":2}, {"a.b":1,"a":{"b":2}}): encoding/json and the
// scanner then keep different ones, and neither is wrong.
func repeatsKey(rec []byte) bool {
	seen := map[string]bool{}
	repeated := false
	dec := json.NewDecoder(bytes.NewReader(rec))
	var walk func(prefix string, leaf bool) error
	walk = func(prefix string, leaf bool) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, isDelim := tok.(json.Delim)
		switch {
		case isDelim && d == '{' && !leaf:
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if prefix != "" {
					key = prefix + "." + key
				}
				repeated = repeated || seen[key]
				seen[key] = true
				if err := walk(key, false); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case isDelim && (d == '[' || d == '{'):
			for dec.More() {
				if d == '{' {
					if _, err := dec.Token(); err != nil {
						return err
					}
				}
				if err := walk("", true); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	_ = walk("", false)
	return repeated
}

// sameValue compares attribute values; arrays (JSON text) by meaning,
// since encoding/json re-encodes them and the scanner keeps them as sent.
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader([]byte(a))), json.NewDecoder(bytes.NewReader([]byte(b)))
	da.UseNumber()
	db.UseNumber()
	return da.Decode(&x) == nil && db.Decode(&y) == nil && reflect.DeepEqual(x, y)
}

func checkAgainstReference(t *testing.T, rec []byte) {
	t.Helper()
	attrs, err := flattenRecord(string(rec))
	got := attrs.Map()
	want, wantErr := referenceFlatten(rec)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: scanner error %v, encoding/json error %v", rec, err, wantErr)
	}
	if err != nil || repeatsKey(rec) {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: scanner %q, encoding/json %q", rec, got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !sameValue(g, v) {
			t.Fatalf("%q: key %q: scanner %q (present %v), encoding/json %q", rec, k, g, ok, v)
		}
	}
	// The event made of the attributes is the one the reference makes of
	// the same attributes.
	now := time.Unix(0, 0)
	wantEv, wantErr := referenceEvent(got, string(rec), now, events.DefaultLimits)
	ev, err := fromFlat(attrs, string(rec), now, events.DefaultLimits)
	if fmt.Sprint(ev, err) != fmt.Sprint(wantEv, wantErr) {
		t.Fatalf("%q: event %+v (%v), reference %+v (%v)", rec, ev, err, wantEv, wantErr)
	}
}

// referenceEvent maps attributes to an event the plain way: each
// well-known field from the first of its names present, removed from a
// map; the rest sorted.
func referenceEvent(flat map[string]string, raw string, now time.Time, l events.Limits) (events.Event, error) {
	flat = maps.Clone(flat)
	take := func(f int) (string, string) {
		for _, k := range wellKnownNames[f] {
			if v, ok := flat[k]; ok {
				delete(flat, k)
				return k, v
			}
		}
		return "", ""
	}
	ev := events.Event{Raw: raw, Time: now}
	if k, v := take(fieldTime); k != "" {
		t, err := ParseTime(v)
		if err != nil {
			return events.Event{}, fmt.Errorf("field %q: %v", k, err)
		}
		ev.Time = t
	}
	_, ev.Message = take(fieldMessage)
	_, sev := take(fieldSeverity)
	ev.Severity = events.NormalizeSeverity(sev)
	_, ev.Service = take(fieldService)
	_, ev.Host = take(fieldHost)
	for _, k := range slices.Sorted(maps.Keys(flat)) {
		ev.Attributes = append(ev.Attributes, events.Attr{Key: k, Value: flat[k]})
	}
	ev.Clamp(l)
	return ev, nil
}

var scanSeeds = []string{
	`{}`, ` { "a" : 1 } `, `{"a":"b"}`, `{"a":{"b":{"c":"d"}},"e":[1, {"f": [ ]}, "g"]}`,
	`{"n":-0.5e+10,"z":0,"t":true,"f":false,"x":null}`, `{"s":"tab\there \"q\" \\ \/ \b\f\n\r \u00e9 \ud83d\ude00 \ud800 \udc00x"}`,
	"{\"u\":\"caf\xc3\xa9 \xff\xfe bad\"}", `{"a":1,"a":2}`, `{"a.b":1,"a":{"b":2}}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
	`{"a":"x` + "\x01" + `"}`, `{"a":1}{}`, `[{"a":1}]`, `"x"`, `{"a":tru}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"\u0061":1}`,
	`{"a":[1,2,]}`, `{"a":"\u12"}`, `{"a":"\x"}`, `{"a":{"b":1}, "a":{"c":2}}`, "{\"a\":\"\\ud83d\\u0041\"}", `{"a":[[[[]]]]}`,
	`{"a":1e5,"b":1E-2,"c":-12.34e0}`, `{"time":"1","@timestamp":"2026-11-23T10:00:00Z","msg":"a","x":{"y":1},"message":"b","level":"ERR","log":{"level":"x"}}`,
	`{"host":{"name":"h1"},"hostname":"h2","service":{"name":"s"},"app":"a","ts":"yesterday"}`, `{"_time":"1763892000.5","lvl":"debug","_raw":"r"}`, `{"a":` + "\n" + `[ 1 , "x y" ,{"k" : "v"} ]}`,
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range scanSeeds {
		checkAgainstReference(t, []byte(s))
	}
	flat, err := flattenRecord(`{"msg":"x\ny","a":{"c":[1, 2],"b":1},"a":{"d":{"e":null}},"msg":"last"}`)
	if got := fmt.Sprintf("%q", flat.Normalize()); err != nil || got != `[{"a.b" "1"} {"a.c" "[1,2]"} {"a.d.e" ""} {"msg" "last"}]` {
		t.Errorf("flattened %s, %v; want them sorted by key, the last msg winning", got, err)
	}
}

// The scanner accepts exactly the objects encoding/json accepts and yields
// the same attributes.
func FuzzScanner(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAgainstReference(t, b) })
}

// plainPrefix agrees with a byte-by-byte look at every word.
func FuzzPlainPrefix(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "abcdefgh\"", "abcdefg\\ijklmnop", "abcdefghijklmno\x1f", "abc\x7fdefghi\x80", "é" + "abcdefgh", "abcdefgh !#~[]{}ijklmnop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := 0
	words:
		for ; want+8 <= len(s); want += 8 {
			for _, c := range []byte(s[want : want+8]) {
				if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
					break words
				}
			}
		}
		if got := plainPrefix(s); got != want {
			t.Fatalf("plainPrefix(%q) = %d, want %d", s, got, want)
		}
	})
}
