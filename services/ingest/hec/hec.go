package hec

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// Splunk HEC status codes this port answers with.
const (
	codeSuccess        = 0
	codeTokenRequired  = 2
	codeInvalidAuth    = 3
	codeInvalidToken   = 4
	codeServerBusy     = 9
	codeChannelMissing = 10
	codeInvalidChannel = 11
	codeHealthy        = 17
	codeUnhealthy      = 18
)

var reChannel = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// Handler serves the HEC port.
type Handler struct {
	*intake.Intake
	acks *acks
}

// New returns a HEC handler.
func New(in *intake.Intake) *Handler { return &Handler{Intake: in, acks: newAcks()} }

// Share makes the handler's acknowledgements answerable by every replica
// that shares s (see Shared), recording committed ids until ctx ends. Call
// it before serving.
func (h *Handler) Share(ctx context.Context, s Shared) {
	h.acks.shared, h.acks.log = s, h.Log
	h.acks.commits = make(chan committed, commitQueue)
	go h.acks.record(ctx)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code := h.serve(w, r)
	h.Metrics.Requests.WithLabelValues(h.Protocol, strconv.Itoa(code)).Inc()
	h.Metrics.PendingAcks.Set(float64(h.acks.pendingCount()))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	path := strings.TrimSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/1.0")
	switch path {
	case "/services/collector/health":
		if h.Sink.Saturated() {
			return reply(w, http.StatusServiceUnavailable, codeUnhealthy, "HEC is unhealthy, queues are full")
		}
		if full, msg := h.Disk.Refusing(); full {
			return reply(w, http.StatusServiceUnavailable, codeUnhealthy, "HEC is unhealthy: "+msg)
		}
		return reply(w, http.StatusOK, codeHealthy, "HEC is healthy")
	case "/services/collector", "/services/collector/event", "/services/collector/raw", "/services/collector/ack":
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"text":"The requested URL was not found on this server.","code":404}` + "\n"))
		return http.StatusNotFound
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return reply(w, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "Method not allowed; use POST")
	}
	id, status := h.authenticate(w, r)
	if status != 0 {
		return status
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if ch != "" && !reChannel.MatchString(ch) {
		return reply(w, http.StatusBadRequest, codeInvalidChannel, "Invalid data channel")
	}
	if path == "/services/collector/ack" {
		return h.ack(w, r, ch)
	}
	body, res, err := h.ReadBody(w, r, id)
	defer res.Release()
	if errors.Is(err, intake.ErrBusy) {
		return busy(w)
	}
	if err != nil {
		return h.clientError(w, err)
	}
	meta := decode.HECMetaFrom(r)
	var evs []events.Event
	if path == "/services/collector/raw" {
		evs, err = decode.HECRaw(body, h.Limits, h.Now(), meta)
	} else {
		evs, err = decode.HECEvents(body, h.Limits, h.Now(), meta)
	}
	if err != nil {
		return h.clientError(w, err)
	}
	intake.Stamp(evs, id)
	adm := h.Admit(id, evs)
	switch adm.Outcome {
	case intake.OK:
	case intake.Invalid:
		body := map[string]any{"text": adm.Msg, "code": 6}
		var de *decode.Error
		if errors.As(adm.Err, &de) && de.EventIndex >= 0 {
			body["invalid-event-number"] = de.EventIndex
		}
		return replyJSON(w, http.StatusBadRequest, body)
	default:
		return h.refuse(w, adm)
	}
	if ch == "" {
		if adm, _ = h.Write(r.Context(), adm, evs); adm.Outcome != intake.OK {
			return h.refuse(w, adm)
		}
		return reply(w, http.StatusOK, codeSuccess, "Success")
	}
	ackID, ok := h.acks.issue(ch)
	if !ok {
		return busy(w)
	}
	if adm, _ = h.Enqueue(adm, evs, func(err error) { h.acks.settle(ch, ackID, err) }); adm.Outcome != intake.OK {
		h.acks.settle(ch, ackID, errors.New("not queued"))
		return h.refuse(w, adm)
	}
	return replyJSON(w, http.StatusOK, map[string]any{"text": "Success", "code": codeSuccess, "ackId": ackID})
}

// refuse answers an admission or write that did not take the events, as
// Splunk's HEC answers (code 9, server busy, with 429 and 503; code 6,
// invalid data format, with ClickHouse's refusal), with nano's reason as
// the text.
func (h *Handler) refuse(w http.ResponseWriter, adm intake.Admission) int {
	switch adm.Outcome {
	case intake.RateLimited, intake.OverQuota:
		w.Header().Set("Retry-After", intake.Seconds(adm.RetryAfter))
		return reply(w, http.StatusTooManyRequests, codeServerBusy, "Server is busy: "+adm.Msg)
	case intake.DiskFull:
		w.Header().Set("Retry-After", intake.Seconds(adm.RetryAfter))
		return reply(w, http.StatusServiceUnavailable, codeServerBusy, "Server is busy: "+adm.Msg)
	case intake.Refused:
		return reply(w, http.StatusUnprocessableEntity, 6, "Invalid data format: "+adm.Msg)
	default:
		return busy(w)
	}
}

// authenticate checks "Authorization: Splunk <token>"; status is non-zero
// when it answered the request.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (tokens.Identity, int) {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if auth == "" {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonUnauthorized).Inc()
		return tokens.Identity{}, reply(w, http.StatusUnauthorized, codeTokenRequired, "Token is required")
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Splunk") || strings.TrimSpace(token) == "" {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonUnauthorized).Inc()
		return tokens.Identity{}, reply(w, http.StatusUnauthorized, codeInvalidAuth, "Invalid authorization")
	}
	id, found := h.Tokens.Lookup(strings.TrimSpace(token))
	if !found {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonUnauthorized).Inc()
		return tokens.Identity{}, reply(w, http.StatusForbidden, codeInvalidToken, "Invalid token")
	}
	if !id.Accepts(h.Protocol) {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonUnauthorized).Inc()
		return tokens.Identity{}, reply(w, http.StatusForbidden, codeInvalidToken, "Invalid token: it belongs to a "+id.Kind+" feed; send its events to "+tokens.PortFor(id.Kind))
	}
	return id, 0
}

// ack answers /services/collector/ack: {"acks":[ids]} -> {"acks":{"id":bool}}.
func (h *Handler) ack(w http.ResponseWriter, r *http.Request, ch string) int {
	if ch == "" {
		return reply(w, http.StatusBadRequest, codeChannelMissing, "Data channel is missing")
	}
	var req struct {
		Acks []uint64 `json:"acks"`
	}
	body, err := decode.Body(w, r, decode.Limits{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 1 << 20, MaxEvents: 1}, nil)
	if err != nil {
		return h.clientError(w, err)
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Acks) > 10_000 {
		return reply(w, http.StatusBadRequest, 6, "Invalid data format")
	}
	status := h.acks.query(r.Context(), ch, req.Acks)
	out := make(map[string]bool, len(status))
	for id, ok := range status {
		out[strconv.FormatUint(id, 10)] = ok
	}
	return replyJSON(w, http.StatusOK, map[string]any{"acks": out})
}

func (h *Handler) clientError(w http.ResponseWriter, err error) int {
	var de *decode.Error
	if !errors.As(err, &de) {
		de = &decode.Error{Status: http.StatusBadRequest, Msg: "Invalid data format", HECCode: 6, EventIndex: -1}
	}
	reason := telemetry.ReasonBadRequest
	if de.Status == http.StatusRequestEntityTooLarge {
		reason = telemetry.ReasonTooLarge
	}
	h.Metrics.Rejected.WithLabelValues(h.Protocol, reason).Inc()
	body := map[string]any{"text": de.Msg, "code": de.HECCode}
	if de.EventIndex >= 0 {
		body["invalid-event-number"] = de.EventIndex
	}
	return replyJSON(w, de.Status, body)
}

func busy(w http.ResponseWriter) int {
	w.Header().Set("Retry-After", intake.Seconds(intake.RetryAfterBusy))
	return reply(w, http.StatusServiceUnavailable, codeServerBusy, "Server is busy")
}

func reply(w http.ResponseWriter, status, code int, text string) int {
	return replyJSON(w, status, map[string]any{"text": text, "code": code})
}

func replyJSON(w http.ResponseWriter, status int, body map[string]any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return status
}
