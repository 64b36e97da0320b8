package server

import (
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
)

// Token is an API token as listed (never its secret).
type Token struct {
	ID        int64      `json:"id" db:"id"`
	Name      string     `json:"name" db:"name"`
	Scopes    []string   `json:"scopes" db:"scopes"`
	UserID    *int64     `json:"user_id,omitempty" db:"user_id"`
	CreatedAt time.Time  `json:"created_at" db:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty" db:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty" db:"revoked_at"`
	LastUsed  *time.Time `json:"last_used_at,omitempty" db:"last_used_at"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT id, name, scopes, user_id, created_at, expires_at, revoked_at, last_used_at
FROM api_tokens WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		func(t Token) int64 { return t.ID })
}

type tokenBody struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	UserID    *int64     `json:"user_id"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b tokenBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	switch {
	case b.Name == "" || len(b.Name) > 200:
		s.respond(w, 0, nil, bad("name", "1 to 200 characters"))
		return
	case len(b.Scopes) == 0:
		s.respond(w, 0, nil, bad("scopes", "at least one of %s", strings.Join(authtoken.Scopes, ", ")))
		return
	case b.ExpiresAt != nil && !b.ExpiresAt.After(time.Now()):
		s.respond(w, 0, nil, bad("expires_at", "a time in the future"))
		return
	}
	for _, sc := range b.Scopes {
		if !slices.Contains(authtoken.Scopes, sc) {
			s.respond(w, 0, nil, bad("scopes", "unknown scope %q (known: %s)", sc, strings.Join(authtoken.Scopes, ", ")))
			return
		}
		// A tenant's admin cannot make itself the platform's.
		if sc == authtoken.ScopePlatform && !p.Can(authtoken.ScopePlatform) {
			fail(w, http.StatusForbidden, "scopes", "only a token of the platform scope issues one")
			return
		}
	}
	token, id, err := authtoken.Issue(r.Context(), s.db(r), p.Tenant, b.UserID, b.Name, b.Scopes, b.ExpiresAt)
	// The token is shown here once; only its hash is stored.
	s.respond(w, http.StatusCreated, issuedToken{ID: id, Name: b.Name, Scopes: b.Scopes, Token: token}, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err == nil {
		err = s.execOne(r, `UPDATE api_tokens SET revoked_at = now() WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL`, p.Tenant, id)
	}
	s.respond(w, http.StatusNoContent, nil, err)
}

// User is a person of the tenant: created by an admin, or on its first
// sign-in through the identity provider (SingleSignOn).
type User struct {
	ID           int64      `json:"id" db:"id"`
	Email        string     `json:"email" db:"email"`
	Name         string     `json:"name" db:"name"`
	Role         string     `json:"role" db:"role"`
	SingleSignOn bool       `json:"single_sign_on" db:"single_sign_on"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty" db:"disabled_at"`
	LastLoginAt  *time.Time `json:"last_login_at,omitempty" db:"last_login_at"`
	CreatedAt    time.Time  `json:"created_at" db:"created_at"`
}

const userColumns = `id, email, name, role, oidc_subject IS NOT NULL AS single_sign_on, disabled_at, last_login_at, created_at`

func (u *User) fields() []any {
	return []any{&u.ID, &u.Email, &u.Name, &u.Role, &u.SingleSignOn, &u.DisabledAt, &u.LastLoginAt, &u.CreatedAt}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT `+userColumns+` FROM users WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		func(u User) int64 { return u.ID })
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b userBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	if a, err := mail.ParseAddress(b.Email); err != nil || a.Address != b.Email {
		s.respond(w, 0, nil, bad("email", "an address like analyst@example.com"))
		return
	}
	if authtoken.RoleRank(b.Role) == 0 {
		s.respond(w, 0, nil, bad("role", "admin, analyst or viewer"))
		return
	}
	if len(b.Name) > 200 {
		s.respond(w, 0, nil, bad("name", "at most 200 characters"))
		return
	}
	var u User
	err := s.db(r).QueryRow(r.Context(), `INSERT INTO users (tenant, email, name, role) VALUES ($1, $2, $3, $4) RETURNING `+userColumns,
		p.Tenant, b.Email, b.Name, b.Role).Scan(u.fields()...)
	s.respond(w, http.StatusCreated, u, err)
}

// Feed is a source of events (an ingest protocol and its tokens).
type Feed struct {
	ID        int64     `json:"id" db:"id"`
	Name      string    `json:"name" db:"name"`
	Kind      string    `json:"kind" db:"kind"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

func (s *Server) listFeeds(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT id, name, kind, created_at FROM feeds WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		func(f Feed) int64 { return f.ID })
}

func (s *Server) createFeed(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b feedBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	if b.Name == "" || len(b.Name) > 200 {
		s.respond(w, 0, nil, bad("name", "1 to 200 characters"))
		return
	}
	if !slices.Contains([]string{"http", "hec", "vector", "syslog", "otlp"}, b.Kind) {
		s.respond(w, 0, nil, bad("kind", "http, hec, vector, syslog or otlp"))
		return
	}
	var f Feed
	err := s.db(r).QueryRow(r.Context(), `INSERT INTO feeds (tenant, name, kind) VALUES ($1, $2, $3) RETURNING id, name, kind, created_at`,
		p.Tenant, b.Name, b.Kind).Scan(&f.ID, &f.Name, &f.Kind, &f.CreatedAt)
	s.respond(w, http.StatusCreated, f, err)
}

// createIngestToken issues a token for a feed; shown once, stored hashed.
func (s *Server) createIngestToken(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	token, err := authtoken.Generate()
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	var tokenID int64
	err = s.db(r).QueryRow(r.Context(), `INSERT INTO ingest_tokens (tenant, feed_id, hash) SELECT tenant, id, $3 FROM feeds WHERE tenant = $1 AND id = $2 RETURNING id`,
		p.Tenant, id, authtoken.Hash(token)).Scan(&tokenID)
	s.respond(w, http.StatusCreated, issuedIngestToken{ID: tokenID, FeedID: id, Token: token}, err)
}

// issuedToken is a new API token: the only response that shows it.
type issuedToken struct {
	ID     int64    `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	Token  string   `json:"token"`
}

// issuedIngestToken is a new ingest token of a feed, shown once.
type issuedIngestToken struct {
	ID     int64  `json:"id"`
	FeedID int64  `json:"feed_id"`
	Token  string `json:"token"`
}

type userBody struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

type feedBody struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}
