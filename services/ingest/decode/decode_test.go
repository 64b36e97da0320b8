package decode

import (
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2025, 11, 23, 10, 0, 0, 123000000, time.UTC)
	for _, in := range []string{"2025-11-23T10:00:00.123Z", "2025-11-23T11:00:00.123+01:00", "1763892000.123", "1763892000123", "1763892000123000", "1763892000123000000"} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5", "NaN", ""} {
		if _, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) accepted", in)
		}
	}
}

func TestJSONShapes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1, 0)
	evs, err := JSON([]byte(`{"msg":"a","lvl":"warning","app":"x","hostname":"h","nested":{"k":[1,2]},"null":null}`), DefaultLimits, now)
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	e := evs[0]
	if e.Message != "a" || e.Severity != "warn" || e.Service != "x" || e.Host != "h" || e.Attributes.Map()["nested.k"] != "[1,2]" || !e.Time.Equal(now) {
		t.Errorf("mapped %+v", e)
	}
	if _, err := JSON([]byte(`[1]`), DefaultLimits, now); err == nil {
		t.Error("a number in an array was accepted as an event")
	}
	if _, err := JSON([]byte("{}\n{}\n{}"), withMaxEvents(2), now); err == nil {
		t.Error("more than MaxEvents accepted")
	}
}

// Whatever the body, decoding answers with events or an *Error; it never
// panics.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"message":"x"}`, `[{"a":1}]`, "{}\n{}", `{"time":1e300}`, `{"a":{"b":{"c":[{}]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := JSON(b, withMaxEvents(100), time.Unix(0, 0))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *Error", err)
			}
			return
		}
		if len(evs) == 0 || len(evs) > 100 {
			t.Fatalf("%d events", len(evs))
		}
		_, _ = HECEvents(b, withMaxEvents(100), time.Unix(0, 0), HECMeta{})
	})
}

func withMaxEvents(n int) Limits {
	l := DefaultLimits
	l.MaxEvents = n
	return l
}

func TestRecordLimit(t *testing.T) {
	t.Parallel()
	l := DefaultLimits
	l.MaxRecordBytes = 20
	if _, err := JSON([]byte(`{"message":"short"}`+"\n"+`{"message":"much longer than twenty"}`), l, time.Unix(0, 0)); err == nil ||
		err.(*Error).Status != 413 || err.Error() != "record 2 is larger than 20 bytes" {
		t.Errorf("long record: %v", err)
	}
}

// BenchmarkJSON decodes NDJSON of ~750-byte records (the bench-ingest shape).
func BenchmarkJSON(b *testing.B) {
	rec := `{"timestamp":"2026-11-23T10:00:00.123456789Z","level":"info","service":"checkout","host":"web-1","message":"GET /api/v1/orders/1?expand=items,customer,shipping HTTP/1.1 200 1001 bytes in 1 ms from 10.1.0.1 user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 referer=https://shop.example.com/checkout/confirm","http":{"method":"GET","status":200,"path":"/api/v1/orders"},"user":{"id":"u-1","tier":"gold"},"region":"eu-central-1","pad":"` + strings.Repeat("x", 207) + `"}` + "\n"
	body := []byte(strings.Repeat(rec, 1000))
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := JSON(body, DefaultLimits, time.Unix(0, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

// HEC event streams and raw bodies: events or an *Error, never a panic.
func FuzzHEC(f *testing.F) {
	for _, s := range []string{`{"event":"x"}`, `{"event":{"a":1},"time":"1.5","fields":{"k":"v"}}{"event":"y"}`, `{"event":""}`, "a\nb\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, decode := range []func([]byte, Limits, time.Time, HECMeta) ([]events.Event, error){HECEvents, HECRaw} {
			evs, err := decode(b, withMaxEvents(100), time.Unix(0, 0), HECMeta{Host: "h"})
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %T is not *Error", err)
				}
				continue
			}
			if len(evs) == 0 || len(evs) > 100 {
				t.Fatalf("%d events", len(evs))
			}
		}
	})
}
