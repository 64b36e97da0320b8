package otlp

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
)

// Path is OTLP/HTTP's logs path.
const Path = "/v1/logs"

// Content types of OTLP/HTTP.
const (
	ContentProtobuf = "application/x-protobuf"
	ContentJSON     = "application/json"
)

// HTTP serves POST /v1/logs (on the ingest HTTP port).
type HTTP struct{ *intake.Intake }

// ServeHTTP implements http.Handler.
func (h HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code := h.serve(w, r)
	h.Metrics.Requests.WithLabelValues(h.Protocol, strconv.Itoa(code)).Inc()
}

func (h HTTP) serve(w http.ResponseWriter, r *http.Request) int {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != ContentJSON {
		ct = ContentProtobuf // the answer's encoding, until the request's is known
	}
	if r.URL.Path != Path {
		return h.fail(w, ct, http.StatusNotFound, codes.NotFound, "not found; post OpenTelemetry logs to "+Path)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.fail(w, ct, http.StatusMethodNotAllowed, codes.Unimplemented, "use POST")
	}
	if got, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); got != ContentJSON && got != ContentProtobuf {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonBadRequest).Inc()
		return h.fail(w, ct, http.StatusUnsupportedMediaType, codes.InvalidArgument,
			"Content-Type must be "+ContentProtobuf+" or "+ContentJSON)
	}
	id, forbidden, msg := authenticate(h.Intake, r.Header.Get("Authorization"))
	if msg != "" {
		if forbidden {
			return h.fail(w, ct, http.StatusForbidden, codes.PermissionDenied, msg)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="nano ingest"`)
		return h.fail(w, ct, http.StatusUnauthorized, codes.Unauthenticated, msg)
	}
	body, res, err := h.ReadBody(w, r, id)
	defer res.Release()
	if errors.Is(err, intake.ErrBusy) {
		return h.busy(w, ct, intake.RetryAfterBusy, "no room for the request now; nothing was accepted, retry later")
	}
	if err != nil {
		var de *decode.Error
		if !errors.As(err, &de) {
			de = &decode.Error{Status: http.StatusBadRequest, Msg: err.Error()}
		}
		reason := telemetry.ReasonBadRequest
		if de.Status == http.StatusRequestEntityTooLarge {
			reason = telemetry.ReasonTooLarge
		}
		h.Metrics.Rejected.WithLabelValues(h.Protocol, reason).Inc()
		return h.fail(w, ct, de.Status, codes.InvalidArgument, de.Msg)
	}
	req := plogotlp.NewExportRequest()
	if ct == ContentJSON {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		h.Metrics.Rejected.WithLabelValues(h.Protocol, telemetry.ReasonBadRequest).Inc()
		return h.fail(w, ct, http.StatusBadRequest, codes.InvalidArgument, "cannot decode ExportLogsServiceRequest: "+err.Error())
	}
	logs := req.Logs()
	if n := logs.LogRecordCount(); n > h.Limits.MaxEvents {
		return h.fail(w, ct, http.StatusRequestEntityTooLarge, codes.InvalidArgument, tooMany(h.Intake, n))
	} else if n == 0 {
		return h.ok(w, ct, "")
	}
	evs := Map(logs, h.Now(), h.Limits.Event)
	adm := export(r.Context(), h.Intake, id, evs)
	switch adm.Outcome {
	case intake.OK:
		return h.ok(w, ct, warning(adm))
	case intake.Invalid, intake.Refused:
		return h.fail(w, ct, http.StatusBadRequest, codes.InvalidArgument, adm.Msg)
	case intake.RateLimited, intake.OverQuota:
		w.Header().Set("Retry-After", intake.Seconds(adm.RetryAfter))
		return h.fail(w, ct, http.StatusTooManyRequests, codes.ResourceExhausted, adm.Msg)
	case intake.DiskFull:
		return h.busy(w, ct, adm.RetryAfter, adm.Msg)
	default:
		return h.busy(w, ct, intake.RetryAfterBusy, adm.Msg)
	}
}

// ok answers an ExportLogsServiceResponse, with a partial-success message
// when msg is set (nothing is rejected: the message is a warning).
func (h HTTP) ok(w http.ResponseWriter, ct, msg string) int {
	resp := plogotlp.NewExportResponse()
	if msg != "" {
		resp.PartialSuccess().SetErrorMessage(msg)
	}
	var b []byte
	if ct == ContentJSON {
		b, _ = resp.MarshalJSON()
	} else {
		b, _ = resp.MarshalProto()
	}
	return write(w, ct, http.StatusOK, b)
}

// busy answers 503 with Retry-After: OTLP exporters retry it.
func (h HTTP) busy(w http.ResponseWriter, ct string, after time.Duration, msg string) int {
	w.Header().Set("Retry-After", intake.Seconds(after))
	return h.fail(w, ct, http.StatusServiceUnavailable, codes.Unavailable, msg)
}

// fail answers status with a google.rpc.Status body in the request's
// encoding, as OTLP/HTTP asks.
func (h HTTP) fail(w http.ResponseWriter, ct string, httpStatus int, code codes.Code, msg string) int {
	st := status.New(code, msg).Proto()
	var b []byte
	if ct == ContentJSON {
		b, _ = protojson.Marshal(st)
	} else {
		b, _ = proto.Marshal(st)
	}
	return write(w, ct, httpStatus, b)
}

func write(w http.ResponseWriter, ct string, status int, b []byte) int {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}
