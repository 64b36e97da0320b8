package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/api/notify"
	"github.com/nanosiem/nano/services/api/oidc"
	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/fetchguard"
	"github.com/nanosiem/nano/services/fielderr"
	"github.com/nanosiem/nano/services/httpstatus"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/servicemain"
)

// Server serves the API.
type Server struct {
	DB      *pgxpool.Pool
	Tokens  *authtoken.Verifier
	Sealer  *Sealer
	Log     *slog.Logger
	Version string
	// EnrichmentDir is where file sources of datasets must live.
	EnrichmentDir string
	// FetchGuard checks dataset URLs as they are defined (nil: the
	// production guard); the sync checks them again at every fetch.
	FetchGuard *fetchguard.Guard
	// MaxBodyBytes bounds request bodies; Timeout bounds a request.
	MaxBodyBytes int64
	Timeout      time.Duration
	Registry     *prometheus.Registry
	Ready        func(context.Context) error
	// Leading reports whether this replica runs the scheduler.
	Leading func() bool
	// Alertmanager is where alerts go and silences live (nil: alerts are
	// kept in nano only).
	Alertmanager *notify.Client
	// Limits are the per-tenant quotas (a zero Limit is no limit).
	Limits Limits
	// OIDC is the sign-in through the identity provider (nil: not
	// configured; API tokens only).
	OIDC *oidc.Handler
	// Trusted are the proxies whose X-Forwarded-For names the client in
	// the audit trail (nil: audit.DefaultTrustedProxies).
	Trusted []netip.Prefix
	// Detector evaluates rules as the scheduler does, for rule tests; it
	// answers nil until ClickHouse has answered (rule tests answer 503
	// meanwhile). Nil: rule tests are unavailable.
	Detector func() *detect.Detector

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// ruleTests bounds the rule tests running at once (each is a search
	// over a rule's window, on the scheduler's ClickHouse connections).
	ruleTests chan struct{}
}

// Limits cap what one tenant may create.
type Limits struct {
	// Rules counts every detection rule, SignalRules those that are
	// materialized views (each runs on every insert of every tenant).
	Rules, SignalRules quota.Limit
	// Datasets counts the tenant's enrichment datasets (not the
	// platform's).
	Datasets quota.Limit
}

// route is one API operation: method and path pattern, who may call it
// (scope: a token scope, which a role's scopes hold too; scopeSession:
// anyone signed in; scopePublic: no credential), its audit record (every
// change has one), and for the OpenAPI document its summary, body and
// response.
type route struct {
	method, path, scope string
	h                   func(http.ResponseWriter, *http.Request, authtoken.Principal)
	summary             string
	body, resp          any
	audit               *auditSpec
}

// Who may call a route besides the token scopes.
const (
	scopePublic  = "public"  // no credential: the sign-in flow
	scopeSession = "session" // any signed-in principal
)

