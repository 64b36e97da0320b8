package otlp

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/nanosiem/nano/services/events"
)

// Attribute names nano gives the parts of a log record that are not its
// well-known fields (the record's and its resource's own attributes keep
// their names, nested maps flattened with dots).
const (
	AttrTraceID      = "trace_id"
	AttrSpanID       = "span_id"
	AttrTraceFlags   = "trace_flags"
	AttrSeverityText = "otel.severity_text"
	AttrEventName    = "otel.event_name"
	AttrScopeName    = "otel.scope.name"
	AttrScopeVersion = "otel.scope.version"
)

// Resource attributes that become nano's fields.
const (
	serviceName = "service.name"
	hostName    = "host.name"
)

// Count is the number of log records of logs.
func Count(logs plog.Logs) int { return logs.LogRecordCount() }

// Map turns every log record of logs into an event: service.name →
// service, host.name → host (the record's own attribute when its resource
// has none), severity → level (the number's range when set, else the
// text), body → message (a map or list body as JSON), the time (the
// observed time when the record has none, else now), trace and span ids
// (hex) and every other resource, scope and record attribute as
// attributes, the record's attributes winning over its resource's. Raw is
// the record as JSON. Each event is clamped to l.
func Map(logs plog.Logs, now time.Time, l events.Limits) []events.Event {
	out := make([]events.Event, 0, logs.LogRecordCount())
	rls := logs.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		var resAttrs events.Attrs
		flattenMap("", res, &resAttrs)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope()
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, record(lrs.At(k), res, resAttrs, scope, now, l))
			}
		}
	}
	return out
}

func record(lr plog.LogRecord, res pcommon.Map, resAttrs events.Attrs, scope pcommon.InstrumentationScope, now time.Time, l events.Limits) events.Event {
	ev := events.Event{Time: now}
	switch {
	case lr.Timestamp() != 0:
		ev.Time = lr.Timestamp().AsTime()
	case lr.ObservedTimestamp() != 0:
		ev.Time = lr.ObservedTimestamp().AsTime()
	}
	attrs := make(events.Attrs, 0, len(resAttrs)+lr.Attributes().Len()+6)
	for _, a := range resAttrs {
		switch a.Key {
		case serviceName:
			ev.Service = a.Value
		case hostName:
			ev.Host = a.Value
		default:
			attrs = append(attrs, a)
		}
	}
	var recAttrs events.Attrs
	flattenMap("", lr.Attributes(), &recAttrs)
	for _, a := range recAttrs {
		switch {
		case a.Key == serviceName && ev.Service == "":
			ev.Service = a.Value
		case a.Key == hostName && ev.Host == "":
			ev.Host = a.Value
		default:
			attrs = append(attrs, a)
		}
	}
	ev.Severity = severity(lr.SeverityNumber(), lr.SeverityText())
	if t := lr.SeverityText(); t != "" {
		attrs = append(attrs, events.Attr{Key: AttrSeverityText, Value: t})
	}
	ev.Message = valueText(lr.Body())
	if id := lr.TraceID(); !id.IsEmpty() {
		attrs = append(attrs, events.Attr{Key: AttrTraceID, Value: hex.EncodeToString(id[:])})
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		attrs = append(attrs, events.Attr{Key: AttrSpanID, Value: hex.EncodeToString(id[:])})
	}
	if f := lr.Flags(); f != 0 {
		attrs = append(attrs, events.Attr{Key: AttrTraceFlags, Value: strconv.FormatUint(uint64(f), 10)})
	}
	if n := lr.EventName(); n != "" {
		attrs = append(attrs, events.Attr{Key: AttrEventName, Value: n})
	}
	if n := scope.Name(); n != "" {
		attrs = append(attrs, events.Attr{Key: AttrScopeName, Value: n})
	}
	if v := scope.Version(); v != "" {
		attrs = append(attrs, events.Attr{Key: AttrScopeVersion, Value: v})
	}
	// The record's attributes were appended after the resource's: a
	// repeated key keeps the record's value (Normalize keeps the last).
	ev.Attributes = attrs
	ev.Raw = rawJSON(lr, res, scope)
	ev.Clamp(l)
	return ev
}

// severity maps OTLP's severity number ranges (1-4 TRACE ... 21-24 FATAL)
// to nano's levels, or the text when the number is unset.
func severity(n plog.SeverityNumber, text string) string {
	switch {
	case n >= 1 && n <= 24:
		return events.Severities[(int(n)-1)/4]
	case text != "":
		return events.NormalizeSeverity(text)
	}
	return ""
}

// valueText is a value's text: strings as they are, maps and lists as
// JSON, bytes in base64 (pdata's AsString).
func valueText(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	if v.Type() == pcommon.ValueTypeEmpty {
		return ""
	}
	return v.AsString()
}

// flattenMap appends m's entries, nested maps as dotted keys, lists and
// scalars as text.
func flattenMap(prefix string, m pcommon.Map, out *events.Attrs) {
	m.Range(func(k string, v pcommon.Value) bool {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if v.Type() == pcommon.ValueTypeMap {
			flattenMap(key, v.Map(), out)
		} else {
			*out = append(*out, events.Attr{Key: key, Value: valueText(v)})
		}
		return true
	})
}

// rawJSON is the record as nano stores it in raw: its fields in OTLP/JSON's
// names, with its resource's and scope's attributes.
func rawJSON(lr plog.LogRecord, res pcommon.Map, scope pcommon.InstrumentationScope) string {
	rec := map[string]any{}
	if t := lr.Timestamp(); t != 0 {
		rec["timeUnixNano"] = strconv.FormatUint(uint64(t), 10)
	}
	if t := lr.ObservedTimestamp(); t != 0 {
		rec["observedTimeUnixNano"] = strconv.FormatUint(uint64(t), 10)
	}
	if n := lr.SeverityNumber(); n != 0 {
		rec["severityNumber"] = int32(n)
	}
	if t := lr.SeverityText(); t != "" {
		rec["severityText"] = t
	}
	if lr.Body().Type() != pcommon.ValueTypeEmpty {
		rec["body"] = lr.Body().AsRaw()
	}
	if lr.Attributes().Len() > 0 {
		rec["attributes"] = lr.Attributes().AsRaw()
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		rec["traceId"] = hex.EncodeToString(id[:])
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		rec["spanId"] = hex.EncodeToString(id[:])
	}
	if f := lr.Flags(); f != 0 {
		rec["flags"] = uint32(f)
	}
	if n := lr.EventName(); n != "" {
		rec["eventName"] = n
	}
	if res.Len() > 0 {
		rec["resource"] = map[string]any{"attributes": res.AsRaw()}
	}
	if scope.Name() != "" || scope.Version() != "" {
		rec["scope"] = map[string]any{"name": scope.Name(), "version": scope.Version()}
	}
	b, err := json.Marshal(rec)
	if err != nil { // a float NaN or Inf in the body: keep what can be said
		return valueText(lr.Body())
	}
	return string(b)
}
