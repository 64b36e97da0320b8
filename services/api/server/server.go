package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/api/notify"
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

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
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

// route is one API operation: method and path pattern, the scope it
// needs, and for the OpenAPI document its summary, body and response.
type route struct {
	method, path, scope string
	h                   func(http.ResponseWriter, *http.Request, authtoken.Principal)
	summary             string
	body, resp          any
}

func (s *Server) routes() []route {
	return []route{
		{"GET", "/v1/tokens", authtoken.ScopeAdmin, s.listTokens, "List API tokens (never their secrets)", nil, list[Token]{}},
		{"POST", "/v1/tokens", authtoken.ScopeAdmin, s.createToken, "Issue an API token; the response shows it once", tokenBody{}, issuedToken{}},
		{"DELETE", "/v1/tokens/{id}", authtoken.ScopeAdmin, s.revokeToken, "Revoke an API token", nil, nil},
		{"GET", "/v1/users", authtoken.ScopeAdmin, s.listUsers, "List users", nil, list[User]{}},
		{"POST", "/v1/users", authtoken.ScopeAdmin, s.createUser, "Create a user", userBody{}, User{}},
		{"DELETE", "/v1/users/{id}", authtoken.ScopeAdmin, s.deleteOwned("users"), "Delete a user", nil, nil},
		{"GET", "/v1/feeds", authtoken.ScopeRead, s.listFeeds, "List feeds", nil, list[Feed]{}},
		{"POST", "/v1/feeds", authtoken.ScopeWrite, s.createFeed, "Create a feed", feedBody{}, Feed{}},
		{"DELETE", "/v1/feeds/{id}", authtoken.ScopeWrite, s.deleteOwned("feeds"), "Delete a feed and its ingest tokens", nil, nil},
		{"POST", "/v1/feeds/{id}/ingest-tokens", authtoken.ScopeAdmin, s.createIngestToken, "Issue an ingest token for a feed; shown once", nil, issuedIngestToken{}},
		{"GET", "/v1/rules", authtoken.ScopeRead, s.listRules, "List detection rules", nil, list[Rule]{}},
		{"POST", "/v1/rules", authtoken.ScopeWrite, s.createRule, "Create a detection rule", ruleBody{}, Rule{}},
		{"GET", "/v1/rules/{id}", authtoken.ScopeRead, s.getRule, "Get a detection rule", nil, Rule{}},
		{"PUT", "/v1/rules/{id}", authtoken.ScopeWrite, s.updateRule, "Replace a detection rule (it runs again at once)", ruleBody{}, Rule{}},
		{"DELETE", "/v1/rules/{id}", authtoken.ScopeWrite, s.deleteOwned("detection_rules"), "Delete a detection rule", nil, nil},
		{"GET", "/v1/rules/{id}/runs", authtoken.ScopeRead, s.listRuns, "List the runs of a rule", nil, list[Run]{}},
		{"GET", "/v1/rules/{id}/baseline", authtoken.ScopeRead, s.getBaseline, "The baseline and suggested threshold of a rule", nil, Baseline{}},
		{"GET", "/v1/alerts", authtoken.ScopeRead, s.listAlerts, "List alerts (?status=open|acknowledged|closed)", nil, list[Alert]{}},
		{"PATCH", "/v1/alerts/{id}", authtoken.ScopeWrite, s.updateAlert, "Set the status of an alert (acknowledged or closed ends it in Alertmanager)", alertBody{}, nil},
		{"GET", "/v1/delivery", authtoken.ScopeRead, s.deliveryStatus, "Where alerts go: Alertmanager's receivers and the state of the tenant's alerts there", nil, DeliveryStatus{}},
		{"GET", "/v1/silences", authtoken.ScopeRead, s.listSilences, "List the tenant's silences in Alertmanager", nil, list[Silence]{}},
		{"POST", "/v1/silences", authtoken.ScopeAlerts, s.createSilence, "Silence the tenant's alerts that match (the api adds the tenant's matcher)", silenceBody{}, Silence{}},
		{"DELETE", "/v1/silences/{id}", authtoken.ScopeAlerts, s.expireSilence, "Expire one of the tenant's silences", nil, nil},
		{"GET", "/v1/dashboards", authtoken.ScopeRead, s.listDashboards, "List dashboards", nil, list[Dashboard]{}},
		{"POST", "/v1/dashboards", authtoken.ScopeWrite, s.createDashboard, "Create a dashboard", dashboardBody{}, Dashboard{}},
		{"GET", "/v1/dashboards/{id}", authtoken.ScopeRead, s.getDashboard, "Get a dashboard", nil, Dashboard{}},
		{"PUT", "/v1/dashboards/{id}", authtoken.ScopeWrite, s.updateDashboard, "Replace a dashboard", dashboardBody{}, Dashboard{}},
		{"DELETE", "/v1/dashboards/{id}", authtoken.ScopeWrite, s.deleteOwned("dashboards"), "Delete a dashboard", nil, nil},
		{"GET", "/v1/credentials", authtoken.ScopeAdmin, s.listCredentials, "List credentials (never their secrets)", nil, list[Credential]{}},
		{"POST", "/v1/credentials", authtoken.ScopeAdmin, s.createCredential, "Store a credential, encrypted at rest", credentialBody{}, Credential{}},
		{"DELETE", "/v1/credentials/{id}", authtoken.ScopeAdmin, s.deleteOwned("credentials"), "Delete a credential", nil, nil},
		{"GET", "/v1/enrichments", authtoken.ScopeRead, s.listEnrichments, "List the tenant's and the platform's enrichment datasets, sources redacted", nil, list[Enrichment]{}},
		{"POST", "/v1/enrichments", authtoken.ScopeAdmin, s.createEnrichment, "Add an enrichment dataset (platform: true needs the platform scope)", enrichmentBody{}, Enrichment{}},
		{"PUT", "/v1/enrichments/{id}", authtoken.ScopeAdmin, s.replaceEnrichment, "Replace an enrichment dataset's definition (it loads again)", enrichmentBody{}, Enrichment{}},
		{"DELETE", "/v1/enrichments/{id}", authtoken.ScopeAdmin, s.deleteEnrichment, "Remove an enrichment dataset", nil, nil},
		{"GET", "/v1/scheduler", authtoken.ScopeRead, s.schedulerState, "The leader, epoch and last task runs of the scheduler", nil, map[string]any{}},
	}
}

