package decode

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/nanosiem/nano/services/events"
)

// Limits bound what one request may carry.
type Limits struct {
	// MaxBodyBytes bounds the body as sent; MaxDecodedBytes after gzip.
	MaxBodyBytes, MaxDecodedBytes int64
	// MaxEvents bounds the events of one request; MaxRecordBytes one
	// record (an NDJSON line, an array element, a HEC event).
	MaxEvents, MaxRecordBytes int
	// Event bounds the fields of each event.
	Event events.Limits
}

// DefaultLimits are the service's defaults.
var DefaultLimits = Limits{MaxBodyBytes: 10 << 20, MaxDecodedBytes: 32 << 20, MaxEvents: 100_000, MaxRecordBytes: 1 << 20,
	Event: events.DefaultLimits}

// Error is a request the client must fix; Status is the HTTP status.
type Error struct {
	Status int
	Msg    string
	// HECCode is Splunk's error code for HEC clients; EventIndex the
	// 0-based index of the offending event (-1: none).
	HECCode    int
	EventIndex int
}

func (e *Error) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...), HECCode: hecInvalidFormat, EventIndex: -1}
}

// ErrNoRoom is Body's answer when grow refused room for the body.
var ErrNoRoom = errors.New("no room for the body")

// Body returns the request body decompressed and fully read, within limits.
// grow (nil: no accounting) is asked for room before Body allocates, with
// the bytes it then holds in all; when it refuses, Body stops with
// ErrNoRoom. At most MaxBodyBytes + MaxDecodedBytes (and a few hundred
// bytes) are asked for one request:
//   - a gzip body is read whole first (at most MaxBodyBytes); its
//     trailer's declared size refuses a bomb before it inflates and sizes
//     the decoded buffer, so an ordinary body inflates once, into one
//     buffer. A stream longer than its trailer says (several members) is
//     counted as it inflates, bounded by MaxDecodedBytes, then inflated
//     again into a buffer of its exact size;
//   - a plain body is read into a buffer sized from Content-Length, or
//     grown by doubling up to MaxBodyBytes when it has none.
func Body(w http.ResponseWriter, r *http.Request, l Limits, grow func(total int64) bool) ([]byte, error) {
	if grow == nil {
		grow = func(int64) bool { return true }
	}
	body := http.MaxBytesReader(w, r.Body, l.MaxBodyBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return plainBody(body, r.ContentLength, l, grow)
	case "gzip", "x-gzip":
		return gzipBody(body, r.ContentLength, l, grow)
	default:
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Encoding %q is not supported; use gzip or none", enc), HECCode: hecInvalidFormat, EventIndex: -1}
	}
}

// plainBody reads an uncompressed body: at most MaxBodyBytes (the reader's
// bound), which MaxDecodedBytes is never below.
func plainBody(body io.Reader, contentLength int64, l Limits, grow func(int64) bool) ([]byte, error) {
	limit := min(l.MaxBodyBytes, l.MaxDecodedBytes)
	size := int64(bytes.MinRead)
	if contentLength > 0 {
		// Bounded: the header is the client's word.
		size = min(contentLength, limit) + bytes.MinRead
	}
	if !grow(size) {
		return nil, ErrNoRoom
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return nil, tooLarge(fmt.Sprintf("body is larger than %d bytes", limit))
			}
			// The buffer it outgrows is garbage until collected: counted.
			next := min(2*int64(cap(b)), limit+1)
			if !grow(next + int64(cap(b))) {
				return nil, ErrNoRoom
			}
			b = append(make([]byte, 0, next), b...)
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, readError(err)
		}
	}
}