func (s *Server) routes() []route {
	pub := func(h http.HandlerFunc) func(http.ResponseWriter, *http.Request, authtoken.Principal) {
		return func(w http.ResponseWriter, r *http.Request, _ authtoken.Principal) { h(w, r) }
	}
	return []route{
		{"GET", oidc.ConfigPath, scopePublic, pub(s.OIDC.ConfigInfo), "Whether single sign-on is configured, and where it starts", nil, map[string]any{}, nil},
		{"GET", oidc.LoginPath, scopePublic, pub(s.OIDC.Login), "Start a sign-in at the identity provider (?tenant= picks one of several)", nil, nil, nil},
		{"GET", oidc.CallbackPath, scopePublic, pub(s.OIDC.Callback), "The identity provider's redirect back: opens a session (cookie)", nil, nil, nil},
		{"POST", oidc.LogoutPath, scopeSession, s.logout, "Sign out: end this browser session", nil, nil, selfAudited},
		{"GET", "/v1/session", scopeSession, s.session, "Who this request speaks for: user or token, tenant, role, scopes (and a session's CSRF token)", nil, SessionInfo{}, nil},
		{"GET", "/v1/sessions", authtoken.ScopeAdmin, s.listSessions, "List the tenant's live browser sessions", nil, list[Session]{}, audited("session.list", "")},
		{"DELETE", "/v1/sessions/{id}", authtoken.ScopeAdmin, s.revokeSession, "Revoke a browser session", nil, nil, audited("session.revoke", "session")},
		{"GET", "/v1/audit", authtoken.ScopeAdmin, s.listAudit, "The audit trail, newest first (filters: actor, actor_kind, action, object_type, object_id, outcome, since, until)", nil, list[audit.Entry]{}, audited("audit.list", "")},
		{"GET", "/v1/tokens", authtoken.ScopeAdmin, s.listTokens, "List API tokens (never their secrets)", nil, list[Token]{}, audited("token.list", "")},
		{"POST", "/v1/tokens", authtoken.ScopeAdmin, s.createToken, "Issue an API token; the response shows it once", tokenBody{}, issuedToken{}, created("token.create", "token")},
		{"DELETE", "/v1/tokens/{id}", authtoken.ScopeAdmin, s.revokeToken, "Revoke an API token", nil, nil, audited("token.revoke", "token")},
		{"GET", "/v1/users", authtoken.ScopeAdmin, s.listUsers, "List users", nil, list[User]{}, audited("user.list", "")},
		{"POST", "/v1/users", authtoken.ScopeAdmin, s.createUser, "Create a user", userBody{}, User{}, created("user.create", "user")},
		{"PATCH", "/v1/users/{id}", authtoken.ScopeAdmin, s.updateUser, "Disable or enable a user (disabling ends its sessions)", userPatch{}, User{}, audited("user.update", "user")},
		{"DELETE", "/v1/users/{id}", authtoken.ScopeAdmin, s.deleteOwned("users"), "Delete a user (and its sessions)", nil, nil, audited("user.delete", "user")},
		{"GET", "/v1/feeds", authtoken.ScopeRead, s.listFeeds, "List feeds", nil, list[Feed]{}, nil},
		{"POST", "/v1/feeds", authtoken.ScopeAdmin, s.createFeed, "Create a feed", feedBody{}, Feed{}, created("feed.create", "feed")},
		{"DELETE", "/v1/feeds/{id}", authtoken.ScopeAdmin, s.deleteOwned("feeds"), "Delete a feed and its ingest tokens", nil, nil, audited("feed.delete", "feed")},
		{"POST", "/v1/feeds/{id}/ingest-tokens", authtoken.ScopeAdmin, s.createIngestToken, "Issue an ingest token for a feed; shown once", nil, issuedIngestToken{}, created("ingest_token.create", "ingest_token")},
		{"GET", "/v1/rules", authtoken.ScopeRead, s.listRules, "List detection rules", nil, list[Rule]{}, nil},
		{"POST", "/v1/rules", authtoken.ScopeWrite, s.createRule, "Create a detection rule", ruleBody{}, Rule{}, created("rule.create", "rule")},
		{"GET", "/v1/rules/{id}", authtoken.ScopeRead, s.getRule, "Get a detection rule", nil, Rule{}, nil},
		{"PUT", "/v1/rules/{id}", authtoken.ScopeWrite, s.updateRule, "Replace a detection rule (it runs again at once)", ruleBody{}, Rule{}, audited("rule.update", "rule")},
		{"DELETE", "/v1/rules/{id}", authtoken.ScopeWrite, s.deleteOwned("detection_rules"), "Delete a detection rule", nil, nil, audited("rule.delete", "rule")},
		{"POST", "/v1/rules/test", authtoken.ScopeWrite, s.testDraftRule, "Test a draft rule: what a run would decide now, per group (nothing is recorded or sent)", ruleBody{}, RuleTest{}, computes},
		{"POST", "/v1/rules/{id}/test", authtoken.ScopeWrite, s.testSavedRule, "Test a saved rule: what a run would decide now, per group (nothing is recorded or sent)", nil, RuleTest{}, computes},
		{"GET", "/v1/rules/{id}/runs", authtoken.ScopeRead, s.listRuns, "List the runs of a rule", nil, list[Run]{}, nil},
		{"GET", "/v1/rules/{id}/baseline", authtoken.ScopeRead, s.getBaseline, "The baseline and suggested threshold of a rule", nil, Baseline{}, nil},
		{"GET", "/v1/alerts", authtoken.ScopeRead, s.listAlerts, "List alerts (?status=open|acknowledged|closed)", nil, list[Alert]{}, nil},
		{"PATCH", "/v1/alerts/{id}", authtoken.ScopeWrite, s.updateAlert, "Set the status of an alert (acknowledged or closed ends it in Alertmanager)", alertBody{}, nil, audited("alert.update", "alert")},
		{"GET", "/v1/delivery", authtoken.ScopeRead, s.deliveryStatus, "Where alerts go: Alertmanager's receivers and the state of the tenant's alerts there", nil, DeliveryStatus{}, nil},
		{"GET", "/v1/silences", authtoken.ScopeRead, s.listSilences, "List the tenant's silences in Alertmanager", nil, list[Silence]{}, nil},
		{"POST", "/v1/silences", authtoken.ScopeAlerts, s.createSilence, "Silence the tenant's alerts that match (the api adds the tenant's matcher)", silenceBody{}, Silence{}, audited("silence.create", "silence")},
		{"DELETE", "/v1/silences/{id}", authtoken.ScopeAlerts, s.expireSilence, "Expire one of the tenant's silences", nil, nil, audited("silence.expire", "silence")},
		{"GET", "/v1/dashboards", authtoken.ScopeRead, s.listDashboards, "List dashboards", nil, list[Dashboard]{}, nil},
		{"POST", "/v1/dashboards", authtoken.ScopeWrite, s.createDashboard, "Create a dashboard", dashboardBody{}, Dashboard{}, created("dashboard.create", "dashboard")},
		{"GET", "/v1/dashboards/{id}", authtoken.ScopeRead, s.getDashboard, "Get a dashboard", nil, Dashboard{}, nil},
		{"PUT", "/v1/dashboards/{id}", authtoken.ScopeWrite, s.updateDashboard, "Replace a dashboard", dashboardBody{}, Dashboard{}, audited("dashboard.update", "dashboard")},
		{"DELETE", "/v1/dashboards/{id}", authtoken.ScopeWrite, s.deleteOwned("dashboards"), "Delete a dashboard", nil, nil, audited("dashboard.delete", "dashboard")},
		{"GET", "/v1/credentials", authtoken.ScopeAdmin, s.listCredentials, "List credentials (never their secrets)", nil, list[Credential]{}, audited("credential.list", "")},
		{"POST", "/v1/credentials", authtoken.ScopeAdmin, s.createCredential, "Store a credential, encrypted at rest", credentialBody{}, Credential{}, created("credential.create", "credential")},
		{"DELETE", "/v1/credentials/{id}", authtoken.ScopeAdmin, s.deleteOwned("credentials"), "Delete a credential", nil, nil, audited("credential.delete", "credential")},
		{"GET", "/v1/enrichments", authtoken.ScopeRead, s.listEnrichments, "List the tenant's and the platform's enrichment datasets, sources redacted", nil, list[Enrichment]{}, nil},
		{"POST", "/v1/enrichments", authtoken.ScopeAdmin, s.createEnrichment, "Add an enrichment dataset (platform: true needs the platform scope)", enrichmentBody{}, Enrichment{}, created("enrichment.create", "enrichment")},
		{"PUT", "/v1/enrichments/{id}", authtoken.ScopeAdmin, s.replaceEnrichment, "Replace an enrichment dataset's definition (it loads again)", enrichmentBody{}, Enrichment{}, audited("enrichment.update", "enrichment")},
		{"DELETE", "/v1/enrichments/{id}", authtoken.ScopeAdmin, s.deleteEnrichment, "Remove an enrichment dataset", nil, nil, audited("enrichment.delete", "enrichment")},
		{"GET", "/v1/scheduler", authtoken.ScopeRead, s.schedulerState, "The leader, epoch and last task runs of the scheduler", nil, map[string]any{}, nil},
	}
}

