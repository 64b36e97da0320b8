package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// Budget bounds the bytes of request bodies the service holds at once,
// from reading a body until its request is answered (its events are then
// committed or queued, where the writer's bounds take over), counting a
// compressed body's decompressed bytes as they are read. Requests over it
// wait briefly, then get 503: memory stays bounded however many clients
// send at once. A tenant alone may use all of it (a single-tenant
// deployment's clients are not held to half); while another tenant holds
// or waits for room, no tenant gets more than half, so one tenant's
// clients (slow or many) cannot keep the others out: their new requests are
// refused until what they hold is answered.
type Budget struct {
	sem   *semaphore.Weighted
	size  int64
	share int64
	// Wait is how long a request waits for room (2 s).
	Wait time.Duration

	mu     sync.Mutex
	tenant map[string]int64 // bytes held per tenant
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(size), size: size, share: max(size/2, 1), Wait: 2 * time.Second, tenant: map[string]int64{}}
}

// Reservation is one request's share of the budget.
type Reservation struct {
	b      *Budget
	tenant string
	held   int64
}

// take waits for n more bytes. One request holds at most half the budget
// (so it always fits when its tenant holds nothing). A new request of a
// tenant whose other requests leave it too little of its limit (the whole
// budget alone, half beside others) is refused at once; a growing one is
// held to what is left.
func (r *Reservation) take(ctx context.Context, n int64) bool {
	b := r.b
	if b == nil {
		return true
	}
	n = min(n, b.share-r.held)
	if n <= 0 {
		return true
	}
	b.mu.Lock()
	limit := b.share
	if held := b.tenant[r.tenant]; len(b.tenant) == 0 || (len(b.tenant) == 1 && held > 0) {
		limit = b.size
	}
	if held := b.tenant[r.tenant]; held+n > limit {
		if r.held == 0 && held > 0 {
			b.mu.Unlock()
			return false
		}
		if n = limit - held; n <= 0 {
			b.mu.Unlock()
			return r.held > 0
		}
	}
	b.tenant[r.tenant] += n
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, b.Wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		b.untenant(r.tenant, n)
		return false
	}
	r.held += n
	return true
}

func (b *Budget) untenant(tenant string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tenant[tenant] -= n; b.tenant[tenant] <= 0 {
		delete(b.tenant, tenant)
	}
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
		r.b.untenant(r.tenant, r.held)
		r.held = 0
	}
}

// Reserve takes room for r's body as declared (Content-Length, else the
// body limit) on behalf of id's tenant; ok false means answer 503 with
// Retry-After. Call Release when the request is answered.
func (in *Intake) Reserve(r *http.Request, id tokens.Identity) (res *Reservation, ok bool) {
	res = &Reservation{b: in.Budget, tenant: id.Tenant}
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

// DefaultMinBodyRate is the slowest a body may arrive, on average after
// the first BodyGrace, before the request is cut with 408.
const (
	DefaultMinBodyRate = 16 << 10 // bytes per second
	BodyGrace          = 2 * time.Second
)

// ReadBody reads r's body (decompressed, within the limits) inside the
// budget, on behalf of id, and counts its bytes. A body that arrives
// slower than the minimum rate is cut (408) so that it does not hold its
// room. err is ErrBusy or a *decode.Error (the client's). Release res
// when the request is answered, whatever err is.
func (in *Intake) ReadBody(w http.ResponseWriter, r *http.Request, id tokens.Identity) (body []byte, res *Reservation, err error) {
	res, ok := in.Reserve(r, id)
	if !ok {
		return nil, res, ErrBusy
	}
	rate := in.MinBodyRate
	if rate == 0 {
		rate = DefaultMinBodyRate
	}
	if rate > 0 {
		rc := http.NewResponseController(w)
		orig := r.Body
		r.Body = &paced{ReadCloser: orig, rc: rc, start: time.Now(), rate: rate}
		defer func() {
			// net/http finishes the request with the body it made; the
			// body is in: the commit may take longer than its pace.
			r.Body = orig
			_ = rc.SetReadDeadline(time.Time{})
		}()
	}
	body, err = decode.Body(w, r, in.Limits, func(total int64) bool { return res.Grow(r.Context(), total) })
	switch {
	case errors.Is(err, decode.ErrNoRoom):
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonOverloaded).Inc()
		return nil, res, ErrBusy
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The rest of the body is not read: close after the answer.
		w.Header().Set("Connection", "close")
		return nil, res, &decode.Error{Status: http.StatusRequestTimeout, EventIndex: -1,
			Msg: fmt.Sprintf("the body arrived slower than %d bytes/s; send it faster or in smaller requests", rate)}
	case err != nil:
		return nil, res, err
	}
	in.Metrics.Bytes.WithLabelValues(in.Protocol).Add(float64(len(body)))
	return body, res, nil
}

// paced cuts a body that arrives slower than rate: before each read it
// sets the connection's read deadline to when the next byte is due (the
// body's start, the grace, and one second per rate bytes read so far).
type paced struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	rate  int64
	got   int64
}

func (p *paced) Read(b []byte) (int, error) {
	due := p.start.Add(BodyGrace + time.Duration(float64(p.got+1)/float64(p.rate)*float64(time.Second)))
	if err := p.rc.SetReadDeadline(due); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	n, err := p.ReadCloser.Read(b)
	p.got += int64(n)
	return n, err
}
