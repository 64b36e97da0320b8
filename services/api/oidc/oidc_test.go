package oidc

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

var people = []harness.IdPUser{
	{Username: "alice", Password: "alice-pw", Email: "alice@example.com", Name: "Alice", EmailVerified: true, Groups: []string{"soc", "staff"}},
	{Username: "vic", Password: "vic-pw", Email: "vic@example.com", Name: "Vic", EmailVerified: true, Groups: []string{"staff"}},
	{Username: "nobody", Password: "nobody-pw", Email: "nobody@example.com", EmailVerified: true, Groups: []string{"contractors"}},
	{Username: "multi", Password: "multi-pw", Email: "multi@example.com", EmailVerified: true, Groups: []string{"soc", "zeta-admins"}},
	{Username: "mallory", Password: "mallory-pw", Email: "ada@example.com", EmailVerified: false, Groups: []string{"staff"}},
}

var mapping = []Mapping{
	{Group: "soc", Tenant: "acme", Role: "analyst"},
	{Group: "staff", Tenant: "acme", Role: "viewer"},
	{Group: "zeta-admins", Tenant: "zeta", Role: "admin"},
}

// rig is Hydra with its login app, nano's sign-in routes on an
// httptest server (under /api as the deployment's proxy routes them) and
// a migrated metadata database.
type rig struct {
	idp  *harness.IdP
	h    *Handler
	db   *pgxpool.Pool
	base string
}

func newRig(t *testing.T, name string) *rig {
	harness.Servers(t)
	t.Helper()
	idp, err := harness.StartIdP(people)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Stop)
	_, db := metafixture.New(t, pg, name)
	r := &rig{idp: idp, db: db}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.base = srv.URL
	ctx := context.Background()
	if err := idp.CreateClient(ctx, "nano", "nano-secret", r.base+"/api"+CallbackPath); err != nil {
		t.Fatal(err)
	}
	r.h = &Handler{Config: Config{Issuer: idp.Issuer, ClientID: "nano", ClientSecret: "nano-secret", RedirectURL: r.base + "/api" + CallbackPath,
		GroupsClaim: "groups", Roles: mapping, Scopes: []string{"groups"}, SessionTTL: time.Hour, SessionIdle: 10 * time.Minute, ClockSkew: 30 * time.Second},
		DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if bad := r.h.Config.Validate(); len(bad) > 0 {
		t.Fatalf("the test's configuration: %v", bad)
	}
	r.h.Register(prometheus.NewRegistry())
	mux.HandleFunc("GET /api"+LoginPath, r.h.Login)
	mux.HandleFunc("GET /api"+CallbackPath, r.h.Callback)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the UI") })
	return r
}

func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// toCallback signs user in at Hydra from nano's login URL and answers the
// callback URL the provider sends the browser to (not yet followed).
func (r *rig) toCallback(t *testing.T, c *http.Client, user, query string) string {
	t.Helper()
	cb, err := r.idp.SignIn(c, r.base+"/api"+LoginPath+query, user, user+"-pw", r.base+"/api"+CallbackPath)
	if err != nil {
		t.Fatalf("sign-in of %s: %v\n%s", user, err, r.idp.Log())
	}
	return cb
}

// callback follows the callback URL: the redirect's location and the
// Set-Cookie headers.
func callback(t *testing.T, c *http.Client, cb string) (string, []string) {
	t.Helper()
	resp, err := c.Get(cb)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %s", resp.Status)
	}
	return resp.Header.Get("Location"), resp.Header.Values("Set-Cookie")
}

func sessionCookie(headers []string) string {
	for _, h := range headers {
		if strings.HasPrefix(h, authtoken.SessionCookie+"=") && !strings.HasPrefix(h, authtoken.SessionCookie+"=;") {
			return h
		}
	}
	return ""
}