// gzipBody reads a gzip body whole, then inflates it (see Body).
func gzipBody(body io.Reader, contentLength int64, l Limits, grow func(int64) bool) ([]byte, error) {
	// The compressed body fits in what the caller reserved for it (its
	// Content-Length, else MaxBodyBytes): read into that, never regrown.
	size := l.MaxBodyBytes
	if contentLength > 0 {
		size = min(contentLength, l.MaxBodyBytes)
	}
	raw := make([]byte, size+bytes.MinRead)
	n, err := io.ReadFull(body, raw)
	switch {
	case err == nil:
		// Full: more than the Content-Length or MaxBodyBytes it was sized
		// for, which the readers below refuse before this.
		return nil, tooLarge(fmt.Sprintf("body is larger than %d bytes", l.MaxBodyBytes))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		raw = raw[:n]
	default:
		return nil, readError(err)
	}
	held := int64(cap(raw))
	overLimit := func() error {
		return tooLarge(fmt.Sprintf("body is larger than %d bytes decompressed", l.MaxDecodedBytes))
	}
	declared, ok := gzipDeclaredSize(raw)
	if !ok {
		return nil, badRequest("body is not valid gzip: it does not start with the gzip magic number")
	}
	if declared > l.MaxDecodedBytes {
		// A bomb is refused without being inflated.
		return nil, tooLarge(fmt.Sprintf("body is larger than %d bytes decompressed (its gzip trailer declares %d)", l.MaxDecodedBytes, declared))
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, badRequest("body is not valid gzip: %v", err)
	}
	defer gz.Close()
	if !grow(held + declared + bytes.MinRead) {
		return nil, ErrNoRoom
	}
	b := make([]byte, declared+bytes.MinRead)
	n, err = io.ReadFull(gz, b)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return b[:n], nil
	case err != nil:
		return nil, badRequest("body is not valid gzip: %v", err)
	}
	// Longer than its trailer says: count the rest, then inflate again
	// into a buffer of its size (the first is garbage, not counted).
	rest, err := io.CopyN(io.Discard, gz, l.MaxDecodedBytes+1-int64(n))
	if err != nil && err != io.EOF {
		return nil, badRequest("body is not valid gzip: %v", err)
	}
	total := int64(n) + rest
	if total > l.MaxDecodedBytes {
		return nil, overLimit()
	}
	b = nil
	if !grow(held + total) {
		return nil, ErrNoRoom
	}
	if err := gz.Reset(bytes.NewReader(raw)); err != nil {
		return nil, badRequest("body is not valid gzip: %v", err)
	}
	b = make([]byte, total)
	if _, err := io.ReadFull(gz, b); err != nil {
		return nil, badRequest("body is not valid gzip: %v", err)
	}
	return b, nil
}

// readError is the answer to a body that could not be read: the client's
// deadline passes through (the caller answers 408), a body over the
// reader's limit is 413, anything else 400.
func readError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return tooLargeOr(err, badRequest("cannot read body: %v", err))
}

// gzipDeclaredSize is the size a gzip stream's trailer declares for its
// last member (ISIZE, the size modulo 2^32), a lower bound of the whole
// stream's decompressed size; ok is false when b cannot be gzip. A false
// trailer fails the stream's own check when it is inflated, or, when it
// declares more than the limit, has the body refused as too large.
func gzipDeclaredSize(b []byte) (n int64, ok bool) {
	if len(b) < 18 || b[0] != 0x1f || b[1] != 0x8b {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint32(b[len(b)-4:])), true
}

func tooLarge(msg string) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: msg, HECCode: hecInvalidFormat, EventIndex: -1}
}

func tooLargeOr(err error, other error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(fmt.Sprintf("body is larger than %d bytes", mbe.Limit))
	}
	return other
}

