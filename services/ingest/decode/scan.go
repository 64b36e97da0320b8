package decode

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/nanosiem/nano/services/events"
)

// maxDepth bounds the nesting of objects and arrays in one record, as
// encoding/json does.
const maxDepth = 10000

// flatScanner reads JSON objects straight into flattened attributes:
// nested objects become dotted keys, strings their text, numbers their
// literal text, booleans "true"/"false", null "", and arrays their compact
// JSON text. Keys and values without escapes are substrings of the input
// (no copies), which is why the input is a string.
//
// It accepts exactly what encoding/json accepts (the decode tests compare
// the two on fuzzed input); a key repeated in one object keeps its last
// value.
//
// One scanner reads all records of a request: their attributes are handed
// out from shared chunks (out) and their dotted keys are written into
// shared text (text), so a record costs no allocation of its own. What was
// handed out is never written again.
type flatScanner struct {
	s     string
	i     int
	depth int
	// out is the current chunk; the record being read appends to it.
	out events.Attrs
	// skipping is set inside arrays, whose objects are not attributes.
	skipping bool
	text     []byte
}

const (
	// chunkAttrs and chunkText size the scanner's shared chunks; a record
	// starts a new chunk when fewer than minAttrs attributes would fit.
	chunkAttrs, minAttrs = 2048, 64
	chunkText            = 16 << 10
)

// scanError is a syntax error at a byte offset of the record.
type scanError struct {
	off int
	msg string
}

func (e *scanError) Error() string { return fmt.Sprintf("not JSON: %s at offset %d", e.msg, e.off) }

// flattenRecord parses rec, which must be one JSON object and nothing else,
// into flattened attributes in the order they come.
func flattenRecord(rec string) (events.Attrs, error) {
	var sc flatScanner
	return sc.record(rec)
}

// record parses rec, which must be one JSON object and nothing else, into
// flattened attributes in the order they come.
func (sc *flatScanner) record(rec string) (events.Attrs, error) {
	sc.s, sc.i, sc.depth = rec, 0, 0
	sc.skipSpace()
	if sc.i >= len(sc.s) || sc.s[sc.i] != '{' {
		if sc.i < len(sc.s) && validValue(sc.s[sc.i:]) {
			return nil, errors.New("not one JSON object")
		}
		return nil, sc.fail("expected an object")
	}
	attrs, err := sc.objectAttrs()
	if err != nil {
		return nil, err
	}
	sc.skipSpace()
	if sc.i != len(sc.s) {
		return nil, errors.New("not one JSON object")
	}
	return attrs, nil
}

// objectAttrs reads the object at sc.i into a record's attributes, in the
// order they come.
func (sc *flatScanner) objectAttrs() (events.Attrs, error) {
	if cap(sc.out)-len(sc.out) < minAttrs {
		sc.out = make(events.Attrs, 0, chunkAttrs)
	}
	start := len(sc.out)
	if err := sc.object(""); err != nil {
		clear(sc.out[start:])
		sc.out = sc.out[:start]
		return nil, err
	}
	end := len(sc.out)
	return sc.out[start:end:end], nil
}

// join returns prefix + "." + name, written into the scanner's text.
func (sc *flatScanner) join(prefix, name string) string {
	n := len(prefix) + 1 + len(name)
	if n > chunkText/8 {
		return prefix + "." + name
	}
	if cap(sc.text)-len(sc.text) < n {
		sc.text = make([]byte, 0, chunkText)
	}
	start := len(sc.text)
	sc.text = append(append(append(sc.text, prefix...), '.'), name...)
	return unsafe.String(&sc.text[start], n)
}

// validValue reports whether s is one JSON value of another kind than
// object (for the error message only).
func validValue(s string) bool { return json.Valid([]byte(s)) }

func (sc *flatScanner) fail(msg string) error {
	if sc.i >= len(sc.s) {
		return &scanError{off: sc.i, msg: "unexpected end of input"}
	}
	return &scanError{off: sc.i, msg: fmt.Sprintf("%s, found %q", msg, sc.s[sc.i])}
}