func (r *rig) lastAudit(t *testing.T) (action, actor, tenant, detail string) {
	t.Helper()
	err := r.db.QueryRow(context.Background(), `SELECT action, actor, tenant, detail FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&action, &actor, &tenant, &detail)
	if err != nil {
		t.Fatal(err)
	}
	return
}

// The authorization code flow through the real provider: a user of a
// mapped group gets a session (an HttpOnly, Secure, SameSite=Strict,
// host-only cookie) with its role, is created on its first sign-in, and
// the sign-in is in the audit trail; a replayed callback, a callback in
// another browser, a user without a mapped group, a disabled user, a user
// whose unverified email is another's and the provider's refusal are
// refused, each recorded.
func TestSignInThroughHydra(t *testing.T) {
	harness.Servers(t)
	r := newRig(t, "oidc_flow")
	ctx := context.Background()
	c := browser(t)
	cb := r.toCallback(t, c, "alice", "")
	if u, _ := url.Parse(cb); u.Query().Get("code") == "" || u.Query().Get("state") == "" {
		t.Fatalf("the provider's redirect has no code and state: %s", cb)
	}
	loc, cookies := callback(t, c, cb)
	set := sessionCookie(cookies)
	if loc != "/" || set == "" {
		t.Fatalf("sign-in: to %q, cookies %q", loc, cookies)
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(set, attr) {
			t.Errorf("the session cookie lacks %s: %s", attr, set)
		}
	}
	if strings.Contains(set, "Domain=") {
		t.Errorf("the session cookie names a domain (a __Host- cookie must not): %s", set)
	}
	secret := strings.TrimPrefix(strings.SplitN(set, ";", 2)[0], authtoken.SessionCookie+"=")
	v := &authtoken.Verifier{DB: r.db}
	p, err := v.VerifySession(ctx, secret)
	if err != nil || p.Tenant != "acme" || p.Role != "analyst" || p.Email != "alice@example.com" || !p.Can(authtoken.ScopeWrite) || p.Can(authtoken.ScopeAdmin) {
		t.Fatalf("alice's session: %+v %v", p, err)
	}
	var subject, role string
	if err := r.db.QueryRow(ctx, `SELECT oidc_subject, role FROM users WHERE tenant = 'acme' AND email = 'alice@example.com'`).Scan(&subject, &role); err != nil ||
		subject != "sub-alice" || role != "analyst" {
		t.Errorf("alice's user: %q %q %v", subject, role, err)
	}
	if action, actor, tenant, _ := r.lastAudit(t); action != "signin" || actor != "alice@example.com" || tenant != "acme" {
		t.Errorf("audit after the sign-in: %s %s %s", action, actor, tenant)
	}
	// The secret is stored hashed.
	var n int
	if err := r.db.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE hash = $1`, authtoken.Hash(secret)).Scan(&n); err != nil || n != 1 {
		t.Errorf("sessions with the secret's hash: %d %v", n, err)
	}

	// The same callback again (replayed state): refused, recorded.
	c.Jar.SetCookies(mustURL(r.base), []*http.Cookie{{Name: loginCookie, Value: "whatever"}})
	if loc, cookies := callback(t, c, cb); loc != "/#/signin?error=state" || sessionCookie(cookies) != "" {
		t.Errorf("replayed callback: to %q, cookies %q", loc, cookies)
	}
	if action, _, _, detail := r.lastAudit(t); action != "signin.failed" || !strings.Contains(detail, "state") {
		t.Errorf("audit after the replay: %s %s", action, detail)
	}

	// A callback finished in another browser than the one that started.
	cb = r.toCallback(t, browser(t), "alice", "")
	if loc, cookies := callback(t, browser(t), cb); loc != "/#/signin?error=browser" || sessionCookie(cookies) != "" {
		t.Errorf("callback in another browser: to %q, cookies %q", loc, cookies)
	}

	// Groups that map to no role.
	c = browser(t)
	if loc, _ := callback(t, c, r.toCallback(t, c, "nobody", "")); loc != "/#/signin?error=no_role" {
		t.Errorf("no role: to %q", loc)
	}
	if action, actor, _, detail := r.lastAudit(t); action != "signin.failed" || actor != "nobody@example.com" || !strings.Contains(detail, "no_role") {
		t.Errorf("audit after no role: %s %s %s", action, actor, detail)
	}

	// Several tenants: the first by name, or the one asked for.
	c = browser(t)
	_, cookies = callback(t, c, r.toCallback(t, c, "multi", ""))
	c2 := browser(t)
	_, cookies2 := callback(t, c2, r.toCallback(t, c2, "multi", "?tenant=zeta"))
	p1, err1 := v.VerifySession(ctx, cookieValue(sessionCookie(cookies)))
	p2, err2 := v.VerifySession(ctx, cookieValue(sessionCookie(cookies2)))
	if err1 != nil || err2 != nil || p1.Tenant != "acme" || p1.Role != "analyst" || p2.Tenant != "zeta" || p2.Role != "admin" {
		t.Errorf("multi: %+v %v / %+v %v", p1, err1, p2, err2)
	}
	c = browser(t)
	if loc, _ := callback(t, c, r.toCallback(t, c, "vic", "?tenant=zeta")); loc != "/#/signin?error=no_role" {
		t.Errorf("a tenant the user has no role in: to %q", loc)
	}

	// An unverified email does not adopt another user's account.
	if _, err := r.db.Exec(ctx, `INSERT INTO users (tenant, email, name, role) VALUES ('acme', 'ada@example.com', 'Ada', 'admin')`); err != nil {
		t.Fatal(err)
	}
	c = browser(t)
	if loc, _ := callback(t, c, r.toCallback(t, c, "mallory", "")); loc != "/#/signin?error=email_taken" {
		t.Errorf("unverified email of another user: to %q", loc)
	}

	// A disabled user: its sessions end (VerifySession) and it cannot sign in.
	if _, err := r.db.Exec(ctx, `UPDATE users SET disabled_at = now() WHERE email = 'alice@example.com'`); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifySession(ctx, secret); err != authtoken.ErrInvalid {
		t.Errorf("a disabled user's session still verifies: %v", err)
	}
	c = browser(t)
	if loc, _ := callback(t, c, r.toCallback(t, c, "alice", "")); loc != "/#/signin?error=disabled" {
		t.Errorf("disabled user: to %q", loc)
	}

	// The provider's refusal, on a state this api issued.
	c = browser(t)
	resp, err := c.Get(r.base + "/api" + LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	auth, _ := url.Parse(resp.Header.Get("Location"))
	if auth.Query().Get("code_challenge_method") != "S256" || auth.Query().Get("nonce") == "" || auth.Query().Get("code_challenge") == "" {
		t.Errorf("the authorization request lacks PKCE or a nonce: %s", auth)
	}
	denied := r.base + "/api" + CallbackPath + "?error=access_denied&error_description=no&state=" + url.QueryEscape(auth.Query().Get("state"))
	if loc, _ := callback(t, c, denied); loc != "/#/signin?error=provider" {
		t.Errorf("the provider's refusal: to %q", loc)
	}
	if strings.Contains(resp.Header.Get("Location"), "verifier") {
		t.Errorf("the PKCE verifier is in the URL")
	}
}

func cookieValue(set string) string {
	return strings.TrimPrefix(strings.SplitN(set, ";", 2)[0], authtoken.SessionCookie+"=")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// jwt signs claims with header fields; sign makes the signature over the
// signing input.
func jwt(t *testing.T, header, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(header) + "." + enc(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func rs256(key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

// The ID token checks against the real provider: Hydra signs with a key
// the test imported (published through its JWKS), so the test can make
// tokens that differ from Hydra's in one claim. A genuine token and one
// expired within the skew verify; another client's genuine token (wrong
// audience), a wrong issuer, an expired token, one issued in the future,
// one signed by another key (with Hydra's kid or its own), alg none, HMAC
// keyed with the public key, a wrong nonce and a foreign authorized party
// are refused; after Hydra rotates its key, its new tokens verify.
func TestIDTokenChecksAgainstHydra(t *testing.T) {
	harness.Servers(t)
	r := newRig(t, "oidc_tokens")
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.idp.SetSigningKey(ctx, key, "test-key"); err != nil {
		t.Fatal(err)
	}
	if err := r.idp.CreateClient(ctx, "other", "other-secret", "http://127.0.0.1:9/cb"); err != nil {
		t.Fatal(err)
	}
	// genuine: an ID token from Hydra's real flow for client (its own
	// redirect), with nonce.
	genuine := func(client, secret, redirect, nonce string) string {
		t.Helper()
		oc := &oauth2.Config{ClientID: client, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "email", "groups"},
			Endpoint: oauth2.Endpoint{AuthURL: r.idp.Issuer + "/oauth2/auth", TokenURL: r.idp.Issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
		verifier := oauth2.GenerateVerifier()
		state := "state-" + nonce
		cb, err := r.idp.SignIn(browser(t), oc.AuthCodeURL(state, oauth2.SetAuthURLParam("nonce", nonce), oauth2.S256ChallengeOption(verifier)),
			"alice", "alice-pw", redirect)
		if err != nil {
			t.Fatalf("sign-in for %s: %v\n%s", client, err, r.idp.Log())
		}
		u, _ := url.Parse(cb)
		tok, err := oc.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		return raw
	}
	kid := func(raw string) string {
		b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		var h map[string]any
		json.Unmarshal(b, &h)
		s, _ := h["kid"].(string)
		return s
	}
	raw := genuine("nano", "nano-secret", r.h.Config.RedirectURL, "nonce-0001")
	if kid(raw) != "test-key" {
		t.Fatalf("Hydra did not sign with the imported key (kid %q)", kid(raw))
	}
	if id, err := r.h.VerifyIDToken(ctx, raw, "nonce-0001"); err != nil || id.Label != "alice@example.com" || len(id.Groups) != 2 {
		t.Fatalf("a genuine token: %+v %v", id, err)
	}
	if _, err := r.h.VerifyIDToken(ctx, raw, "nonce-0002"); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("a genuine token with another sign-in's nonce: %v", err)
	}
	if _, err := r.h.VerifyIDToken(ctx, genuine("other", "other-secret", "http://127.0.0.1:9/cb", "nonce-0003"), "nonce-0003"); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("another client's genuine token (wrong audience): %v", err)
	}

	now := time.Now()
	base := func() map[string]any {
		return map[string]any{"iss": r.idp.Issuer, "aud": []string{"nano"}, "sub": "sub-alice", "email": "alice@example.com",
			"groups": []string{"soc"}, "nonce": "n", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	}
	with := func(k string, v any) map[string]any { c := base(); c[k] = v; return c }
	hdr := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "test-key"}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	hs := func(in []byte) []byte { m := hmac.New(sha256.New, pubPEM); m.Write(in); return m.Sum(nil) }
	for _, c := range []struct {
		name   string
		token  string
		refuse string // "" accepted
	}{
		{"the provider's key, every claim right", jwt(t, hdr, base(), rs256(key)), ""},
		{"expired 10 s ago (within the 30 s skew)", jwt(t, hdr, with("exp", now.Add(-10*time.Second).Unix()), rs256(key)), ""},
		{"two audiences without this client as authorized party", jwt(t, hdr, with("aud", []string{"nano", "other"}), rs256(key)), "authorized party"},
		{"wrong issuer", jwt(t, hdr, with("iss", "http://127.0.0.1:1"), rs256(key)), "different provider"},
		{"wrong audience", jwt(t, hdr, with("aud", []string{"other"}), rs256(key)), "audience"},
		{"expired 10 minutes ago", jwt(t, hdr, with("exp", now.Add(-10*time.Minute).Unix()), rs256(key)), "expired"},
		{"issued 10 minutes in the future", jwt(t, hdr, with("iat", now.Add(10*time.Minute).Unix()), rs256(key)), "future"},
		{"not valid before 2 minutes from now (go-oidc allows 5, the skew 30 s)", jwt(t, hdr, with("nbf", now.Add(2*time.Minute).Unix()), rs256(key)), "not valid yet"},
		{"signed by another key under the provider's kid", jwt(t, hdr, base(), rs256(other)), "signature"},
		{"signed by another key of its own kid", jwt(t, map[string]any{"alg": "RS256", "kid": "attacker"}, base(), rs256(other)), "signature"},
		{"alg none", jwt(t, map[string]any{"alg": "none", "kid": "test-key"}, base(), func([]byte) []byte { return nil }), "malformed"},
		{"HS256 keyed with the provider's public key", jwt(t, map[string]any{"alg": "HS256", "kid": "test-key"}, base(), hs), "malformed"},
		{"wrong nonce", jwt(t, hdr, with("nonce", "another"), rs256(key)), "nonce"},
	} {
		_, err := r.h.VerifyIDToken(ctx, c.token, "n")
		switch {
		case c.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)):
			t.Errorf("%s: want refused (%s), got %v", c.name, c.refuse, err)
		}
	}
	azp := with("aud", []string{"nano", "other"})
	azp["azp"] = "nano"
	if _, err := r.h.VerifyIDToken(ctx, jwt(t, hdr, azp, rs256(key)), "n"); err != nil {
		t.Errorf("two audiences with this client as authorized party: %v", err)
	}

	// Rotation: Hydra signs with a new key; the verifier, which holds the
	// old key set, fetches the new one.
	newKid, err := r.idp.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw = genuine("nano", "nano-secret", r.h.Config.RedirectURL, "nonce-0004")
	if kid(raw) != newKid {
		t.Fatalf("after rotation Hydra signed with %q, want %q", kid(raw), newKid)
	}
	if _, err := r.h.VerifyIDToken(ctx, raw, "nonce-0004"); err != nil {
		t.Errorf("a token of the rotated key: %v", err)
	}
}
