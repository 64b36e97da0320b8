package intake

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/telemetry"
)

// Budget bounds the bytes of request bodies the service holds at once,
// from reading a body until its request is answered (its events are then
// committed or queued, where the writer's bounds take over). Requests over
// it wait briefly, then get 503: memory stays bounded however many clients
// send at once.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
	// Wait is how long a request waits for room (2 s).
	Wait time.Duration
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(size), size: size, Wait: 2 * time.Second}
}

// Reservation is one request's share of the budget.
type Reservation struct {
	b    *Budget
	held int64
}

// take waits for n more bytes (at most the whole budget, so one request
// always fits alone).
func (r *Reservation) take(ctx context.Context, n int64) bool {
	if r.b == nil {
		return true
	}
	n = min(n, r.b.size-r.held)
	if n <= 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, r.b.Wait)
	defer cancel()
	if err := r.b.sem.Acquire(ctx, n); err != nil {
		return false
	}
	r.held += n
	return true
}

// Grow extends the reservation to total bytes (a body larger once
// decompressed); false means answer 503.
func (r *Reservation) Grow(ctx context.Context, total int64) bool {
	return r.take(ctx, total-r.held)
}

// Release returns the reservation's bytes.
func (r *Reservation) Release() {
	if r.b != nil && r.held > 0 {
		r.b.sem.Release(r.held)
		r.held = 0
	}
}

// Reserve takes room for r's body as declared (Content-Length, else the
// body limit); ok false means answer 503 with Retry-After. Call Release
// when the request is answered.
func (in *Intake) Reserve(r *http.Request) (res *Reservation, ok bool) {
	res = &Reservation{b: in.Budget}
	n := in.Limits.MaxBodyBytes
	if r.ContentLength >= 0 {
		n = min(r.ContentLength, n)
	}
	if !res.take(r.Context(), n) {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonOverloaded).Inc()
		return res, false
	}
	return res, true
}

// ErrBusy means the budget had no room for a body in time: answer 503
// with Retry-After.
var ErrBusy = errors.New("no room for the request body; retry later")

// ReadBody reads r's body (decompressed, within the limits) inside the
// budget and counts its bytes. err is ErrBusy or a *decode.Error (the
// client's). Release res when the request is answered, whatever err is.
func (in *Intake) ReadBody(w http.ResponseWriter, r *http.Request) (body []byte, res *Reservation, err error) {
	res, ok := in.Reserve(r)
	if !ok {
		return nil, res, ErrBusy
	}
	if body, err = decode.Body(w, r, in.Limits); err != nil {
		return nil, res, err
	}
	if !res.Grow(r.Context(), int64(len(body))) {
		return nil, res, ErrBusy
	}
	in.Metrics.Bytes.WithLabelValues(in.Protocol).Add(float64(len(body)))
	return body, res, nil
}
