package intake

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
)

// Times outside the window are moved to the arrival, their own kept in
// nano.original_time (an attribute of the record's own of that name is
// replaced); times inside stay; ClickHouse's DateTime range bounds a
// window without an age.
func TestWindowClampsOutsideTimes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	w := Window{MaxAge: 90 * 24 * time.Hour, MaxSkew: 15 * time.Minute, MaxDays: 30}
	evs := []events.Event{
		{Time: now.Add(-89 * 24 * time.Hour)},
		{Time: now.Add(-91 * 24 * time.Hour), Attributes: events.Attrs{{Key: OriginalTimeAttr, Value: "forged"}, {Key: "a", Value: "1"}}},
		{Time: now.Add(10 * time.Minute)},
		{Time: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	c, err := w.Apply(evs, now)
	if err != nil || c != (Clamped{Past: 1, Future: 1}) {
		t.Fatalf("clamped %+v, %v; want one past, one future", c, err)
	}
	if !evs[0].Time.Equal(now.Add(-89*24*time.Hour)) || !evs[2].Time.Equal(now.Add(10*time.Minute)) || len(evs[0].Attributes) != 0 {
		t.Errorf("times inside the window changed: %v %v", evs[0], evs[2])
	}
	if !evs[1].Time.Equal(now) || evs[1].Attributes.Map()[OriginalTimeAttr] != "2026-09-05T12:00:00Z" || evs[1].Attributes.Map()["a"] != "1" {
		t.Errorf("91 days old: %v %v", evs[1].Time, evs[1].Attributes)
	}
	if !evs[3].Time.Equal(now) || evs[3].Attributes.Map()[OriginalTimeAttr] != "2100-01-01T00:00:00Z" {
		t.Errorf("2100: %v %v", evs[3].Time, evs[3].Attributes)
	}
	// No age bound: 1975 stays, 1969 and 2107 do not fit DateTime.
	old := []events.Event{{Time: time.Date(1975, 1, 1, 0, 0, 0, 0, time.UTC)}, {Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if c, err := (Window{MaxSkew: time.Hour}).Apply(old, now); err != nil || c.Past != 1 || old[0].Time.Year() != 1975 || !old[1].Time.Equal(now) {
		t.Errorf("without an age bound: %+v %v %v", c, old, err)
	}
}

// A request over MaxDays distinct days is refused with 400 naming the
// event that passes the bound; up to it is taken.
func TestWindowBoundsDaysPerRequest(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	w := Window{MaxAge: 365 * 24 * time.Hour, MaxDays: 3}
	at := func(days ...int) []events.Event {
		var evs []events.Event
		for _, d := range days {
			evs = append(evs, events.Event{Time: now.AddDate(0, 0, -d)})
		}
		return evs
	}
	if _, err := w.Apply(at(0, 0, 1, 2, 1, 0, 2), now); err != nil {
		t.Errorf("three days: %v", err)
	}
	_, err := w.Apply(at(0, 1, 1, 2, 3, 0), now)
	var de *decode.Error
	if !errors.As(err, &de) || de.Status != http.StatusBadRequest || de.EventIndex != 4 || de.Msg[:8] != "event 5 " {
		t.Errorf("four days: %v, want a 400 naming event 5", err)
	}
}
