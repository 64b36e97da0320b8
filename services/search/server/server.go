package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/nanosiem/nano/services/audit"
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
	// Trusted are the proxies whose X-Forwarded-For names the client in
	// the audit trail (nil: audit.DefaultTrustedProxies).
	Trusted []netip.Prefix
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
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.authenticated(rt))
	}
	return mux
}

// route is one operation: who may call it (a token scope, which a
// person's role holds too) and, for a change, its audit action.
type route struct {
	pattern, name, scope string
	h                    func(http.ResponseWriter, *http.Request, authtoken.Principal)
	audit                string
}

// routes: searching needs the search scope (every role); keeping saved
// searches the write scope (analyst and admin).
func (s *Server) routes() []route {
	return []route{
		{"POST /v1/search", "search", authtoken.ScopeSearch, s.search, ""},
		{"POST /v1/histogram", "histogram", authtoken.ScopeSearch, s.histogram, ""},
		{"GET /v1/history", "history", authtoken.ScopeSearch, s.history, ""},
		{"GET /v1/saved-searches", "saved_list", authtoken.ScopeSearch, s.savedList, ""},
		{"POST /v1/saved-searches", "saved_create", authtoken.ScopeWrite, s.savedCreate, "saved_search.create"},
		{"GET /v1/saved-searches/{id}", "saved_get", authtoken.ScopeSearch, s.savedGet, ""},
		{"PUT /v1/saved-searches/{id}", "saved_update", authtoken.ScopeWrite, s.savedUpdate, "saved_search.update"},
		{"DELETE /v1/saved-searches/{id}", "saved_delete", authtoken.ScopeWrite, s.savedDelete, "saved_search.delete"},
	}
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

// authenticated bounds the request, verifies its token or session (a
// session's changes carry its CSRF token), checks the route's scope and
// counts it; a change runs audited.
func (s *Server) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := httpstatus.Wrap(w)
		defer func() { s.Metrics.Requests.WithLabelValues(rt.name, strconv.Itoa(sw.Code())).Inc() }()
		ctx, cancel := context.WithTimeout(r.Context(), s.Config.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(sw, r.Body, s.Config.MaxBodyBytes)
		p, err := s.Tokens.Authenticate(r)
		switch {
		case errors.Is(err, authtoken.ErrNoCredential):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano"`)
			writeError(sw, http.StatusUnauthorized, err.Error())
			return
		case errors.Is(err, authtoken.ErrInvalid):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano", error="invalid_token"`)
			writeError(sw, http.StatusUnauthorized, "invalid, revoked or expired token or session")
			return
		case errors.Is(err, authtoken.ErrCSRF):
			writeError(sw, http.StatusForbidden, err.Error())
			return
		case err != nil:
			s.Log.Error("cannot verify a credential", "err", err)
			writeError(sw, http.StatusServiceUnavailable, "cannot verify the credential now; retry")
			return
		case !p.Can(rt.scope):
			if rt.audit != "" {
				s.record(r, rt, p, audit.Denied, http.StatusForbidden, nil, nil, "needs the "+rt.scope+" scope")
			}
			if p.SessionID != 0 {
				writeError(sw, http.StatusForbidden, "the "+p.Role+" role may not do this (it needs the "+rt.scope+" scope)")
			} else {
				writeError(sw, http.StatusForbidden, "this token lacks the "+rt.scope+" scope")
			}
			return
		}
		if rt.audit != "" {
			s.change(sw, r, rt, p)
			return
		}
		rt.h(sw, r, p)
	})
}

// writeError answers a problem no single field is at fault for.
func writeError(w http.ResponseWriter, code int, msg string) {
	jsonhttp.Fail(w, code, jsonhttp.Problem{Message: msg})
}

// fieldError answers a problem with one request field (or query
// parameter).
func fieldError(w http.ResponseWriter, code int, field, msg string) {
	jsonhttp.Fail(w, code, jsonhttp.Problem{Field: field, Message: msg})
}
