// Package bearer is the ingest service's primary HTTP port (8080): POST
// /v1/events with "Authorization: Bearer <token>" and a JSON object, a
// JSON array or newline-delimited JSON, optionally gzip-compressed. The
// answer comes after ClickHouse committed the events.
package bearer

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// Path is where events are posted.
const Path = "/v1/events"

// Handler serves the bearer port.
type Handler struct{ *intake.Intake }

// ServeHTTP implements http.Handler.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code := h.serve(w, r)
	h.Metrics.Requests.WithLabelValues(h.Protocol, strconv.Itoa(code)).Inc()
}

func (h Handler) serve(w http.ResponseWriter, r *http.Request) int {
	if r.URL.Path != Path {
		return reply(w, http.StatusNotFound, map[string]any{"error": "not found; post events to " + Path})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return reply(w, http.StatusMethodNotAllowed, map[string]any{"error": "use POST"})
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	id, found := h.Tokens.Lookup(strings.TrimSpace(token))
	if !ok || !found {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonUnauthorized).Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="nano ingest"`)
		return reply(w, http.StatusUnauthorized, map[string]any{"error": "a valid ingest token is required: Authorization: Bearer <token>"})
	}
	if !id.Accepts(h.Protocol) {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonUnauthorized).Inc()
		return reply(w, http.StatusForbidden, map[string]any{"error": "this token belongs to a " + id.Kind + " feed; send its events to " + tokens.PortFor(id.Kind)})
	}
	body, res, err := h.ReadBody(w, r, id)
	defer res.Release()
	if errors.Is(err, intake.ErrBusy) {
		return busy(w)
	}
	if err != nil {
		return h.clientError(w, err)
	}
	decoded, err := decode.JSON(body, h.Limits, h.Now())
	if err != nil {
		return h.clientError(w, err)
	}
	intake.Stamp(decoded, id)
	adm := h.Admit(id, decoded)
	if adm.Outcome == intake.OK {
		adm, _ = h.Write(r.Context(), adm, decoded)
	}
	switch adm.Outcome {
	case intake.OK:
		out := map[string]any{"accepted": len(decoded)}
		if n := adm.Clamped.Total(); n > 0 {
			out["clamped"] = n
			out["warning"] = "events dated outside the accepted window were stored at their arrival time; their own time is in the attribute " + intake.OriginalTimeAttr
		}
		return reply(w, http.StatusOK, out)
	case intake.Invalid:
		return reply(w, http.StatusBadRequest, map[string]any{"error": adm.Msg})
	case intake.RateLimited, intake.OverQuota:
		w.Header().Set("Retry-After", intake.Seconds(adm.RetryAfter))
		return reply(w, http.StatusTooManyRequests, map[string]any{"error": adm.Msg})
	case intake.DiskFull:
		w.Header().Set("Retry-After", intake.Seconds(adm.RetryAfter))
		return reply(w, http.StatusServiceUnavailable, map[string]any{"error": adm.Msg})
	case intake.Refused:
		return reply(w, http.StatusUnprocessableEntity, map[string]any{"error": adm.Msg})
	default:
		return busy(w)
	}
}

func busy(w http.ResponseWriter) int {
	w.Header().Set("Retry-After", intake.Seconds(intake.RetryAfterBusy))
	return reply(w, http.StatusServiceUnavailable, map[string]any{"error": "events not stored (ClickHouse busy or unavailable); nothing was accepted, retry later"})
}

func (h Handler) clientError(w http.ResponseWriter, err error) int {
	var de *decode.Error
	if !errors.As(err, &de) {
		de = &decode.Error{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	reason := telemetry.ReasonBadRequest
	if de.Status == http.StatusRequestEntityTooLarge {
		reason = telemetry.ReasonTooLarge
	}
	h.Metrics.Rejected.WithLabelValues(h.Protocol, reason).Inc()
	return reply(w, de.Status, map[string]any{"error": de.Msg})
}

func reply(w http.ResponseWriter, status int, body map[string]any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return status
}
