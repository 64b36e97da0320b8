package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IdP is a real OpenID provider on loopback: Ory Hydra (built by
// tests/setup from its module, NANO_HYDRA) on an in-memory database, with
// this harness's own login and consent app, which signs in the Users it
// was given (username and password) and puts their email, name and groups
// in the ID token.
type IdP struct {
	server
	// Issuer is Hydra's issuer URL (its public port); AdminURL its admin
	// API; LoginURL the login app.
	Issuer, AdminURL, LoginURL string

	users map[string]IdPUser
	app   *http.Server
	// Logins counts the login app's successful sign-ins.
	mu     sync.Mutex
	logins int
}

// IdPUser is a person the login app knows.
type IdPUser struct {
	Username, Password string
	Email, Name        string
	EmailVerified      bool
	Groups             []string
}

// StartIdP starts the login app and Hydra. Env adds Hydra settings (e.g.
// TTL_ID_TOKEN=...).
func StartIdP(users []IdPUser, env ...string) (*IdP, error) {
	bin := os.Getenv("NANO_HYDRA")
	if bin == "" {
		return nil, errors.New("NANO_HYDRA is not set: run the tests through tests/run, whose setup builds Ory Hydra")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("Ory Hydra not found (run tests/setup): %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &IdP{server: server{name: "hydra"}, users: map[string]IdPUser{},
		Issuer:   "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		AdminURL: "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		LoginURL: "http://" + appLn.Addr().String()}
	for _, u := range users {
		p.users[u.Username] = u
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", p.loginPage)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("GET /consent", p.consent)
	p.app = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go p.app.Serve(appLn)
	secret := make([]byte, 24)
	rand.Read(secret)
	p.cmd = exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	p.cmd.Env = append(os.Environ(),
		"DSN=memory", "SECRETS_SYSTEM="+hex.EncodeToString(secret), "LOG_LEVEL=warn",
		"URLS_SELF_ISSUER="+p.Issuer, "URLS_LOGIN="+p.LoginURL+"/login", "URLS_CONSENT="+p.LoginURL+"/consent",
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT="+strconv.Itoa(ports[0]),
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT="+strconv.Itoa(ports[1]))
	p.cmd.Env = append(p.cmd.Env, env...)
	if err := p.start(); err != nil {
		p.app.Close()
		return nil, err
	}
	ready := func(ctx context.Context) error {
		// The first read of its key set makes Hydra generate its signing
		// key (seconds).
		if err := p.admin(ctx, "GET", "/health/ready", nil, nil); err != nil {
			return err
		}
		// Not the probe's 2 s: generating the key takes longer on a busy
		// machine, and a cancelled request would start it over.
		kctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(kctx, "GET", p.Issuer+"/.well-known/jwks.json", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var set struct {
			Keys []any `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) == 0 {
			return fmt.Errorf("hydra publishes no keys yet (%v)", err)
		}
		return nil
	}
	if err := p.waitReady(ready); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Stop stops Hydra and the login app.
func (p *IdP) Stop() {
	p.stop()
	p.app.Close()
}

// Log is Hydra's output so far.
func (p *IdP) Log() string { return p.log.String() }

// Logins is how many sign-ins the login app accepted.
func (p *IdP) Logins() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins
}

// admin calls Hydra's admin API with a JSON body; out, when set, gets the
// JSON answer.
func (p *IdP) admin(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.AdminURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("hydra %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// CreateClient registers an OAuth 2.0 client (authorization code with
// client_secret_basic, the scopes openid email profile groups).
func (p *IdP) CreateClient(ctx context.Context, id, secret string, redirects ...string) error {
	return p.admin(ctx, "POST", "/admin/clients", map[string]any{
		"client_id": id, "client_secret": secret, "grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
		"scope": "openid email profile groups", "redirect_uris": redirects, "token_endpoint_auth_method": "client_secret_basic",
	}, nil)
}

// SetSigningKey replaces the ID token signing keys of Hydra with key (as
// kid): Hydra signs ID tokens with it and publishes its public half, so a
// test holding it can make tokens that only differ from Hydra's in what
// the test changes.
func (p *IdP) SetSigningKey(ctx context.Context, key *rsa.PrivateKey, kid string) error {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	key.Precompute()
	jwk := map[string]any{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()), "d": b64(key.D.Bytes()),
		"p": b64(key.Primes[0].Bytes()), "q": b64(key.Primes[1].Bytes()),
		"dp": b64(key.Precomputed.Dp.Bytes()), "dq": b64(key.Precomputed.Dq.Bytes()), "qi": b64(key.Precomputed.Qinv.Bytes())}
	return p.admin(ctx, "PUT", "/admin/keys/hydra.openid.id-token", map[string]any{"keys": []any{jwk}}, nil)
}

// RotateKey has Hydra generate a new ID token signing key (it signs with
// the newest) and answers its kid.
func (p *IdP) RotateKey(ctx context.Context) (string, error) {
	var out struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	kid := "rotated-" + randomHex(4)
	if err := p.admin(ctx, "POST", "/admin/keys/hydra.openid.id-token", map[string]any{"alg": "RS256", "use": "sig", "kid": kid}, &out); err != nil {
		return "", err
	}
	if len(out.Keys) == 0 {
		return "", errors.New("hydra made no key")
	}
	return out.Keys[0].Kid, nil
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><h1>Test identity provider</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form></body></html>`))

func (p *IdP) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginTemplate.Execute(w, map[string]string{"Challenge": r.URL.Query().Get("login_challenge")})
}

// login accepts a known user's password at Hydra and sends the browser on.
func (p *IdP) login(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("challenge")
	u, ok := p.users[r.PostFormValue("username")]
	if !ok || u.Password != r.PostFormValue("password") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		loginTemplate.Execute(w, map[string]string{"Challenge": challenge, "Error": "Wrong username or password."})
		return
	}
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := p.admin(r.Context(), "PUT", "/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(challenge),
		map[string]any{"subject": "sub-" + u.Username, "remember": false}, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	p.logins++
	p.mu.Unlock()
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

// consent grants what the client asked and puts the user's claims in the
// ID token (a first-party client: no consent screen).
func (p *IdP) consent(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("consent_challenge")
	var req struct {
		Subject        string   `json:"subject"`
		RequestedScope []string `json:"requested_scope"`
		RequestedAud   []string `json:"requested_access_token_audience"`
	}
	if err := p.admin(r.Context(), "GET", "/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	u := p.users[strings.TrimPrefix(req.Subject, "sub-")]
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	claims := map[string]any{"email": u.Email, "email_verified": u.EmailVerified, "name": u.Name, "groups": u.Groups}
	if err := p.admin(r.Context(), "PUT", "/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge), map[string]any{
		"grant_scope": req.RequestedScope, "grant_access_token_audience": req.RequestedAud, "remember": false,
		"session": map[string]any{"id_token": claims},
	}, &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
}

// SignIn drives the flow as a browser would, with client's cookie jar:
// from start (nano's login URL or an authorization URL) through Hydra and
// the login app (posting username and password) until a redirect to a URL
// with prefix stop, which it answers without following.
func (p *IdP) SignIn(client *http.Client, start, username, password, stop string) (string, error) {
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next := start
	for i := 0; i < 20; i++ {
		if strings.HasPrefix(next, stop) && i > 0 {
			return next, nil
		}
		var resp *http.Response
		var err error
		if strings.HasPrefix(next, p.LoginURL+"/login?") {
			u, _ := url.Parse(next)
			resp, err = noFollow.PostForm(p.LoginURL+"/login", url.Values{"challenge": {u.Query().Get("login_challenge")},
				"username": {username}, "password": {password}})
		} else {
			resp, err = noFollow.Get(next)
		}
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			return "", fmt.Errorf("the sign-in stopped at %s: %s %s", next, resp.Status, body)
		}
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return "", err
		}
		next = u.String()
	}
	return "", errors.New("the sign-in did not reach its end in 20 redirects")
}
