package quota

import (
	"testing"
	"time"
)

// Events per second: a bucket of BurstSeconds' worth per tenant, refilled
// at the rate; a request larger than the bucket passes on a full one.
// Bytes per day: refused once a request would pass it, until the next UTC
// day, with the wait until then; returns give back what was counted.
// Tenants do not share anything.
func TestQuotas(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	q := NewAt(Limits{EventsPerSecond: 10, BurstSeconds: 2, BytesPerDay: 1000}, func() time.Time { return now })
	if r := q.Take("a", 20, 100); r.Quota != "" {
		t.Fatalf("a full bucket of 20: %+v", r)
	}
	r := q.Take("a", 5, 100)
	if r.Quota != EventsPerSecond || r.RetryAfter != 500*time.Millisecond {
		t.Errorf("an empty bucket: %+v, want events_per_second and 0.5 s", r)
	}
	if r := q.Take("b", 20, 100); r.Quota != "" {
		t.Errorf("another tenant: %+v", r)
	}
	now = now.Add(2 * time.Second)
	if r := q.Take("a", 50, 100); r.Quota != "" {
		t.Errorf("a request larger than a full bucket: %+v, want it taken", r)
	}
	if r := q.Take("a", 1, 0); r.Quota != EventsPerSecond {
		t.Errorf("a bucket in debt: %+v", r)
	}
	now = now.Add(10 * time.Second)
	if r := q.Take("a", 1, 701); r.Quota != "" || q.Used("a") != 901 {
		t.Errorf("200 + 701 bytes of 1000: %+v, used %d", r, q.Used("a"))
	}
	if r := q.Take("a", 1, 100); r.Quota != BytesPerDay || r.RetryAfter != time.Hour-12*time.Second {
		t.Errorf("901 + 100 bytes of 1000: %+v, want bytes_per_day until midnight", r)
	}
	q.Return("a", 1, 701)
	if used := q.Used("a"); used != 200 {
		t.Errorf("after a return %d bytes used, want 200", used)
	}
	now = now.Add(time.Hour)
	if r := q.Take("a", 1, 900); r.Quota != "" || q.Used("a") != 900 {
		t.Errorf("the next UTC day: %+v, used %d", r, q.Used("a"))
	}
	if len(q.carry) != 2 {
		t.Errorf("the old day's unsynced counts: %+v, want a's and b's carried", q.carry)
	}
	if r := New(Limits{}).Take("a", 1e9, 1e15); r.Quota != "" {
		t.Errorf("no limits: %+v", r)
	}
}
