package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nanosiem/nano/services/jsonhttp"
)

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 1 << 20

// ErrorBody is every error answer of the endpoint: the error envelope of
// nano's HTTP services (docs/reference/errors.md), each problem naming the
// request field or config key at fault where there is one, and on a 409
// what the request conflicts with.
type ErrorBody struct {
	jsonhttp.Envelope
	// Operation is the deployment's operation under way (409: retry after
	// it ends), or the operation a cancel found ended.
	Operation string `json:"operation,omitempty"`
	// UpgradingTo is the deployment this one is being upgraded into (409
	// until that upgrade is completed or abandoned).
	UpgradingTo string `json:"upgradingTo,omitempty"`
}

// OperationReply answers a request that started an operation (202, with
// Location: /v1/operations/{id}), GET /v1/operations/{id} and a cancel.
type OperationReply struct {
	Operation *Operation `json:"operation"`
	// AWSRoleExternalID is the external id the request generated for
	// credentials.awsRoleArn: in this answer only.
	AWSRoleExternalID string `json:"awsRoleExternalId,omitempty"`
	Note              string `json:"note,omitempty"`
}

// Handler is the HTTP API. Every request but /healthz needs
// "Authorization: Bearer <token>": the admin token (adminToken) may do
// everything; a deployment's token (POST /v1/tokens) only reads and
// changes its deployment and that deployment's operations: 403 on any
// other deployment, on listing or creating deployments, on upgrades and
// on tokens.
func Handler(m *Manager, adminToken string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	h := &api{m: m, log: log}
	mux.HandleFunc("POST /v1/deployments", h.admin(h.create))
	mux.HandleFunc("GET /v1/deployments", h.admin(h.list))
	mux.HandleFunc("GET /v1/deployments/{name}", h.scoped(h.get))
	mux.HandleFunc("PUT /v1/deployments/{name}", h.scoped(h.update))
	mux.HandleFunc("DELETE /v1/deployments/{name}", h.scoped(h.destroy))
	mux.HandleFunc("POST /v1/deployments/{name}/preview", h.scoped(h.preview))
	mux.HandleFunc("POST /v1/deployments/{name}/refresh", h.scoped(h.refresh))
	mux.HandleFunc("POST /v1/deployments/{name}/upgrade", h.admin(h.upgrade))
	mux.HandleFunc("POST /v1/deployments/{name}/upgrade/complete", h.admin(h.completeUpgrade))
	mux.HandleFunc("GET /v1/operations/{id}", h.opScoped(h.operation))
	mux.HandleFunc("POST /v1/operations/{id}/cancel", h.opScoped(h.cancel))
	mux.HandleFunc("GET /v1/operations/{id}/events", h.opScoped(h.events))
	mux.HandleFunc("POST /v1/tokens", h.admin(h.createToken))
	mux.HandleFunc("GET /v1/tokens", h.admin(h.listTokens))
	mux.HandleFunc("DELETE /v1/tokens/{id}", h.admin(h.revokeToken))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			mux.ServeHTTP(w, r)
			return
		}
		p := m.authenticate(r.Header.Get("Authorization"), adminToken)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nano provisioning"`)
			failWith(w, http.StatusUnauthorized, ErrorBody{}, "a valid token is required: Authorization: Bearer <token>")
			return
		}
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

type principalKey struct{}

func principal(r *http.Request) *Principal {
	p, _ := r.Context().Value(principalKey{}).(*Principal)
	if p == nil {
		return &Principal{}
	}
	return p
}

func forbidden(w http.ResponseWriter, p *Principal, what string) {
	failWith(w, http.StatusForbidden, ErrorBody{}, fmt.Sprintf("this token is scoped to deployment %q: %s", p.Deployment, what))
}

// admin lets only the admin token through.
func (h *api) admin(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r); !p.Admin {
			forbidden(w, p, "this route needs the admin token")
			return
		}
		f(w, r)
	}
}

// scoped lets the admin and the path's deployment's tokens through.
func (h *api) scoped(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r); !p.Admin && p.Deployment != r.PathValue("name") {
			forbidden(w, p, "it cannot reach another deployment")
			return
		}
		f(w, r)
	}
}

