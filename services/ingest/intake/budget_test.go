package intake

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/telemetry"
)

// Bodies share the budget: a request that does not fit waits, gets in
// when another is answered, and is refused when none is in time; one
// request larger than the budget still fits alone.
func TestBudgetBoundsBodiesInFlight(t *testing.T) {
	in := &Intake{Protocol: "http", Metrics: telemetry.New(), Limits: decode.DefaultLimits, Budget: NewBudget(1000)}
	in.Budget.Wait = 50 * time.Millisecond
	post := func(n int) (*Reservation, bool) {
		return in.Reserve(httptest.NewRequest("POST", "/v1/events", strings.NewReader(strings.Repeat("x", n))))
	}
	a, ok := post(600)
	if !ok {
		t.Fatal("the first request did not fit an empty budget")
	}
	if b, ok := post(600); ok {
		b.Release()
		t.Fatal("a second 600-byte request fit a 1000-byte budget")
	}
	go func() { time.Sleep(10 * time.Millisecond); a.Release() }()
	in.Budget.Wait = 2 * time.Second
	b, ok := post(600)
	if !ok {
		t.Fatal("a waiting request did not get in after the first was answered")
	}
	// Decompressed larger: the reservation grows, up to the whole budget.
	if !b.Grow(context.Background(), 5000) || b.held != 1000 {
		t.Fatalf("grown to %d bytes, want the budget's 1000", b.held)
	}
	b.Release()
	c, ok := post(5000)
	if !ok || c.held != 1000 {
		t.Fatalf("a request over the whole budget: ok %v, held %d", ok, c.held)
	}
	c.Release()
	// Without a budget nothing is held or refused.
	in.Budget = nil
	if d, ok := post(1 << 20); !ok || d.held != 0 {
		t.Fatalf("no budget: ok %v, held %d", ok, d.held)
	}
}
