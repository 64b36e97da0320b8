package admission

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type counts struct {
	admitted, waiting, running atomic.Int64
	mu                         sync.Mutex
	rejected                   map[string]int
}

func (c *counts) Admitted(time.Duration) { c.admitted.Add(1) }
func (c *counts) Rejected(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rejected == nil {
		c.rejected = map[string]int{}
	}
	c.rejected[r]++
}
func (c *counts) Waiting(d int) { c.waiting.Add(int64(d)) }
func (c *counts) Running(d int) { c.running.Add(int64(d)) }

func TestPerTenantAndGlobalBounds(t *testing.T) {
	t.Parallel()
	obs := &counts{}
	c, err := New(Config{Global: 3, PerTenant: 2, MaxWaiting: 10, Wait: 50 * time.Millisecond}, obs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a1, err1 := c.Acquire(ctx, "a")
	a2, err2 := c.Acquire(ctx, "a")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	// The tenant's third search waits, then is turned away.
	_, err = c.Acquire(ctx, "a")
	var rej *Rejection
	if !errors.As(err, &rej) || rej.Reason != "tenant_busy" || rej.RetryAfter < time.Second {
		t.Fatalf("third search of a: %v", err)
	}
	// Another tenant gets the last global slot; a third tenant waits for
	// the global bound.
	b1, err := c.Acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, "c"); !errors.As(err, &rej) || rej.Reason != "busy" {
		t.Fatalf("c over the global bound: %v", err)
	}
	if obs.running.Load() != 3 {
		t.Errorf("running %d", obs.running.Load())
	}
	// A waiter is admitted when a slot frees within the wait.
	got := make(chan error, 1)
	go func() {
		rel, err := c.Acquire(ctx, "a")
		if err == nil {
			rel()
		}
		got <- err
	}()
	time.Sleep(10 * time.Millisecond)
	a1()
	a1() // release is idempotent
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	a2()
	b1()
	if obs.running.Load() != 0 || obs.waiting.Load() != 0 || c.Tenants() != 0 {
		t.Errorf("after all releases: running %d waiting %d tenants %d", obs.running.Load(), obs.waiting.Load(), c.Tenants())
	}
	if obs.rejected["tenant_busy"] != 1 || obs.rejected["busy"] != 1 {
		t.Errorf("rejections %v", obs.rejected)
	}
}

func TestWaitingIsBounded(t *testing.T) {
	t.Parallel()
	c, _ := New(Config{Global: 1, PerTenant: 1, MaxWaiting: 1, Wait: time.Second}, &counts{})
	ctx := context.Background()
	rel, _ := c.Acquire(ctx, "a")
	defer rel()
	waiter := make(chan error, 1)
	go func() { _, err := c.Acquire(ctx, "a"); waiter <- err }()
	time.Sleep(20 * time.Millisecond)
	var rej *Rejection
	if _, err := c.Acquire(ctx, "b"); !errors.As(err, &rej) || rej.Reason != "queue_full" {
		t.Errorf("third search with one waiter allowed: %v", err)
	}
	// A caller that gives up stops waiting.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	<-waiter
	if _, err := c.Acquire(cctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled waiter: %v", err)
	}
}

// Many tenants hammering the controller never exceed either bound.
func TestBoundsHoldUnderLoad(t *testing.T) {
	t.Parallel()
	c, _ := New(Config{Global: 4, PerTenant: 2, MaxWaiting: 1000, Wait: 5 * time.Second}, &counts{})
	var running atomic.Int64
	per := map[string]*atomic.Int64{"a": {}, "b": {}, "c": {}}
	var wg sync.WaitGroup
	var violations atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			rel, err := c.Acquire(context.Background(), name)
			if err != nil {
				t.Error(err)
				return
			}
			if running.Add(1) > 4 || per[name].Add(1) > 2 {
				violations.Add(1)
			}
			time.Sleep(time.Millisecond)
			per[name].Add(-1)
			running.Add(-1)
			rel()
		}([]string{"a", "b", "c"}[i%3])
	}
	wg.Wait()
	if violations.Load() != 0 {
		t.Errorf("%d admissions over a bound", violations.Load())
	}
}
