package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
)

// Paths of the flow under the api's prefix.
const (
	ConfigPath   = "/v1/auth/config"
	LoginPath    = "/v1/auth/login"
	CallbackPath = "/v1/auth/callback"
	LogoutPath   = "/v1/auth/logout"
	// loginCookie binds a sign-in to the browser that started it.
	loginCookie = "__Host-nano_login"
	// loginTTL bounds a sign-in at the provider.
	loginTTL = 10 * time.Minute
	// maxPending bounds the sign-ins in progress (each is a row).
	maxPending = 10000
)

// Handler serves the sign-in flow.
type Handler struct {
	Config Config
	DB     *pgxpool.Pool
	Log    *slog.Logger
	// Trusted are the proxies whose X-Forwarded-For names the client.
	Trusted []netip.Prefix
	// Client reaches the provider (nil: one with a 10 s timeout).
	Client *http.Client
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time

	failures *audit.Limiter
	signins  *prometheus.CounterVec

	mu       sync.Mutex
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	oauth    *oauth2.Config
	tried    time.Time
}

// Register adds the handler's metrics (sign-ins by outcome and reason).
func (h *Handler) Register(reg *prometheus.Registry) {
	h.signins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_api_signins_total",
		Help: "Sign-ins through the identity provider by outcome and reason (failed sign-ins beyond the audit limit are counted here only)."},
		[]string{"outcome", "reason"})
	reg.MustRegister(h.signins)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// setup discovers the provider once (again at most every 10 s while it
// fails, so a provider that is down does not stop the api from starting).
func (h *Handler) setup(ctx context.Context) (*oauth2.Config, *gooidc.IDTokenVerifier, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.provider != nil {
		return h.oauth, h.verifier, nil
	}
	if time.Since(h.tried) < 10*time.Second {
		return nil, nil, errors.New("the identity provider could not be reached a moment ago")
	}
	h.tried = time.Now()
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// The provider's key set lives as long as the process: it fetches the
	// keys again when a token names a key it does not know (rotation).
	pctx := gooidc.ClientContext(context.Background(), client)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := gooidc.NewProvider(gooidc.ClientContext(dctx, client), h.Config.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot discover the identity provider %s: %w", h.Config.Issuer, err)
	}
	// Only asymmetric algorithms (go-oidc refuses none and HMAC anyway;
	// this says so), expiry with the bounded skew.
	skew := h.Config.ClockSkew
	h.verifier = p.VerifierContext(pctx, &gooidc.Config{ClientID: h.Config.ClientID,
		SupportedSigningAlgs: []string{gooidc.RS256, gooidc.RS384, gooidc.RS512, gooidc.ES256, gooidc.ES384, gooidc.ES512, gooidc.PS256, gooidc.PS384, gooidc.PS512, gooidc.EdDSA},
		Now:                  func() time.Time { return h.now().Add(-skew) }})
	h.oauth = &oauth2.Config{ClientID: h.Config.ClientID, ClientSecret: h.Config.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: h.Config.RedirectURL,
		Scopes: append([]string{gooidc.ScopeOpenID, "email", "profile"}, h.Config.Scopes...)}
	h.provider = p
	return h.oauth, h.verifier, nil
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// ConfigInfo answers whether single sign-on is on (the sign-in page asks).
func (h *Handler) ConfigInfo(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{"oidc": false}
	if h != nil {
		u, _ := url.Parse(h.Config.Issuer)
		out = map[string]any{"oidc": true, "provider": u.Host, "login_url": "/api" + LoginPath}
	}
	jsonhttp.Reply(w, http.StatusOK, out)
}

// Login starts a sign-in: it stores the state, nonce and PKCE verifier,
// binds them to this browser and sends it to the provider. ?tenant=
// picks the tenant when the user's groups give roles in several.
func (h *Handler) Login(w http.ResponseWriter, r *http.Request) {
	if h == nil {
		jsonhttp.Fail(w, http.StatusNotFound, jsonhttp.Problem{Message: "single sign-on is not configured: sign in with an API token"})
		return
	}
	tenant := r.URL.Query().Get("tenant")
	if tenant != "" && !reTenant.MatchString(tenant) {
		jsonhttp.Fail(w, http.StatusBadRequest, jsonhttp.Problem{Message: "not a tenant id", Field: "tenant"})
		return
	}
	oc, _, err := h.setup(r.Context())
	if err != nil {
		h.Log.Warn("sign-in unavailable", "error", err)
		jsonhttp.Fail(w, http.StatusServiceUnavailable, jsonhttp.Problem{Message: "the identity provider cannot be reached now; retry, or sign in with an API token"})
		return
	}
	state, nonce, binding, verifier := random(), random(), random(), oauth2.GenerateVerifier()
	err = pgx.BeginFunc(r.Context(), h.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), `DELETE FROM login_states WHERE expires_at < now()`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(r.Context(), `SELECT count(*) FROM login_states`).Scan(&n); err != nil {
			return err
		}
		if n >= maxPending {
			return errBusy
		}
		_, err := tx.Exec(r.Context(), `INSERT INTO login_states (state_hash, binding_hash, nonce, verifier, tenant, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`, hash(state), hash(binding), nonce, verifier, tenant, loginTTL.Seconds())
		return err
	})
	if err != nil {
		if !errors.Is(err, errBusy) {
			h.Log.Error("cannot store a sign-in", "error", err)
		}
		jsonhttp.Fail(w, http.StatusServiceUnavailable, jsonhttp.Problem{Message: "cannot start a sign-in now; retry"})
		return
	}
	// Lax: the provider sends the browser back with a top-level GET from
	// its own site, which Strict would strip the cookie from.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: binding, Path: "/", MaxAge: int(loginTTL.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, oc.AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