// opScoped lets the admin and the tokens of the operation's deployment
// through.
func (h *api) opScoped(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		if !p.Admin {
			op, err := h.m.Operation(r.PathValue("id"))
			if err != nil {
				h.fail(w, err)
				return
			}
			if op.Deployment != p.Deployment {
				forbidden(w, p, "the operation is another deployment's")
				return
			}
		}
		f(w, r)
	}
}

type api struct {
	m   *Manager
	log *slog.Logger
}

func reply(w http.ResponseWriter, status int, body any) { jsonhttp.Reply(w, status, body) }

// failWith answers body with one problem of no field.
func failWith(w http.ResponseWriter, status int, body ErrorBody, msg string) {
	body.Errors = []Problem{{Message: msg}}
	reply(w, status, body)
}

// fail maps the manager's errors to statuses and the error envelope.
func (h *api) fail(w http.ResponseWriter, err error) {
	var ve *ValidationError
	var be *BusyError
	var ee *ExistsError
	var ne *NoCLIError
	var ue *UpgradingError
	var ie *IsolationError
	switch {
	case errors.As(err, &ie):
		failWith(w, http.StatusConflict, ErrorBody{}, ie.Error())
	case errors.As(err, &ue):
		failWith(w, http.StatusConflict, ErrorBody{UpgradingTo: ue.Target}, ue.Error())
	case errors.As(err, &ne):
		if ne.Preparing {
			w.Header().Set("Retry-After", "30")
		}
		failWith(w, http.StatusServiceUnavailable, ErrorBody{}, ne.Error())
	case errors.As(err, &ve):
		reply(w, http.StatusBadRequest, ErrorBody{Envelope: jsonhttp.Envelope{Errors: ve.Problems}})
	case errors.As(err, &be):
		failWith(w, http.StatusConflict, ErrorBody{Operation: be.Operation}, be.Error())
	case errors.As(err, &ee):
		failWith(w, http.StatusConflict, ErrorBody{}, ee.Error())
	case errors.Is(err, ErrNotFound):
		failWith(w, http.StatusNotFound, ErrorBody{}, "not found")
	default:
		h.log.Error("request failed", "error", err)
		failWith(w, http.StatusInternalServerError, ErrorBody{}, err.Error())
	}
}

// decode reads a bounded JSON body into v, refusing unknown fields (413
// over MaxBodyBytes, 400 otherwise, in the error envelope).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return jsonhttp.Decode(w, r, v)
}

// accepted answers a started operation; an AWS external id the request
// generated is in this answer only.
func accepted(w http.ResponseWriter, op *Operation) {
	w.Header().Set("Location", "/v1/operations/"+op.ID)
	body := OperationReply{Operation: op}
	if op.issuedExternalID != "" {
		body.AWSRoleExternalID = op.issuedExternalID
		body.Note = "awsRoleExternalId is shown once: put it in the role's trust policy (sts:ExternalId condition)"
	}
	reply(w, http.StatusAccepted, body)
}

func (h *api) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Deployment string `json:"deployment"`
		Name       string `json:"name"`
	}
	if !decode(w, r, &req) {
		return
	}
	t, secret, err := h.m.CreateToken(req.Deployment, req.Name)
	if err != nil {
		h.fail(w, err)
		return
	}
	reply(w, http.StatusCreated, map[string]any{"token": t, "secret": secret,
		"note": "the secret is shown once; the endpoint keeps its hash only"})
}

