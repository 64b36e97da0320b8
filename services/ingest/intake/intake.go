package intake

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
)

// Sink takes events for commit (a *writer.Writer).
type Sink interface {
	Write(ctx context.Context, protocol string, evs []events.Event) error
	Enqueue(protocol string, evs []events.Event, done func(error)) error
	Saturated() bool
}

// Intake is one protocol's view of the shared parts.
type Intake struct {
	Protocol string
	Tokens   *tokens.Store
	Limiter  *tokens.Limiter
	Sink     Sink
	Metrics  *telemetry.Metrics
	Log      *slog.Logger
	Limits   decode.Limits
	// WriteTimeout bounds how long a request waits for its commit (30 s).
	WriteTimeout time.Duration
	// Budget bounds the request bodies held at once (nil: unbounded).
	Budget *Budget
	// MinBodyRate is the slowest a body may arrive, in bytes per second
	// (0: DefaultMinBodyRate; negative: no minimum).
	MinBodyRate int64
	// Now is the clock for events without a time.
	Now func() time.Time
}

// RetryAfterBusy is the Retry-After of a 503 (queue full, ClickHouse down).
const RetryAfterBusy = 5 * time.Second

// Outcome classifies why events were not taken.
type Outcome int

// Outcomes of Admit and the writes.
const (
	OK Outcome = iota
	RateLimited
	Busy
)

// Stamp sets the identity's tenant and feed on every event.
func Stamp(evs []events.Event, id tokens.Identity) {
	for i := range evs {
		evs[i].Tenant, evs[i].Feed = id.Tenant, id.Feed
	}
}

// Admit applies the rate limit to n events of id.
func (in *Intake) Admit(id tokens.Identity, n int) (Outcome, time.Duration) {
	if ok, wait := in.Limiter.Allow(id, n); !ok {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonRateLimited).Add(float64(n))
		return RateLimited, wait
	}
	return OK, 0
}

// Write commits evs and waits; Busy means answer 503 (nothing was
// acknowledged, the client retries). It waits for the commit's real
// outcome even when the client has gone meanwhile (its request context
// ended): queued events are committed all the same, and the logs and
// metrics say so instead of "not committed".
func (in *Intake) Write(ctx context.Context, evs []events.Event) (Outcome, error) {
	timeout := in.WriteTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := in.Sink.Write(ctx, in.Protocol, evs)
	return in.classify(len(evs), err), err
}

// Enqueue queues evs without waiting; done hears the commit's outcome.
func (in *Intake) Enqueue(evs []events.Event, done func(error)) (Outcome, error) {
	err := in.Sink.Enqueue(in.Protocol, evs, done)
	return in.classify(len(evs), err), err
}

func (in *Intake) classify(n int, err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, writer.ErrOverloaded) || errors.Is(err, writer.ErrClosed):
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonOverloaded).Add(float64(n))
	default:
		in.Log.Warn("events not committed", "protocol", in.Protocol, "events", n, "error", err)
	}
	return Busy
}

// Seconds renders a Retry-After value (whole seconds, at least 1).
func Seconds(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}