// Handler routes the API (its public routes and the OpenAPI document,
// nothing operational).
func (s *Server) Handler() http.Handler {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_api_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nano_api_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"route"})
	s.Registry.MustRegister(s.requests, s.latency)
	s.ruleTests = make(chan struct{}, maxRuleTests)
	mux := http.NewServeMux()
	for _, r := range s.routes() {
		mux.Handle(r.method+" "+r.path, s.authenticated(r))
	}
	doc, err := json.Marshal(s.OpenAPI())
	if err != nil {
		panic("api: the OpenAPI document does not encode: " + err.Error())
	}
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	return mux
}

// Internal is the API and the operational endpoints (metrics, health,
// readiness, version): what the deployment's own network reaches at the
// service's unprefixed paths; the Internet reaches Handler alone
// (servicemain.Prefixed).
func (s *Server) Internal(api http.Handler) http.Handler {
	return servicemain.WithOps(api, s.Registry, s.Ready, s.Version)
}

// NewHTTPServer bounds headers and time.
func NewHTTPServer(addr string, h http.Handler, timeout time.Duration) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: timeout + 10*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

func (s *Server) authenticated(rt route) http.Handler {
	name := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpstatus.Wrap(w)
		defer func() {
			s.requests.WithLabelValues(name, strconv.Itoa(sw.Code())).Inc()
			s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		ctx, cancel := context.WithTimeout(r.Context(), s.Timeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(sw, r.Body, s.MaxBodyBytes)
		if rt.scope == scopePublic {
			rt.h(sw, r, authtoken.Principal{})
			return
		}
		p, err := s.Tokens.Authenticate(r)
		switch {
		case errors.Is(err, authtoken.ErrNoCredential):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano"`)
			fail(sw, http.StatusUnauthorized, "", err.Error())
			return
		case errors.Is(err, authtoken.ErrInvalid):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano", error="invalid_token"`)
			fail(sw, http.StatusUnauthorized, "", "invalid, revoked or expired token or session")
			return
		case errors.Is(err, authtoken.ErrCSRF):
			fail(sw, http.StatusForbidden, "", err.Error())
			return
		case err != nil:
			s.Log.Error("cannot verify a credential", "error", err)
			fail(sw, http.StatusServiceUnavailable, "", "cannot verify the credential now; retry")
			return
		case rt.scope != scopeSession && !p.Can(rt.scope):
			s.denied(r, rt, p)
			if p.SessionID != 0 {
				fail(sw, http.StatusForbidden, "", "the "+p.Role+" role may not do this (it needs the "+rt.scope+" scope)")
			} else {
				fail(sw, http.StatusForbidden, "", "this token lacks the "+rt.scope+" scope")
			}
			return
		}
		if rt.audit.isChange() {
			s.change(sw, r, rt, p)
			return
		}
		rt.h(sw, r, p)
	})
}