// Handler routes the API (its public routes and the OpenAPI document,
// nothing operational).
func (s *Server) Handler() http.Handler {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_api_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nano_api_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"route"})
	s.Registry.MustRegister(s.requests, s.latency)
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
		token, ok := authtoken.FromRequest(r)
		if !ok {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano"`)
			fail(sw, http.StatusUnauthorized, "", "an API token is required (Authorization: Bearer <token>)")
			return
		}
		p, err := s.Tokens.Verify(ctx, token)
		switch {
		case errors.Is(err, authtoken.ErrInvalid):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="nano", error="invalid_token"`)
			fail(sw, http.StatusUnauthorized, "", err.Error())
			return
		case err != nil:
			s.Log.Error("cannot verify a token", "error", err)
			fail(sw, http.StatusServiceUnavailable, "", "cannot verify the token now; retry")
			return
		case !p.Can(rt.scope):
			fail(sw, http.StatusForbidden, "", "this token lacks the "+rt.scope+" scope")
			return
		}
		rt.h(sw, r, p)
	})
}

// apiError is every error body; Field names the request field at fault.
type apiError = jsonhttp.ErrorBody

func fail(w http.ResponseWriter, code int, field, msg string) {
	jsonhttp.Fail(w, code, jsonhttp.ErrorDetail{Message: msg, Field: field})
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
		jsonhttp.Fail(w, http.StatusBadRequest, jsonhttp.ErrorDetail{Message: fe.Err.Error(), Field: fe.Field, Column: col})
	case isQuota(err):
		e, _ := quota.As(err)
		jsonhttp.Fail(w, http.StatusConflict, jsonhttp.ErrorDetail{Message: e.Error(), Limit: e.Limit.Key})
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
	out, err := listOf(r.Context(), s.DB, q, tenant, after, limit, id, args...)
	s.respond(w, http.StatusOK, out, err)
}

// listOf pages rows of T (ordered by id ascending, id > after) of one
// tenant; query takes $1 tenant, $2 after, $3 limit.
func listOf[T any](ctx context.Context, db *pgxpool.Pool, q string, tenant string, after int64, limit int, id func(T) int64, args ...any) (list[T], error) {
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
			err = s.execOne(r.Context(), q, p.Tenant, id)
		}
		s.respond(w, http.StatusNoContent, nil, err)
	}
}

func (s *Server) execOne(ctx context.Context, q string, args ...any) error {
	tag, err := s.DB.Exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errNotFound
	}
	return nil
}
