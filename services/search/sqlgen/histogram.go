package sqlgen

import (
	"fmt"
	"strings"
	"time"
)

// HistogramBuckets is about how many bars a histogram has: the step is the
// smallest of HistogramSteps that cuts the range into at most this many
// (plus the bucket the range ends in).
const HistogramBuckets = 60

// HistogramSteps are the bucket widths a histogram may use.
var HistogramSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour,
}

// HistogramStep is the bucket width for a range: at most HistogramBuckets
// buckets where a step allows (the widest step otherwise).
func HistogramStep(from, to time.Time) time.Duration {
	span := to.Sub(from)
	for _, s := range HistogramSteps {
		if span/s <= HistogramBuckets {
			return s
		}
	}
	return HistogramSteps[len(HistogramSteps)-1]
}

// Histogram builds the count of the events r's filter and lookups match,
// per step of event time (Unix seconds of each bucket's start, ascending;
// empty buckets are absent). Stats, sort, limit and fields stages do not
// change which events match, so they are ignored.
func Histogram(r Request, step time.Duration) (*Statement, error) {
	if step < time.Second || step%time.Second != 0 {
		return nil, fmt.Errorf("histogram step %s is not a whole number of seconds", step)
	}
	c := &compiler{now: r.Now}
	where, err := c.where(r)
	if err != nil {
		return nil, err
	}
	width := c.param("UInt32", uint32(step/time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT intDiv(toUInt32(ts), %s) * %s AS bucket, count() AS events\nFROM %s\nWHERE %s\nGROUP BY bucket\nORDER BY bucket",
		width, width, r.Table, strings.Join(where, "\n  AND "))
	return &Statement{SQL: b.String(), Params: c.params,
		Columns: []Column{{"bucket", "UInt32", Plain}, {"events", "UInt64", Plain}}}, nil
}
