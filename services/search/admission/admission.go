// Package admission bounds how many searches run at once, per tenant and
// overall. A search that finds no free slot waits up to a bounded time
// (and only while few others wait) and is then turned away, so a burst
// gets 429 with Retry-After instead of piling onto ClickHouse.
package admission

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Config sizes the controller.
type Config struct {
	// Global and PerTenant bound running searches.
	Global, PerTenant int
	// MaxWaiting bounds searches waiting for a slot; more are turned away
	// at once.
	MaxWaiting int
	// Wait is how long a search may wait for a slot.
	Wait time.Duration
}

// Rejection says why a search was turned away.
type Rejection struct {
	Reason string // "tenant_busy", "busy" or "queue_full"
	// RetryAfter is a hint for the client.
	RetryAfter time.Duration
}

func (r *Rejection) Error() string {
	switch r.Reason {
	case "tenant_busy":
		return "too many searches of this tenant are running; retry later"
	case "queue_full":
		return "too many searches are waiting; retry later"
	}
	return "too many searches are running; retry later"
}

// Observer hears about admissions (metrics).
type Observer interface {
	Admitted(wait time.Duration)
	Rejected(reason string)
	Waiting(delta int)
	Running(delta int)
}

// Controller admits searches.
type Controller struct {
	cfg    Config
	obs    Observer
	global chan struct{}

	mu      sync.Mutex
	waiting int
	tenants map[string]*tenant
}

type tenant struct {
	slots chan struct{}
	users int // holders and waiters; the entry goes when it reaches 0
}

// New returns a controller.
func New(cfg Config, obs Observer) (*Controller, error) {
	if cfg.Global < 1 || cfg.PerTenant < 1 || cfg.MaxWaiting < 0 || cfg.Wait < 0 {
		return nil, errors.New("admission: global and per-tenant limits must be positive, waiting and wait not negative")
	}
	return &Controller{cfg: cfg, obs: obs, global: make(chan struct{}, cfg.Global), tenants: map[string]*tenant{}}, nil
}

// Acquire admits a search of tenant, waiting up to the configured time. The
// returned release must be called when the search ends. Errors are
// *Rejection, or ctx's error when the caller gave up.
func (c *Controller) Acquire(ctx context.Context, name string) (release func(), err error) {
	start := time.Now()
	c.mu.Lock()
	t := c.tenants[name]
	if t == nil {
		t = &tenant{slots: make(chan struct{}, c.cfg.PerTenant)}
		c.tenants[name] = t
	}
	t.users++
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		t.users--
		if t.users == 0 {
			delete(c.tenants, name)
		}
		c.mu.Unlock()
	}
	// Fast path: free slots.
	select {
	case t.slots <- struct{}{}:
		select {
		case c.global <- struct{}{}:
			return c.admitted(start, t, done), nil
		default:
		}
		<-t.slots
	default:
	}
	c.mu.Lock()
	if c.waiting >= c.cfg.MaxWaiting {
		c.mu.Unlock()
		done()
		return nil, c.reject("queue_full")
	}
	c.waiting++
	c.mu.Unlock()
	c.obs.Waiting(1)
	defer func() {
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
		c.obs.Waiting(-1)
	}()
	timer := time.NewTimer(c.cfg.Wait)
	defer timer.Stop()
	select {
	case t.slots <- struct{}{}:
	case <-timer.C:
		done()
		return nil, c.reject("tenant_busy")
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
	select {
	case c.global <- struct{}{}:
		return c.admitted(start, t, done), nil
	case <-timer.C:
		<-t.slots
		done()
		return nil, c.reject("busy")
	case <-ctx.Done():
		<-t.slots
		done()
		return nil, ctx.Err()
	}
}

func (c *Controller) admitted(start time.Time, t *tenant, done func()) func() {
	c.obs.Admitted(time.Since(start))
	c.obs.Running(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			<-c.global
			<-t.slots
			c.obs.Running(-1)
			done()
		})
	}
}

func (c *Controller) reject(reason string) error {
	c.obs.Rejected(reason)
	retry := c.cfg.Wait
	if retry < time.Second {
		retry = time.Second
	}
	return &Rejection{Reason: reason, RetryAfter: retry}
}

// Tenants is how many tenants hold or wait for slots (tests, metrics).
func (c *Controller) Tenants() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tenants)
}
