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
	"github.com/nanosiem/nano/services/ingest/diskguard"
	"github.com/nanosiem/nano/services/ingest/quota"
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
	// Now is the clock for events without a time and of the window.
	Now func() time.Time
	// Window is the accepted range of event times and days per request.
	Window Window
	// Quotas are the tenants' quotas (nil: none).
	Quotas *quota.Quotas
	// Disk refuses events while ClickHouse's disk is nearly full (nil:
	// never).
	Disk *diskguard.Guard
}

// RetryAfterBusy is the Retry-After of a 503 (queue full, ClickHouse down).
const RetryAfterBusy = 5 * time.Second

// RetryAfterDiskFull is the Retry-After of a 503 for a nearly full disk.
const RetryAfterDiskFull = 60 * time.Second

// Outcome classifies why events were not taken; each protocol answers it
// its way (the HTTP status in parentheses).
type Outcome int

// Outcomes of Admit and the writes.
const (
	OK Outcome = iota
	// Invalid: the request breaks a rule of the window (400, Err says
	// which event).
	Invalid
	// RateLimited: the token's rate (429).
	RateLimited
	// OverQuota: the tenant's quota (429).
	OverQuota
	// DiskFull: ClickHouse's disk is nearly full (503).
	DiskFull
	// Busy: the queue is full or ClickHouse unavailable (503).
	Busy
	// Refused: ClickHouse refused this request's events; the others of
	// its batch were committed (422).
	Refused
)

// Admission is Admit's answer for one request.
type Admission struct {
	Outcome Outcome
	// RetryAfter is set with RateLimited, OverQuota and DiskFull.
	RetryAfter time.Duration
	// Msg says why events were not taken, for the client.
	Msg string
	// Err is the *decode.Error of Invalid.
	Err error
	// Clamped counts the events stored at their arrival time.
	Clamped Clamped
	// charged is what the tenant's quotas counted, returned when the
	// events are not stored.
	tenant string
	events int
	bytes  int64
}

// Stamp sets the identity's tenant and feed on every event.
func Stamp(evs []events.Event, id tokens.Identity) {
	for i := range evs {
		evs[i].Tenant, evs[i].Feed = id.Tenant, id.Feed
	}
}

// Admit is the one admission step of every protocol, between decoding a
// request and writing it: the disk guard, the time window (Window.Apply:
// it may change evs), the token's rate and the tenant's quotas, in that
// order. Nothing is counted against a quota for a request refused before.
// Write or Enqueue the events with the admission when it is OK.
func (in *Intake) Admit(id tokens.Identity, evs []events.Event) Admission {
	n := len(evs)
	if full, msg := in.Disk.Refusing(); full {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonDiskFull).Add(float64(n))
		return Admission{Outcome: DiskFull, RetryAfter: RetryAfterDiskFull, Msg: msg}
	}
	clamped, err := in.Window.Apply(evs, in.now())
	if err != nil {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonTooManyDays).Add(float64(n))
		return Admission{Outcome: Invalid, Err: err, Msg: err.Error()}
	}
	if ok, wait := in.Limiter.Allow(id, n); !ok {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonRateLimited).Add(float64(n))
		return Admission{Outcome: RateLimited, RetryAfter: wait, Msg: "rate limit of this token exceeded; retry later"}
	}
	var bytes int64
	for i := range evs {
		bytes += int64(len(evs[i].Raw))
	}
	if r := in.Quotas.Take(id.Tenant, n, bytes); r.Quota != "" {
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonOverQuota).Add(float64(n))
		in.Metrics.QuotaRefused.WithLabelValues(id.Tenant, r.Quota).Add(float64(n))
		return Admission{Outcome: OverQuota, RetryAfter: r.RetryAfter, Msg: r.Msg}
	}
	if clamped.Past > 0 {
		in.Metrics.Clamped.WithLabelValues(in.Protocol, "past").Add(float64(clamped.Past))
	}
	if clamped.Future > 0 {
		in.Metrics.Clamped.WithLabelValues(in.Protocol, "future").Add(float64(clamped.Future))
	}
	return Admission{Outcome: OK, Clamped: clamped, tenant: id.Tenant, events: n, bytes: bytes}
}

func (in *Intake) now() time.Time {
	if in.Now == nil {
		return time.Now()
	}
	return in.Now()
}

// Write commits admitted events and waits; the admission says how it went
// (Outcome Busy: answer 503, nothing was acknowledged, the client retries;
// Refused: ClickHouse refused these events, 422). It waits for the
// commit's real outcome even when the client has gone meanwhile (its
// request context ended): queued events are committed all the same, and
// the logs and metrics say so instead of "not committed". What was not
// stored is returned to the tenant's quotas.
func (in *Intake) Write(ctx context.Context, adm Admission, evs []events.Event) (Admission, error) {
	timeout := in.WriteTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := in.Sink.Write(ctx, in.Protocol, evs)
	return in.settle(adm, err), err
}

// Enqueue queues admitted events without waiting; done hears the commit's
// outcome. The admission says whether they were queued.
func (in *Intake) Enqueue(adm Admission, evs []events.Event, done func(error)) (Admission, error) {
	err := in.Sink.Enqueue(in.Protocol, evs, func(err error) {
		if err != nil {
			in.Quotas.Return(adm.tenant, adm.events, adm.bytes)
		}
		done(err)
	})
	if err != nil {
		return in.settle(adm, err), err
	}
	return adm, nil
}

// settle classifies a write's error into the admission, returning the
// quotas' count when nothing was stored.
func (in *Intake) settle(adm Admission, err error) Admission {
	if err == nil {
		return adm
	}
	in.Quotas.Return(adm.tenant, adm.events, adm.bytes)
	var refused *writer.RefusedError
	switch {
	case errors.As(err, &refused):
		adm.Outcome, adm.Msg = Refused, refused.Error()+"; the request is refused (sending it again gets the same answer), other requests were stored"
		return adm
	case errors.Is(err, writer.ErrOverloaded) || errors.Is(err, writer.ErrClosed):
		in.Metrics.Rejected.WithLabelValues(in.Protocol, telemetry.ReasonOverloaded).Add(float64(adm.events))
	default:
		in.Log.Warn("events not committed", "protocol", in.Protocol, "events", adm.events, "error", err)
	}
	adm.Outcome, adm.Msg = Busy, "events not stored (ClickHouse busy or unavailable); nothing was accepted, retry later"
	return adm
}

// Seconds renders a Retry-After value (whole seconds, at least 1).
func Seconds(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}