var errBusy = errors.New("too many sign-ins in progress")

// failure is a refused sign-in: a short reason (for the UI and metrics)
// and what happened (for the audit trail and the log, never a secret).
type failure struct {
	reason, detail, tenant, actor string
}

func (f *failure) Error() string { return f.reason + ": " + f.detail }

func fail(reason, format string, args ...any) *failure {
	return &failure{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// Callback finishes a sign-in: the state must be one this api issued, not
// used before, unexpired, started by this browser; the code is exchanged
// with the PKCE verifier, the ID token verified (signature with the
// provider's keys, issuer, audience, expiry, nonce, issued-at within the
// skew), the groups mapped to a role, the user created or updated, and a
// session opened.
func (h *Handler) Callback(w http.ResponseWriter, r *http.Request) {
	if h == nil {
		jsonhttp.Fail(w, http.StatusNotFound, jsonhttp.Problem{Message: "single sign-on is not configured"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	// The binding cookie has done its work either way.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	ip, ua := audit.ClientIP(r, h.Trusted), r.UserAgent()
	secret, expires, err := h.finish(r, ip, ua)
	if err != nil {
		var f *failure
		if !errors.As(err, &f) {
			h.Log.Error("sign-in", "error", err)
			f = &failure{reason: "unavailable", detail: "the metadata database cannot answer now"}
		}
		h.count(audit.Failed, f.reason)
		h.Log.Info("sign-in refused", "reason", f.reason, "detail", f.detail, "ip", ip)
		if h.failures == nil {
			h.mu.Lock()
			if h.failures == nil {
				h.failures = &audit.Limiter{PerClient: 20, Total: 600}
			}
			h.mu.Unlock()
		}
		if h.failures.Allow(ip, h.now()) {
			e := audit.Entry{Service: "api", Tenant: f.tenant, ActorKind: audit.ActorAnonymous, Actor: f.actor, Action: "signin.failed",
				Route: "GET /v1/auth/callback", Outcome: audit.Failed, Status: http.StatusFound, Detail: f.reason + ": " + f.detail, IP: ip, UserAgent: ua}
			if err := audit.Record(r.Context(), h.DB, e); err != nil {
				h.Log.Error("cannot record a failed sign-in", "error", err)
			}
		}
		// The reason only (no detail) in the fragment: it reaches the UI,
		// never a server's log.
		http.Redirect(w, r, "/#/signin?error="+url.QueryEscape(f.reason), http.StatusFound)
		return
	}
	h.count(audit.OK, "")
	http.SetCookie(w, &http.Cookie{Name: authtoken.SessionCookie, Value: secret, Path: "/", Expires: expires, MaxAge: int(expires.Sub(h.now()).Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusFound)
}

func (h *Handler) count(outcome, reason string) {
	if h.signins != nil {
		h.signins.WithLabelValues(outcome, reason).Inc()
	}
}

// finish runs the callback's checks and opens the session: its secret
// and expiry.
func (h *Handler) finish(r *http.Request, ip, ua string) (string, time.Time, error) {
	ctx := r.Context()
	q := r.URL.Query()
	nonce, verifier, tenantHint, err := h.takeState(r)
	if err != nil {
		return "", time.Time{}, err
	}
	if e := q.Get("error"); e != "" {
		return "", time.Time{}, fail("provider", "the identity provider answered %s: %s", clip(e, 100), clip(q.Get("error_description"), 300))
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return "", time.Time{}, fail("code", "the callback has no authorization code")
	}
	id, err := h.exchange(ctx, code, verifier, nonce)
	if err != nil {
		return "", time.Time{}, err
	}
	tenant, role, err := h.tenantRole(id, tenantHint)
	if err != nil {
		return "", time.Time{}, err
	}
	secret, sessionExpires, err := h.startSession(ctx, tenant, role, id, ip, ua)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			f.actor, f.tenant = id.Label, tenant
		}
		return "", time.Time{}, err
	}
	return secret, sessionExpires, nil
}

// takeState consumes the callback's sign-in state (once: a replayed
// callback finds none), checks that this browser started it and in time,
// and returns its nonce, PKCE verifier and tenant hint.
func (h *Handler) takeState(r *http.Request) (nonce, verifier, tenantHint string, err error) {
	state := r.URL.Query().Get("state")
	if state == "" || len(state) > 512 {
		return "", "", "", fail("state", "the callback has no state")
	}
	var bindingHash []byte
	var expires time.Time
	err = h.DB.QueryRow(r.Context(), `DELETE FROM login_states WHERE state_hash = $1 RETURNING binding_hash, nonce, verifier, tenant, expires_at`,
		hash(state)).Scan(&bindingHash, &nonce, &verifier, &tenantHint, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", "", fail("state", "unknown or already used sign-in state (a replayed or forged callback)")
	}
	if err != nil {
		return "", "", "", err
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare(hash(c.Value), bindingHash) != 1 {
		return "", "", "", fail("browser", "the sign-in was started in another browser (no or another binding cookie)")
	}
	if !h.now().Before(expires) {
		return "", "", "", fail("expired", "the sign-in took longer than %s", loginTTL)
	}
	return nonce, verifier, tenantHint, nil
}

// exchange trades the authorization code (with the PKCE verifier) for the
// provider's tokens and verifies the ID token against nonce.
func (h *Handler) exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	oc, _, err := h.setup(ctx)
	if err != nil {
		return nil, fail("provider", "%v", err)
	}
	xctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	tok, err := oc.Exchange(context.WithValue(xctx, oauth2.HTTPClient, client), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fail("exchange", "the provider refused the code: %s", clip(err.Error(), 300))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fail("token", "the provider sent no ID token")
	}
	id, err := h.VerifyIDToken(ctx, raw, nonce)
	if err != nil {
		return nil, fail("token", "%v", err)
	}
	return id, nil
}

// tenantRole is the tenant the user signs into (the hinted one, else the
// first of theirs by name) and their role there, from their groups.
func (h *Handler) tenantRole(id *Identity, tenantHint string) (string, string, error) {
	roles := rolesOf(h.Config.Roles, id.Groups)
	if len(roles) == 0 {
		f := fail("no_role", "none of the user's %d groups maps to a role (claim %s)", len(id.Groups), h.Config.GroupsClaim)
		f.actor, f.tenant = id.Label, tenantHint
		return "", "", f
	}
	tenant := tenantHint
	if _, ok := roles[tenant]; !ok {
		if tenant != "" {
			f := fail("no_role", "the user has no role in tenant %s", tenant)
			f.actor, f.tenant = id.Label, tenant
			return "", "", f
		}
		tenants := make([]string, 0, len(roles))
		for t := range roles {
			tenants = append(tenants, t)
		}
		sort.Strings(tenants)
		tenant = tenants[0]
	}
	return tenant, roles[tenant], nil
}

// startSession records the user (created at the first sign-in) and a new
// session in one transaction with its audit entry; it returns the
// session's secret and expiry.
func (h *Handler) startSession(ctx context.Context, tenant, role string, id *Identity, ip, ua string) (string, time.Time, error) {
	var secret string
	var sessionExpires time.Time
	err := pgx.BeginFunc(ctx, h.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING`, tenant); err != nil {
			return err
		}
		userID, err := h.upsertUser(ctx, tx, tenant, role, id)
		if err != nil {
			return err
		}
		var sid int64
		secret, sid, sessionExpires, err = authtoken.NewSession(ctx, tx, tenant, userID, role,
			authtoken.SessionOptions{TTL: h.Config.SessionTTL, Idle: h.Config.SessionIdle, IP: ip, UserAgent: ua})
		if err != nil {
			return err
		}
		p := authtoken.Principal{SessionID: sid, Tenant: tenant, UserID: &userID, Email: id.Label, Name: id.Name, Role: role}
		after, _ := json.Marshal(map[string]any{"role": role, "groups_matched": matched(h.Config.Roles, id.Groups, tenant), "expires_at": sessionExpires})
		return audit.Record(ctx, tx, audit.Entry{Service: "api", Action: "signin", Route: "GET /v1/auth/callback", ObjectType: "session",
			ObjectID: fmt.Sprint(sid), Outcome: audit.OK, Status: http.StatusFound, After: after, IP: ip, UserAgent: ua}.By(p))
	})
	return secret, sessionExpires, err
}

// matched are the user's groups that gave its role in tenant.
func matched(m []Mapping, groups []string, tenant string) []string {
	var out []string
	for _, x := range m {
		if x.Tenant == tenant && slices.Contains(groups, x.Group) && !slices.Contains(out, x.Group) {
			out = append(out, x.Group)
		}
	}
	return out
}

// upsertUser finds the user by the provider's subject (creating it on its
// first sign-in, or adopting a user an admin created with the same
// verified email), refuses a disabled one, and records this sign-in's
// role, email and name.
func (h *Handler) upsertUser(ctx context.Context, tx pgx.Tx, tenant, role string, id *Identity) (int64, error) {
	var userID int64
	var disabled *time.Time
	err := tx.QueryRow(ctx, `SELECT id, disabled_at FROM users WHERE tenant = $1 AND oidc_issuer = $2 AND oidc_subject = $3 FOR UPDATE`,
		tenant, id.Issuer, id.Subject).Scan(&userID, &disabled)
	if errors.Is(err, pgx.ErrNoRows) && id.EmailVerified {
		err = tx.QueryRow(ctx, `SELECT id, disabled_at FROM users WHERE tenant = $1 AND email = $2 AND oidc_subject IS NULL FOR UPDATE`,
			tenant, id.Label).Scan(&userID, &disabled)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = tx.QueryRow(ctx, `INSERT INTO users (tenant, email, name, role, oidc_issuer, oidc_subject, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, now())
RETURNING id`, tenant, id.Label, id.Name, role, id.Issuer, id.Subject).Scan(&userID)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return 0, fail("email_taken", "another user of tenant %s has the email %s (an unverified email does not adopt it)", tenant, id.Label)
		}
		return userID, err
	case err != nil:
		return 0, err
	case disabled != nil:
		return 0, fail("disabled", "the user is disabled in tenant %s", tenant)
	}
	_, err = tx.Exec(ctx, `UPDATE users SET email = $2, name = $3, role = $4, oidc_issuer = $5, oidc_subject = $6, last_login_at = now() WHERE id = $1`,
		userID, id.Label, id.Name, role, id.Issuer, id.Subject)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return 0, fail("email_taken", "another user of tenant %s has the email %s", tenant, id.Label)
	}
	return userID, err
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