// JSON decodes a bearer request body: one JSON object, an array of
// objects, or newline-delimited objects. Every record must be an object;
// the first bad one fails the whole request (nothing is written).
//
// The events' raw text, keys and values are substrings of body, which JSON
// takes over: the caller must not modify it afterwards (Body's result is
// never reused).
func JSON(body []byte, l Limits, now time.Time) ([]events.Event, error) {
	// The body as a string without a copy: it is not written to again.
	s := strings.TrimSpace(unsafe.String(unsafe.SliceData(body), len(body)))
	if len(s) == 0 {
		return nil, badRequest("body is empty")
	}
	out := make([]events.Event, 0, estimateRecords(s))
	// what and n name the record in errors ("record 3", "element 0").
	add := func(flat events.Attrs, rec, what string, n int) error {
		if len(out) >= l.MaxEvents {
			return tooLarge(fmt.Sprintf("more than %d events in one request", l.MaxEvents))
		}
		if l.MaxRecordBytes > 0 && len(rec) > l.MaxRecordBytes {
			return tooLarge(fmt.Sprintf("%s %d is larger than %d bytes", what, n, l.MaxRecordBytes))
		}
		ev, err := fromFlat(flat, rec, now, l.Event)
		if err != nil {
			return badRequest("%s %d: %v", what, n, err)
		}
		out = append(out, ev)
		return nil
	}
	if s[0] == '[' {
		if err := eachElement(s, func(i int, flat events.Attrs, rec string) error {
			return add(flat, rec, "element", i)
		}); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, badRequest("the array holds no events")
		}
		return out, nil
	}
	// One object (possibly spanning lines), else newline-delimited objects:
	// the first object ending before the body does means lines.
	var sc flatScanner
	if flat, err := sc.record(s); err == nil {
		if err := add(flat, s, "record", 1); err != nil {
			return nil, err
		}
		return out, nil
	}
	i := 0
	for len(s) > 0 {
		line := s
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			line, s = s[:j], s[j+1:]
		} else {
			s = ""
		}
		i++
		line = strings.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if l.MaxRecordBytes > 0 && len(line) > l.MaxRecordBytes {
			return nil, tooLarge(fmt.Sprintf("record %d is larger than %d bytes", i, l.MaxRecordBytes))
		}
		flat, err := sc.record(line)
		if err != nil {
			return nil, badRequest("record %d: %v", i, err)
		}
		if err := add(flat, line, "record", i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// estimateRecords guesses the records of a body from its newlines, for
// allocating once.
func estimateRecords(s string) int {
	n := strings.Count(s, "\n") + 1
	return min(n, 100_000)
}

// eachElement walks the JSON array s, calling f with each element object's
// attributes and text; any other element is an error.
func eachElement(s string, f func(i int, flat events.Attrs, rec string) error) error {
	sc := flatScanner{s: s}
	empty, err := sc.open(']') // s starts with '['
	for i := 0; !empty && err == nil; i++ {
		if sc.i >= len(s) || s[sc.i] != '{' {
			if sc.i < len(s) && sc.skipValue() == nil {
				return badRequest("element %d: not one JSON object", i)
			}
			return badRequest("body is not a JSON array: %v", sc.fail("expected an object"))
		}
		start := sc.i
		flat, err := sc.objectAttrs()
		if err != nil {
			return badRequest("body is not a JSON array: %v", err)
		}
		if err := f(i, flat, s[start:sc.i]); err != nil {
			return err
		}
		empty, err = sc.separator(']')
	}
	if err != nil {
		return badRequest("body is not a JSON array: %v", err)
	}
	sc.skipSpace()
	if sc.i != len(s) {
		return badRequest("body is not a JSON array: %v", sc.fail("unexpected data after the array"))
	}
	return nil
}

// The well-known fields of an event and the names they come under; the
// first name of a field's list present in a record is that field, the
// others stay attributes.
const (
	fieldTime = iota
	fieldMessage
	fieldSeverity
	fieldService
	fieldHost
	wellKnownFields
)

var wellKnownNames = [wellKnownFields][]string{
	fieldTime:     {"@timestamp", "timestamp", "time", "ts", "_time"},
	fieldMessage:  {"message", "msg", "log", "_raw"},
	fieldSeverity: {"level", "severity", "lvl", "log.level", "loglevel"},
	fieldService:  {"service", "service.name", "app", "application"},
	fieldHost:     {"host", "hostname", "host.name"},
}

// wellKnownByLen lists the well-known names by their length, each with
// its field and its rank in the field's list: finding a key among them
// compares it with a few names of its length (cheaper than a map).
var wellKnownByLen = func() (t [16][]wellKnownName) {
	for f, names := range wellKnownNames {
		for rank, name := range names {
			t[len(name)] = append(t[len(name)], wellKnownName{name, f, rank})
		}
	}
	return t
}()

type wellKnownName struct {
	name        string
	field, rank int
}

// wellKnown returns the well-known name key is, if it is one.
func wellKnown(key string) (wellKnownName, bool) {
	if len(key) < len(wellKnownByLen) {
		for _, n := range wellKnownByLen[len(key)] {
			if n.name == key {
				return n, true
			}
		}
	}
	return wellKnownName{}, false
}

// fromObject maps a JSON object's text to an event.
func fromObject(rec string, now time.Time, l events.Limits) (events.Event, error) {
	flat, err := flattenRecord(rec)
	if err != nil {
		return events.Event{}, err
	}
	return fromFlat(flat, rec, now, l)
}

// FromFields maps a structured record (decoded JSON, a Vector log) to an
// event: the well-known fields by name, everything else as attributes.
// Values may be strings, json.Number, integers, floats, booleans, nil,
// time.Time, maps and slices.
func FromFields(obj map[string]any, raw string, now time.Time, l events.Limits) (events.Event, error) {
	var flat events.Attrs
	flatten("", obj, &flat)
	return fromFlat(flat, raw, now, l)
}

// fromFlat maps flattened attributes (in any order, a key possibly
// repeated) to an event: the well-known fields are taken out of flat, the
// rest stay attributes. It reuses flat's memory.
func fromFlat(flat events.Attrs, raw string, now time.Time, l events.Limits) (events.Event, error) {
	ev := events.Event{Raw: raw, Time: now}
	// One pass finds each field's name (the best ranked present; its last
	// value when repeated), a second drops those names from the attributes.
	var chosen chosenFields
	for _, a := range flat {
		if n, ok := wellKnown(a.Key); ok {
			c := &chosen[n.field]
			if c.key == "" || n.rank <= c.rank {
				c.key, c.value, c.rank = a.Key, a.Value, n.rank
			}
		}
	}
	rest := flat[:0]
	for _, a := range flat {
		if !chosen.has(a.Key) {
			rest = append(rest, a)
		}
	}
	clear(flat[len(rest):])
	if c := chosen[fieldTime]; c.key != "" {
		t, err := ParseTime(c.value)
		if err != nil {
			return events.Event{}, fmt.Errorf("field %q: %v", c.key, err)
		}
		ev.Time = t
	}
	ev.Message = chosen[fieldMessage].value
	ev.Severity = events.NormalizeSeverity(chosen[fieldSeverity].value)
	ev.Service = chosen[fieldService].value
	ev.Host = chosen[fieldHost].value
	ev.Attributes = rest
	ev.Clamp(l)
	return ev, nil
}

// chosenFields are the names, values and ranks the well-known fields of a
// record were taken from ("" when absent).
type chosenFields [wellKnownFields]struct {
	key, value string
	rank       int
}

// has reports whether a well-known field was taken from key.
func (c *chosenFields) has(key string) bool {
	for i := range c {
		if c[i].key == key && key != "" {
			return true
		}
	}
	return false
}

// flatten appends nested objects as dotted keys; arrays and scalars as
// text.
func flatten(prefix string, v any, out *events.Attrs) {
	var value string
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, t[k], out)
		}
		return
	case string:
		value = t
	case nil:
		// null: ""
	case json.Number:
		value = t.String()
	case bool:
		value = strconv.FormatBool(t)
	case int64:
		value = strconv.FormatInt(t, 10)
	case float64:
		value = strconv.FormatFloat(t, 'g', -1, 64)
	case time.Time:
		value = t.UTC().Format(time.RFC3339Nano)
	case []byte:
		value = string(t)
	default:
		b, _ := json.Marshal(t)
		value = string(b)
	}
	*out = append(*out, events.Attr{Key: prefix, Value: value})
}

