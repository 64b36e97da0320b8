package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/httpstatus"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/history"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/servicemain"
)

// Config bounds requests.
type Config struct {
	// Table is the events table ("nano.events").
	Table string
	// DefaultRange is the time range of a search that names none.
	DefaultRange time.Duration
	// DefaultPageRows and MaxPageRows size result pages.
	DefaultPageRows, MaxPageRows int
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64
	// Timeout bounds one request, waiting for a slot included.
	Timeout time.Duration
	Version string
}

// Server serves the API.
type Server struct {
	Config    Config
	Runner    *runner.Runner
	Store     *history.Store
	Tokens    *authtoken.Verifier
	Admission *admission.Controller
	Metrics   *Metrics
	Log       *slog.Logger
	// Ready reports whether the service's dependencies answer.
	Ready func(context.Context) error
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, name string, h func(http.ResponseWriter, *http.Request, authtoken.Principal)) {
		mux.Handle(pattern, s.authenticated(name, h))
	}
	route("POST /v1/search", "search", s.search)
	route("POST /v1/histogram", "histogram", s.histogram)
	route("GET /v1/history", "history", s.history)
	route("GET /v1/saved-searches", "saved_list", s.savedList)
	route("POST /v1/saved-searches", "saved_create", s.savedCreate)
	route("GET /v1/saved-searches/{id}", "saved_get", s.savedGet)
	route("PUT /v1/saved-searches/{id}", "saved_update", s.savedUpdate)
	route("DELETE /v1/saved-searches/{id}", "saved_delete", s.savedDelete)
	return mux
}

// Internal is the API and the operational endpoints (metrics, health,
// readiness, version): what the deployment's own network reaches at the
// service's unprefixed paths; the Internet reaches Handler alone
// (servicemain.Prefixed).
func (s *Server) Internal(api http.Handler) http.Handler {
	return servicemain.WithOps(api, s.Metrics.Registry, s.Ready, s.Config.Version)
}

// NewHTTPServer wraps h with the service's header and time bounds.
func NewHTTPServer(addr string, h http.Handler, c Config) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		// Results stream for as long as a search may run, plus sending.
		WriteTimeout: c.Timeout + time.Minute, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
}

// authenticated bounds the request, verifies its token (scope search) and
// counts it.
func (s *Server) authenticated(name string, h func(http.ResponseWriter, *http.Request, authtoken.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := httpstatus.Wrap(w)
		defer func() { s.Metrics.Requests.WithLabelValues(name, strconv.Itoa(sw.Code())).Inc() }()
		ctx, cancel := context.WithTimeout(r.Context(), s.Config.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(sw, r.Body, s.Config.MaxBodyBytes)
		token, ok := authtoken.FromRequest(r)
		if !ok {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano"`)
			writeError(sw, http.StatusUnauthorized, "an API token is required (Authorization: Bearer <token>)", 0)
			return
		}
		p, err := s.Tokens.Verify(ctx, token)
		switch {
		case errors.Is(err, authtoken.ErrInvalid):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano", error="invalid_token"`)
			writeError(sw, http.StatusUnauthorized, err.Error(), 0)
			return
		case err != nil:
			s.Log.Error("cannot verify a token", "err", err)
			writeError(sw, http.StatusServiceUnavailable, "cannot verify the token now; retry", 0)
			return
		case !p.Can(authtoken.ScopeSearch):
			writeError(sw, http.StatusForbidden, "this token lacks the search scope", 0)
			return
		}
		h(sw, r, p)
	})
}

func writeError(w http.ResponseWriter, code int, msg string, col int) {
	jsonhttp.Fail(w, code, jsonhttp.ErrorDetail{Message: msg, Column: col})
}