// dbtx is what handlers run statements on: the pool, or the transaction
// of an audited change (db).
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

type txKey struct{}

// db is the request's transaction when its change is audited (the change
// and its audit entry commit together), else the pool.
func (s *Server) db(r *http.Request) dbtx {
	if tx, ok := r.Context().Value(txKey{}).(pgx.Tx); ok {
		return tx
	}
	return s.DB
}

// apiError is every error body (docs/reference/errors.md): its problems,
// each naming the request field at fault when there is one.
type apiError = jsonhttp.Envelope

func fail(w http.ResponseWriter, code int, field, msg string) {
	jsonhttp.Fail(w, code, jsonhttp.Problem{Message: msg, Field: field})
}

// bad is a validation failure of one field.
func bad(field, format string, args ...any) error {
	return fielderr.New(field, format, args...)
}

// respond maps an operation's error to a response; nil replies v.
func (s *Server) respond(w http.ResponseWriter, code int, v any, err error) {
	var fe *fielderr.Error
	var pe *pgconn.PgError
	switch {
	case err == nil:
		if v == nil {
			w.WriteHeader(code)
			return
		}
		jsonhttp.Reply(w, code, v)
	case errors.As(err, &fe):
		// A query that does not parse also says where (as search does).
		var qe *query.Error
		col := 0
		if errors.As(fe.Err, &qe) {
			col = qe.Col
		}
		jsonhttp.Fail(w, http.StatusBadRequest, jsonhttp.Problem{Message: fe.Err.Error(), Field: fe.Field, Column: col})
	case isQuota(err):
		e, _ := quota.As(err)
		jsonhttp.Fail(w, http.StatusConflict, jsonhttp.Problem{Message: e.Error(), Limit: e.Limit.Key})
	case errors.Is(err, errPlatformScope):
		fail(w, http.StatusForbidden, "", err.Error())
	case errors.Is(err, pgx.ErrNoRows) || errors.Is(err, errNotFound):
		fail(w, http.StatusNotFound, "", "not found")
	case errors.As(err, &pe) && pe.Code == "23505":
		fail(w, http.StatusConflict, "name", "the name is taken")
	case errors.As(err, &pe) && pe.Code == "23503":
		fail(w, http.StatusBadRequest, "", "it refers to something that does not exist")
	default:
		s.Log.Error("api", "error", err)
		fail(w, http.StatusServiceUnavailable, "", "the metadata database cannot answer now; retry")
	}
}

