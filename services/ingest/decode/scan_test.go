package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
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
	flat := map[string]string{}
	flatten("", obj, flat)
	return flat, nil
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
	got, err := flattenRecord(string(rec))
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
}

var scanSeeds = []string{
	`{}`, ` { "a" : 1 } `, `{"a":"b"}`, `{"a":{"b":{"c":"d"}},"e":[1, {"f": [ ]}, "g"]}`,
	`{"n":-0.5e+10,"z":0,"t":true,"f":false,"x":null}`, `{"s":"tab\there \"q\" \\ \/ \b\f\n\r \u00e9 \ud83d\ude00 \ud800 \udc00x"}`,
	"{\"u\":\"caf\xc3\xa9 \xff\xfe bad\"}", `{"a":1,"a":2}`, `{"a.b":1,"a":{"b":2}}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
	`{"a":"x` + "\x01" + `"}`, `{"a":1}{}`, `[{"a":1}]`, `"x"`, `{"a":tru}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"\u0061":1}`,
	`{"a":[1,2,]}`, `{"a":"\u12"}`, `{"a":"\x"}`, `{"a":{"b":1}, "a":{"c":2}}`, "{\"a\":\"\\ud83d\\u0041\"}", `{"a":[[[[]]]]}`,
	`{"a":1e5,"b":1E-2,"c":-12.34e0}`, `{"a":` + "\n" + `[ 1 , "x y" ,{"k" : "v"} ]}`,
}

func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range scanSeeds {
		checkAgainstReference(t, []byte(s))
	}
	flat, err := flattenRecord(`{"a":{"b":1,"c":[1, 2]},"msg":"x\ny"}`)
	if err != nil || flat["a.b"] != "1" || flat["a.c"] != "[1,2]" || flat["msg"] != "x\ny" {
		t.Errorf("flattened %q, %v", flat, err)
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
