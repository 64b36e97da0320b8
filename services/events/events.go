package events

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event is one log event.
type Event struct {
	// Time is when the event happened (nanosecond precision).
	Time time.Time
	// Tenant and Feed say whose event it is and which source sent it; they
	// come from the credential, never from the event.
	Tenant, Feed string
	// Severity is normalized (see NormalizeSeverity); "" when unknown.
	Severity string
	Service  string
	Host     string
	Message  string
	// Attributes are the event's other fields, flattened ("http.status").
	Attributes Attrs
	// Raw is the event as received.
	Raw string
}

// Attr is one attribute of an event: a flattened field name
// ("http.status") and its text.
type Attr struct{ Key, Value string }

// Attrs are an event's attributes. Decoders append them in the order they
// come, a key possibly more than once; Normalize (which Clamp applies)
// sorts them by key with each key once, the last value of a repeated key
// winning as it does in a JSON object. Events are stored that way.
type Attrs []Attr

// Normalize sorts a by key in place, keeping only the last value of a
// repeated key, and returns the possibly shorter slice.
func (a Attrs) Normalize() Attrs {
	if a.normalized() {
		return a
	}
	slices.SortStableFunc(a, func(x, y Attr) int { return strings.Compare(x.Key, y.Key) })
	out := a[:0]
	for i, at := range a {
		if i+1 < len(a) && a[i+1].Key == at.Key {
			continue // a later value wins
		}
		out = append(out, at)
	}
	clear(a[len(out):])
	return out
}

// normalized reports whether a is sorted by key with each key once.
func (a Attrs) normalized() bool {
	for i := 1; i < len(a); i++ {
		if a[i-1].Key >= a[i].Key {
			return false
		}
	}
	return true
}

// sorted returns a normalized without changing a.
func (a Attrs) sorted() Attrs {
	if a.normalized() {
		return a
	}
	return slices.Clone(a).Normalize()
}

// Map returns the attributes as a map, the last value of a repeated key
// winning.
func (a Attrs) Map() map[string]string {
	m := make(map[string]string, len(a))
	for _, at := range a {
		m[at.Key] = at.Value
	}
	return m
}

// Limits bound what one event may carry; longer values are truncated and
// the event keeps what fits.
type Limits struct {
	// FieldBytes bounds tenant, feed, severity, service, host and
	// attribute keys; MessageBytes the message and attribute values;
	// RawBytes the original record; Attributes their number.
	FieldBytes, MessageBytes, RawBytes, Attributes int
}

// DefaultLimits are the defaults of the limits.
var DefaultLimits = Limits{FieldBytes: 1 << 10, MessageBytes: 64 << 10, RawBytes: 256 << 10, Attributes: 256}

// maxFieldBytes bounds a normalized severity name.
const maxFieldBytes = 1 << 10

// Severities are the normalized severity names.
var Severities = []string{"trace", "debug", "info", "warn", "error", "fatal"}

var severityAliases = map[string]string{
	"trace": "trace", "debug": "debug", "dbg": "debug", "info": "info", "information": "info", "informational": "info",
	"notice": "info", "warn": "warn", "warning": "warn", "error": "error", "err": "error", "fatal": "fatal",
	"critical": "fatal", "crit": "fatal", "alert": "fatal", "emerg": "fatal", "emergency": "fatal", "panic": "fatal",
}

// NormalizeSeverity maps common level names (syslog, logfmt, Java, Go) to
// Severities; unknown names are kept lowercased.
func NormalizeSeverity(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if n, ok := severityAliases[s]; ok {
		return n
	}
	return truncate(s, maxFieldBytes)
}

// Clamp applies l to e in place; it normalizes the attributes and keeps the
// first l.Attributes of them by key.
func (e *Event) Clamp(l Limits) {
	f := l.FieldBytes
	e.Tenant, e.Feed = truncate(e.Tenant, f), truncate(e.Feed, f)
	e.Severity, e.Service, e.Host = truncate(e.Severity, f), truncate(e.Service, f), truncate(e.Host, f)
	e.Message, e.Raw = truncate(e.Message, l.MessageBytes), truncate(e.Raw, l.RawBytes)
	a := e.Attributes.Normalize()
	if len(a) > l.Attributes {
		clear(a[l.Attributes:])
		a = a[:l.Attributes]
	}
	cut := false
	for i := range a {
		if k := truncate(a[i].Key, f); k != a[i].Key {
			a[i].Key, cut = k, true
		}
		a[i].Value = truncate(a[i].Value, l.MessageBytes)
	}
	if cut { // shortened keys may now repeat
		a = a.Normalize()
	}
	e.Attributes = a
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Columns are the events table's columns in insert order.
var Columns = []string{"ts", "ts_nanos", "tenant", "feed", "severity", "service", "host", "message", "attr_keys", "attr_values", "raw"}

// InsertSQL is the INSERT statement of a batch into table (its columns
// named, as old servers require).
func InsertSQL(table string) string {
	return fmt.Sprintf("INSERT INTO %s (%s)", table, strings.Join(Columns, ", "))
}

// Row returns the values of e in Columns order.
func (e *Event) Row() []any {
	a := e.Attributes.sorted()
	keys, values := make([]string, len(a)), make([]string, len(a))
	for i, at := range a {
		keys[i], values[i] = at.Key, at.Value
	}
	t := e.Time.UTC()
	return []any{
		time.Unix(t.Unix(), 0).UTC(), uint32(t.Nanosecond()), e.Tenant, e.Feed, e.Severity, e.Service, e.Host, e.Message,
		keys, values, e.Raw,
	}
}