var errNotFound = errors.New("not found")

func isQuota(err error) bool { _, ok := quota.As(err); return ok }

// pathID reads the {id} path value.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, bad("id", "a positive whole number")
	}
	return id, nil
}

// page reads ?limit= (1-500, default 50) and ?cursor= (an id).
func page(r *http.Request) (limit int, after int64, err error) {
	limit = 50
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, bad("limit", "from 1 to 500")
		}
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return 0, 0, bad("cursor", "the next_cursor of the previous page")
		}
	}
	return limit, after, nil
}

// list is a page of items.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// serveList answers a list request: it reads ?limit= and ?cursor= (see
// page) and replies one page of rows of T, ordered by id ascending after the
// cursor. q takes $1 the tenant, $2 the cursor, $3 the limit, then args.
func serveList[T any](s *Server, w http.ResponseWriter, r *http.Request, tenant, q string, id func(T) int64, args ...any) {
	limit, after, err := page(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	out, err := listOf(r.Context(), s.db(r), q, tenant, after, limit, id, args...)
	s.respond(w, http.StatusOK, out, err)
}

// listOf pages rows of T (ordered by id ascending, id > after) of one
// tenant; query takes $1 tenant, $2 after, $3 limit.
func listOf[T any](ctx context.Context, db dbtx, q string, tenant string, after int64, limit int, id func(T) int64, args ...any) (list[T], error) {
	rows, err := db.Query(ctx, q, append([]any{tenant, after, limit}, args...)...)
	if err != nil {
		return list[T]{}, err
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByNameLax[T])
	if err != nil {
		return list[T]{}, err
	}
	out := list[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) == limit {
		out.NextCursor = strconv.FormatInt(id(items[len(items)-1]), 10)
	}
	return out, nil
}

// exec runs a statement that must touch one row of the tenant.
// deleteOwned deletes the tenant's row of table named by the path's {id}
// (404 when the tenant has none).
func (s *Server) deleteOwned(table string) func(http.ResponseWriter, *http.Request, authtoken.Principal) {
	q := `DELETE FROM ` + table + ` WHERE tenant = $1 AND id = $2`
	return func(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
		id, err := pathID(r)
		if err == nil {
			err = s.execOne(r, q, p.Tenant, id)
		}
		s.respond(w, http.StatusNoContent, nil, err)
	}
}

func (s *Server) execOne(r *http.Request, q string, args ...any) error {
	tag, err := s.db(r).Exec(r.Context(), q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errNotFound
	}
	return nil
}
