package bearer

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
)

// full is a sink whose queue is full.
type full struct{}

func (full) Write(context.Context, string, []events.Event) error { return writer.ErrOverloaded }
func (full) Enqueue(string, []events.Event, func(error)) error   { return writer.ErrOverloaded }
func (full) Saturated() bool                                     { return true }

const token = "0123456789abcdef0123"

func handler(t *testing.T, rate float64) Handler {
	s := &tokens.Store{}
	if err := s.Add(token, tokens.Identity{Tenant: "t", Feed: "http", RatePerSecond: rate}); err != nil {
		t.Fatal(err)
	}
	return Handler{&intake.Intake{Protocol: "http", Tokens: s, Limiter: tokens.NewLimiter(), Sink: full{},
		Metrics: telemetry.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: decode.DefaultLimits, Now: time.Now}}
}

func do(h http.Handler, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A full queue answers 503 with Retry-After; a token over its rate 429.
func TestBackpressureStatuses(t *testing.T) {
	t.Parallel()
	rec := do(handler(t, 0), `{"message":"x"}`)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Errorf("full queue: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	h := handler(t, 1)
	do(h, `{"message":"x"}`)
	rec = do(h, `{"message":"y"}`)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("over rate: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d", rec.Code)
	}
}