// ParseTime reads RFC 3339 text or a Unix epoch in seconds, milliseconds,
// microseconds or nanoseconds (by magnitude), with fractions.
func ParseTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	// Integers exactly (a float64 cannot hold nanoseconds since 1970).
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		switch {
		case n < 1e11:
			return time.Unix(n, 0).UTC(), nil
		case n < 1e14:
			return time.UnixMilli(n).UTC(), nil
		case n < 1e17:
			return time.UnixMicro(n).UTC(), nil
		default:
			return time.Unix(0, n).UTC(), nil
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a Unix epoch", v)
	}
	switch {
	case f < 1e11: // seconds (until year 5138)
		sec, frac := math.Modf(f)
		// Keep the decimal digits the client sent (float64 loses some).
		if i := strings.IndexByte(v, '.'); i >= 0 && len(v)-i-1 <= 9 {
			ns, _ := strconv.Atoi((v[i+1:] + "000000000")[:9])
			return time.Unix(int64(sec), int64(ns)).UTC(), nil
		}
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	case f < 1e14:
		return time.UnixMilli(int64(f)).UTC(), nil
	case f < 1e17:
		return time.UnixMicro(int64(f)).UTC(), nil
	default:
		return time.Unix(0, int64(f)).UTC(), nil
	}
}
