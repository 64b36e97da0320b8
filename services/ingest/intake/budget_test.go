package intake

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// Bodies share the budget: a request that does not fit waits, gets in
// when another is answered, and is refused when none is in time. No
// tenant holds more than half of it, so another tenant always has room;
// one request larger than that still fits alone.
func TestBudgetBoundsBodiesInFlight(t *testing.T) {
	in := &Intake{Protocol: "http", Metrics: telemetry.New(), Limits: decode.DefaultLimits, Budget: NewBudget(1000)}
	in.Budget.Wait = 50 * time.Millisecond
	post := func(tenant string, n int) (*Reservation, bool) {
		return in.Reserve(httptest.NewRequest("POST", "/v1/events", strings.NewReader(strings.Repeat("x", n))), tokens.Identity{Tenant: tenant})
	}
	a, ok := post("acme", 400)
	if !ok {
		t.Fatal("the first request did not fit an empty budget")
	}
	if b, ok := post("acme", 400); ok {
		b.Release()
		t.Fatal("a tenant holding 400 of its 500 got 400 more")
	}
	b, ok := post("other", 400)
	if !ok {
		t.Fatal("another tenant found no room while acme held 400 of 1000")
	}
	if c, ok := post("third", 400); ok {
		c.Release()
		t.Fatal("a third 400-byte request fit beside 800 of 1000 held")
	}
	go func() { time.Sleep(10 * time.Millisecond); a.Release() }()
	in.Budget.Wait = 2 * time.Second
	c, ok := post("third", 400)
	if !ok {
		t.Fatal("a waiting request did not get in after the first was answered")
	}
	// Decompressed larger: the reservation grows, up to its tenant's half.
	if !c.Grow(context.Background(), 5000) || c.held != 500 {
		t.Fatalf("grown to %d bytes, want the tenant's share of 500", c.held)
	}
	c.Release()
	b.Release()
	d, ok := post("acme", 5000)
	if !ok || d.held != 500 {
		t.Fatalf("a request over the whole budget: ok %v, held %d", ok, d.held)
	}
	d.Release()
	if len(in.Budget.tenant) != 0 {
		t.Errorf("tenants still holding bytes after every release: %v", in.Budget.tenant)
	}
	// Without a budget nothing is held or refused.
	in.Budget = nil
	if d, ok := post("acme", 1<<20); !ok || d.held != 0 {
		t.Fatalf("no budget: ok %v, held %d", ok, d.held)
	}
}