func (h *api) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.m.Tokens(r.URL.Query().Get("deployment"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if ts == nil {
		ts = []*Token{}
	}
	reply(w, http.StatusOK, map[string]any{"tokens": ts})
}

func (h *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := h.m.RevokeToken(r.PathValue("id")); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *api) create(w http.ResponseWriter, r *http.Request) {
	var req Request
	if !decode(w, r, &req) {
		return
	}
	op, err := h.m.Create(req)
	if err != nil {
		h.fail(w, err)
		return
	}
	accepted(w, op)
}

func (h *api) update(w http.ResponseWriter, r *http.Request) {
	var req Request
	if !decode(w, r, &req) {
		return
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		reply(w, http.StatusBadRequest, ErrorBody{Envelope: jsonhttp.Envelope{Errors: []Problem{problem("name", "differs from the path; a deployment cannot be renamed")}}})
		return
	}
	op, err := h.m.Update(name, req)
	if err != nil {
		h.fail(w, err)
		return
	}
	accepted(w, op)
}

func (h *api) simple(f func(string) (*Operation, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op, err := f(r.PathValue("name"))
		if err != nil {
			h.fail(w, err)
			return
		}
		accepted(w, op)
	}
}

func (h *api) upgrade(w http.ResponseWriter, r *http.Request) {
	var req UpgradeRequest
	if !decode(w, r, &req) {
		return
	}
	op, err := h.m.Upgrade(r.PathValue("name"), req)
	if err != nil {
		h.fail(w, err)
		return
	}
	accepted(w, op)
}

func (h *api) completeUpgrade(w http.ResponseWriter, r *http.Request) {
	h.simple(h.m.CompleteUpgrade)(w, r)
}

func (h *api) destroy(w http.ResponseWriter, r *http.Request) { h.simple(h.m.Destroy)(w, r) }
func (h *api) preview(w http.ResponseWriter, r *http.Request) { h.simple(h.m.Preview)(w, r) }
func (h *api) refresh(w http.ResponseWriter, r *http.Request) { h.simple(h.m.Refresh)(w, r) }

func (h *api) list(w http.ResponseWriter, _ *http.Request) {
	ds, err := h.m.Deployments()
	if err != nil {
		h.fail(w, err)
		return
	}
	if ds == nil {
		ds = []*Deployment{}
	}
	reply(w, http.StatusOK, map[string]any{"deployments": ds})
}

func (h *api) get(w http.ResponseWriter, r *http.Request) {
	d, err := h.m.Deployment(r.PathValue("name"))
	if err != nil {
		h.fail(w, err)
		return
	}
	body := map[string]any{"deployment": d}
	if d.LastOp != "" {
		if op, err := h.m.Operation(d.LastOp); err == nil {
			body["lastOperation"] = op
		}
	}
	reply(w, http.StatusOK, body)
}

func (h *api) operation(w http.ResponseWriter, r *http.Request) {
	op, err := h.m.Operation(r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	reply(w, http.StatusOK, OperationReply{Operation: op})
}

func (h *api) cancel(w http.ResponseWriter, r *http.Request) {
	op, err := h.m.Cancel(r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if op.Done() {
		failWith(w, http.StatusConflict, ErrorBody{Operation: op.ID}, "the operation has ended ("+op.State+")")
		return
	}
	reply(w, http.StatusAccepted, OperationReply{Operation: op})
}

// events streams an operation's engine events as Server-Sent Events: the
// ones so far, then each as it happens, then an "end" event with the
// operation's final record. Last-Event-ID resumes after that event.
func (h *api) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	op, err := h.m.Operation(id)
	if err != nil {
		h.fail(w, err)
		return
	}
	next := 0
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if n, err := strconv.Atoi(last); err == nil && n >= 0 {
			next = n + 1
		}
	}
	changed, stop := h.m.watch(id)
	defer stop()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	write := func(f func(io.Writer)) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		f(w)
		return rc.Flush() == nil
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	// Another process may run the operation: its changes are only seen
	// by reading the store again.
	var poll <-chan time.Time
	if h.m.store.shared() {
		t := time.NewTicker(h.m.cfg.PollInterval / 2)
		defer t.Stop()
		poll = t.C
	}
	for {
		evs, err := h.m.store.events(id, next)
		if err != nil {
			h.log.Error("cannot read events", "operation", id, "error", err)
			return
		}
		for _, e := range evs {
			if !write(func(w io.Writer) { fmt.Fprintf(w, "id: %d\nevent: engine\ndata: %s\n\n", next, e) }) {
				return
			}
			next++
		}
		if op.Done() {
			b, _ := json.Marshal(op)
			write(func(w io.Writer) { fmt.Fprintf(w, "event: end\ndata: %s\n\n", b) })
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-poll:
		case <-heartbeat.C:
			if !write(func(w io.Writer) { io.WriteString(w, ": keep-alive\n\n") }) {
				return
			}
		}
		// Events written before the state changed are read on the next turn.
		if op, err = h.m.Operation(id); err != nil {
			return
		}
	}
}