func (sc *flatScanner) skipSpace() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// object reads an object at sc.i ('{'), writing its members under prefix.
func (sc *flatScanner) object(prefix string) error {
	if empty, err := sc.open('}'); empty || err != nil {
		return err
	}
	for {
		if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
			return sc.fail("expected a member name")
		}
		name, err := sc.str()
		if err != nil {
			return err
		}
		key := name
		if prefix != "" && !sc.skipping {
			key = sc.join(prefix, name)
		}
		sc.skipSpace()
		if sc.i >= len(sc.s) || sc.s[sc.i] != ':' {
			return sc.fail("expected ':'")
		}
		sc.i++
		sc.skipSpace()
		if err := sc.member(key); err != nil {
			return err
		}
		if done, err := sc.separator('}'); done || err != nil {
			return err
		}
	}
}

// open moves past the '{' or '[' at sc.i, one level deeper; empty is true
// (and the level closed again) when close follows at once.
func (sc *flatScanner) open(close byte) (empty bool, err error) {
	sc.depth++
	if sc.depth > maxDepth {
		return false, sc.fail("nested too deeply")
	}
	sc.i++
	sc.skipSpace()
	if sc.i < len(sc.s) && sc.s[sc.i] == close {
		sc.i++
		sc.depth--
		return true, nil
	}
	return false, nil
}

// separator moves past what follows a member or element: a ',' (done is
// false) or close, which ends the level (done is true).
func (sc *flatScanner) separator(close byte) (done bool, err error) {
	sc.skipSpace()
	if sc.i >= len(sc.s) {
		return false, sc.fail("")
	}
	switch sc.s[sc.i] {
	case ',':
		sc.i++
		sc.skipSpace()
		return false, nil
	case close:
		sc.i++
		sc.depth--
		return true, nil
	}
	return false, sc.fail("expected ',' or '" + string(close) + "'")
}

// member reads the value of key at sc.i.
func (sc *flatScanner) member(key string) error {
	if sc.i >= len(sc.s) {
		return sc.fail("")
	}
	switch c := sc.s[sc.i]; {
	case c == '"':
		v, err := sc.str()
		if err != nil {
			return err
		}
		sc.set(key, v)
	case c == '{':
		return sc.object(key)
	case c == '[':
		start := sc.i
		if err := sc.skipArray(); err != nil {
			return err
		}
		if !sc.skipping {
			sc.set(key, compact(sc.s[start:sc.i]))
		}
	case c == 't':
		return sc.literal(key, "true", "true")
	case c == 'f':
		return sc.literal(key, "false", "false")
	case c == 'n':
		return sc.literal(key, "null", "")
	case c == '-' || (c >= '0' && c <= '9'):
		start := sc.i
		if err := sc.number(); err != nil {
			return err
		}
		sc.set(key, sc.s[start:sc.i])
	default:
		return sc.fail("expected a value")
	}
	return nil
}

func (sc *flatScanner) literal(key, word, value string) error {
	if len(sc.s)-sc.i < len(word) || sc.s[sc.i:sc.i+len(word)] != word {
		return sc.fail("expected " + word)
	}
	sc.i += len(word)
	sc.set(key, value)
	return nil
}

// set records an attribute unless the scanner is skipping (objects inside
// arrays).
func (sc *flatScanner) set(key, value string) {
	if !sc.skipping {
		sc.out = append(sc.out, events.Attr{Key: key, Value: value})
	}
}

// number checks the JSON number grammar at sc.i and moves past it.
func (sc *flatScanner) number() error {
	s, i := sc.s, sc.i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		sc.i = i
		return sc.fail("expected a digit")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			sc.i = i
			return sc.fail("expected a digit after '.'")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			sc.i = i
			return sc.fail("expected a digit in the exponent")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	sc.i = i
	return nil
}

