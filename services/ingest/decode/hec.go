package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/events"
)

// Splunk HEC error codes (Splunk's "Troubleshoot HTTP Event Collector").
const (
	hecNoData           = 5
	hecInvalidFormat    = 6
	hecEventRequired    = 12
	hecEventBlank       = 13
	hecIndexedFieldsErr = 15
)

// HECMeta are the event metadata a request sets for all its events (query
// string: host, source, sourcetype, index).
type HECMeta struct {
	Host, Source, SourceType, Index string
}

// HECMetaFrom reads the metadata query parameters of a HEC request.
func HECMetaFrom(r *http.Request) HECMeta {
	q := r.URL.Query()
	return HECMeta{Host: q.Get("host"), Source: q.Get("source"), SourceType: q.Get("sourcetype"), Index: q.Get("index")}
}

// hecEvent is one event of /services/collector/event.
type hecEvent struct {
	Time       json.RawMessage  `json:"time"`
	Host       *string          `json:"host"`
	Source     *string          `json:"source"`
	SourceType *string          `json:"sourcetype"`
	Index      *string          `json:"index"`
	Event      *json.RawMessage `json:"event"`
	Fields     json.RawMessage  `json:"fields"`
}

func hecError(idx int, code int, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: msg, HECCode: code, EventIndex: idx}
}

// HECEvents decodes /services/collector/event: concatenated JSON event
// objects, each with a required "event" (text or object) and optional
// time, host, source, sourcetype, index and indexed "fields".
func HECEvents(body []byte, l Limits, now time.Time, meta HECMeta) ([]events.Event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, hecError(-1, hecNoData, "No data")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out []events.Event
	for i := 0; ; i++ {
		start := dec.InputOffset()
		var he hecEvent
		err := dec.Decode(&he)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, hecError(i, hecInvalidFormat, "Invalid data format")
		}
		if len(out) >= l.MaxEvents {
			return nil, tooLarge(fmt.Sprintf("more than %d events in one request", l.MaxEvents))
		}
		if he.Event == nil {
			return nil, hecError(i, hecEventRequired, "Event field is required")
		}
		raw := bytes.TrimSpace(body[start:dec.InputOffset()])
		if l.MaxRecordBytes > 0 && len(raw) > l.MaxRecordBytes {
			return nil, tooLarge(fmt.Sprintf("event %d is larger than %d bytes", i, l.MaxRecordBytes))
		}
		ev := events.Event{Time: now, Raw: string(raw)}
		var attrs events.Attrs
		switch ev0 := bytes.TrimSpace(*he.Event); {
		case len(ev0) == 0 || string(ev0) == `""` || string(ev0) == "null":
			return nil, hecError(i, hecEventBlank, "Event field cannot be blank")
		case ev0[0] == '{':
			obj, err := fromObject(string(ev0), now, l.Event)
			if err != nil {
				return nil, hecError(i, hecInvalidFormat, "Invalid data format")
			}
			// The object's own time (now when it has none); the envelope's
			// "time", below, wins.
			ev.Time, ev.Message, ev.Severity, ev.Service, ev.Host, attrs = obj.Time, obj.Message, obj.Severity, obj.Service, obj.Host, obj.Attributes
			if ev.Message == "" {
				ev.Message = string(ev0)
			}
		case ev0[0] == '"':
			if err := json.Unmarshal(ev0, &ev.Message); err != nil {
				return nil, hecError(i, hecInvalidFormat, "Invalid data format")
			}
		default: // numbers, booleans, arrays: kept as their JSON text
			ev.Message = string(ev0)
		}
		if !isNull(he.Time) {
			t, err := ParseTime(strings.Trim(string(he.Time), `"`))
			if err != nil {
				return nil, hecError(i, hecInvalidFormat, "Invalid data format")
			}
			ev.Time = t
		}
		if len(he.Fields) > 0 && !isNull(he.Fields) {
			var fields map[string]any
			if err := json.Unmarshal(he.Fields, &fields); err != nil {
				return nil, hecError(i, hecIndexedFieldsErr, "Error in handling indexed fields")
			}
			flatten("", fields, &attrs)
		}
		m := meta
		for _, o := range []struct {
			dst *string
			v   *string
		}{{&m.Host, he.Host}, {&m.Source, he.Source}, {&m.SourceType, he.SourceType}, {&m.Index, he.Index}} {
			if o.v != nil {
				*o.dst = *o.v
			}
		}
		applyMeta(&ev, attrs, m, l.Event)
		out = append(out, ev)
	}
	if len(out) == 0 {
		return nil, hecError(-1, hecNoData, "No data")
	}
	return out, nil
}

// HECRaw decodes /services/collector/raw: one event per non-empty line.
func HECRaw(body []byte, l Limits, now time.Time, meta HECMeta) ([]events.Event, error) {
	var out []events.Event
	for _, line := range bytes.Split(body, []byte{'\n'}) {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(out) >= l.MaxEvents {
			return nil, tooLarge(fmt.Sprintf("more than %d events in one request", l.MaxEvents))
		}
		if l.MaxRecordBytes > 0 && len(line) > l.MaxRecordBytes {
			return nil, tooLarge(fmt.Sprintf("line %d is larger than %d bytes", len(out)+1, l.MaxRecordBytes))
		}
		ev := events.Event{Time: now, Message: string(line), Raw: string(line)}
		applyMeta(&ev, nil, meta, l.Event)
		out = append(out, ev)
	}
	if len(out) == 0 {
		return nil, hecError(-1, hecNoData, "No data")
	}
	return out, nil
}

// applyMeta sets host and keeps source, sourcetype and index as attributes.
func applyMeta(ev *events.Event, attrs events.Attrs, m HECMeta, l events.Limits) {
	if m.Host != "" {
		ev.Host = m.Host
	}
	for _, at := range []events.Attr{{Key: "source", Value: m.Source}, {Key: "sourcetype", Value: m.SourceType}, {Key: "index", Value: m.Index}} {
		if at.Value != "" {
			attrs = append(attrs, at) // after the event's own: these win
		}
	}
	ev.Attributes = attrs
	ev.Clamp(l)
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}
