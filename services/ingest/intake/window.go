package intake

import (
	"fmt"
	"net/http"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
)

// Window is the range of event times ingest stores as sent, and the days
// one request may span. Events are partitioned by day and expire by their
// time: a time from the distant past or future would land in a partition
// no retention expires (year 2100 stays "the newest day" for decades) or
// that the next roll-off drops, and a request spread over hundreds of days
// would make ClickHouse refuse its insert (max_partitions_per_insert_block)
// together with everyone else's events batched with it.
type Window struct {
	// MaxAge: an event older than this is stored at its arrival time (0:
	// no bound but ClickHouse's DateTime, from 1970).
	MaxAge time.Duration
	// MaxSkew: an event dated further ahead of the arrival is stored at
	// its arrival time.
	MaxSkew time.Duration
	// MaxDays: a request whose events (after the above) fall on more
	// distinct days is refused with 400 (0: no bound).
	MaxDays int
}

// OriginalTimeAttr holds an event's own time (RFC 3339) when it was
// outside the window and the event is stored at its arrival time instead.
const OriginalTimeAttr = "nano.original_time"

// DefaultMaxSkew and DefaultMaxDays are the window's defaults; MaxAge's
// is the retention.
const (
	DefaultMaxSkew = 15 * time.Minute
	DefaultMaxDays = 30
)

// Clamped counts the events of a request Apply moved into the window.
type Clamped struct{ Past, Future int }

// Total is the number of events moved.
func (c Clamped) Total() int { return c.Past + c.Future }

// Apply moves every event of evs dated outside the window to now, keeping
// its own time in OriginalTimeAttr (nothing is lost, and the event stays
// findable by the time it arrived), then checks the days the request
// spans: more than MaxDays is a *decode.Error (400) naming the event that
// passes the bound.
func (w Window) Apply(evs []events.Event, now time.Time) (Clamped, error) {
	lo, hi := events.MinTime, events.MaxTime
	if w.MaxAge > 0 && now.Add(-w.MaxAge).After(lo) {
		lo = now.Add(-w.MaxAge)
	}
	if h := now.Add(w.MaxSkew); h.Before(hi) {
		hi = h
	}
	var c Clamped
	for i := range evs {
		e := &evs[i]
		t := e.Time
		switch {
		case t.Before(lo):
			c.Past++
		case t.After(hi):
			c.Future++
		default:
			continue
		}
		e.Attributes = append(e.Attributes, events.Attr{Key: OriginalTimeAttr, Value: t.UTC().Format(time.RFC3339Nano)}).Normalize()
		e.Time = now
	}
	if w.MaxDays > 0 {
		seen := make(map[uint32]struct{}, 4)
		last := uint32(0)
		for i := range evs {
			d := events.Day(evs[i].Time)
			if d == last {
				continue
			}
			last = d
			if _, ok := seen[d]; ok {
				continue
			}
			if len(seen) == w.MaxDays {
				return c, &decode.Error{Status: http.StatusBadRequest, HECCode: 6, EventIndex: i,
					Msg: fmt.Sprintf("event %d (counting from 1) is dated %s, a day past the %d distinct days one request may span; send events of fewer days per request (e.g. one request per day)",
						i+1, evs[i].Time.UTC().Format(time.DateOnly), w.MaxDays)}
			}
			seen[d] = struct{}{}
		}
	}
	return c, nil
}