// str reads a string at sc.i ('"') and returns its text: a substring of
// the input when it has no escapes and is valid UTF-8, else decoded as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD).
func (sc *flatScanner) str() (string, error) {
	s := sc.s
	start := sc.i + 1
	ascii := true
	i := start + plainPrefix(s[start:])
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			sc.i = i + 1
			v := s[start:i]
			if ascii || utf8.ValidString(v) {
				return v, nil
			}
			return sc.strEscaped(start) // replaces invalid bytes
		case c == '\\':
			return sc.strEscaped(start)
		case c < 0x20:
			sc.i = i
			return "", sc.fail("control character in a string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	sc.i = len(s)
	return "", sc.fail("")
}

// plainPrefix returns the length of s's leading run, in whole 8-byte words,
// of bytes that need no attention inside a string: printable ASCII other
// than '"' and '\\'. It tests eight bytes at once with the classic
// word-at-a-time tests ("has a byte below n", exact for n <= 128, and "has
// a zero byte" of the word xor the byte sought); str's byte loop handles
// the rest.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		q, bs := w^(ones*'"'), w^(ones*'\\')
		// A byte's high bit is set by: below 0x20, equal to '"', equal to
		// '\\' (zero after the xor), or by being non-ASCII.
		if ((w-ones*0x20)&^w|(q-ones)&^q|(bs-ones)&^bs|w)&highs != 0 {
			break
		}
	}
	return i
}

// escapes are the one-character escapes after '\\'; unescaped what
// each stands for.
const escapes, unescaped = "\"\\/bfnrt", "\"\\/\b\f\n\r\t"

// strEscaped decodes a string with escapes starting at start (after '"').
func (sc *flatScanner) strEscaped(start int) (string, error) {
	s := sc.s
	buf := make([]byte, 0, 64)
	i := start
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			sc.i = i + 1
			return string(buf), nil
		case c < 0x20:
			sc.i = i
			return "", sc.fail("control character in a string")
		case c == '\\':
			if i+1 >= len(s) {
				sc.i = len(s)
				return "", sc.fail("")
			}
			switch k := strings.IndexByte(escapes, s[i+1]); {
			case k >= 0:
				buf = append(buf, unescaped[k])
				i += 2
			case s[i+1] == 'u':
				r, ok := hex4(s, i+2)
				if !ok {
					sc.i = i
					return "", sc.fail(`bad \u escape`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
							buf = utf8.AppendRune(buf, d)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				buf = utf8.AppendRune(buf, r)
			default:
				sc.i = i
				return "", sc.fail("bad escape")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			buf = utf8.AppendRune(buf, r) // RuneError for invalid bytes
			i += size
		}
	}
	sc.i = len(s)
	return "", sc.fail("")
}

// hex4 reads four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[i:i+4], 16, 32)
	return rune(n), err == nil
}

// skipArray checks the array at sc.i ('[') and moves past it.
func (sc *flatScanner) skipArray() error {
	if empty, err := sc.open(']'); empty || err != nil {
		return err
	}
	for {
		if err := sc.skipValue(); err != nil {
			return err
		}
		if done, err := sc.separator(']'); done || err != nil {
			return err
		}
	}
}

// skipValue checks any value at sc.i and moves past it.
func (sc *flatScanner) skipValue() error {
	if sc.i >= len(sc.s) {
		return sc.fail("")
	}
	switch c := sc.s[sc.i]; {
	case c == '"':
		_, err := sc.str()
		return err
	case c == '[':
		return sc.skipArray()
	case c == '{':
		// Members of objects inside arrays are not attributes.
		saved := sc.skipping
		sc.skipping = true
		err := sc.object("")
		sc.skipping = saved
		return err
	case c == 't':
		return sc.literal("", "true", "")
	case c == 'f':
		return sc.literal("", "false", "")
	case c == 'n':
		return sc.literal("", "null", "")
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number()
	}
	return sc.fail("expected a value")
}

// compact returns a valid JSON text without insignificant whitespace.
func compact(s string) string {
	if !hasSpaceOutsideStrings(s) {
		return s
	}
	var b bytes.Buffer
	_ = json.Compact(&b, []byte(s))
	return b.String()
}

func hasSpaceOutsideStrings(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return true
		}
	}
	return false
}
