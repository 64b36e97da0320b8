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
// when another is answered, and is refused when none is in time. A tenant
// alone may use all of it; once another tenant waits, the first one's new
// requests are refused until it holds no more than half, so the other gets
// in; one request larger than half still fits alone.
func TestBudgetBoundsBodiesInFlight(t *testing.T) {
	t.Parallel()
	in := &Intake{Protocol: "http", Metrics: telemetry.New(), Limits: decode.DefaultLimits, Budget: NewBudget(1000)}
	in.Budget.Wait = 50 * time.Millisecond
	post := func(tenant string, n int) (*Reservation, bool) {
		return in.Reserve(httptest.NewRequest("POST", "/v1/events", strings.NewReader(strings.Repeat("x", n))), tokens.Identity{Tenant: tenant})
	}
	a, ok := post("acme", 400)
	if !ok {
		t.Fatal("the first request did not fit an empty budget")
	}
	a2, ok := post("acme", 400)
	if !ok {
		t.Fatal("a tenant alone holding 400 of 1000 was refused 400 more")
	}
	if x, ok := post("acme", 400); ok {
		x.Release()
		t.Fatal("1200 bytes fit a budget of 1000")
	}
	// Another tenant waits for room; meanwhile acme, over its half, is
	// refused at once; when acme's first request is answered, it gets in.
	in.Budget.Wait = 2 * time.Second
	got := make(chan *Reservation)
	go func() {
		r, ok := post("other", 400)
		if !ok {
			r = nil
		}
		got <- r
	}()
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		in.Budget.mu.Lock()
		waiting := in.Budget.tenant["other"] > 0
		in.Budget.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other tenant's request did not start waiting")
		}
	}
	start := time.Now()
	if x, ok := post("acme", 100); ok {
		x.Release()
		t.Fatal("acme, holding 800 of 1000 while another tenant waits, got 100 more")
	}
	if time.Since(start) > time.Second {
		t.Error("acme's refusal waited instead of coming at once")
	}
	a.Release()
	b := <-got
	if b == nil {
		t.Fatal("the waiting tenant did not get in after acme's request was answered")
	}
	in.Budget.Wait = 50 * time.Millisecond
	if c, ok := post("third", 400); ok {
		c.Release()
		t.Fatal("a third 400-byte request fit beside 800 of 1000 held")
	}
	a2.Release()
	in.Budget.Wait = 2 * time.Second
	c, ok := post("third", 400)
	if !ok {
		t.Fatal("a request did not get in after acme's last was answered")
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
