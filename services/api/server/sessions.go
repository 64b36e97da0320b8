package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
)

// SessionInfo is who a request speaks for: what the UI shows and which
// actions it offers.
type SessionInfo struct {
	Kind   string   `json:"kind"` // user or token
	Tenant string   `json:"tenant"`
	Role   string   `json:"role,omitempty"`
	Scopes []string `json:"scopes"`
	UserID *int64   `json:"user_id,omitempty"`
	Email  string   `json:"email,omitempty"`
	Name   string   `json:"name,omitempty"`
	// TokenID and TokenName name an API token.
	TokenID   int64  `json:"token_id,omitempty"`
	TokenName string `json:"token_name,omitempty"`
	// CSRFToken goes in the X-CSRF-Token header of a session's
	// state-changing requests (a session only).
	CSRFToken string `json:"csrf_token,omitempty"`
}

func (s *Server) session(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	info := SessionInfo{Kind: p.Kind(), Tenant: p.Tenant, Role: p.Role, Scopes: p.Scopes, UserID: p.UserID, Email: p.Email, Name: p.Name,
		TokenID: p.TokenID, TokenName: p.TokenName}
	if info.Scopes == nil {
		info.Scopes = []string{}
	}
	if secret, ok := authtoken.SessionSecret(r); ok && p.SessionID != 0 {
		info.CSRFToken = authtoken.CSRFToken(secret)
	}
	// The CSRF token must not be cached anywhere.
	w.Header().Set("Cache-Control", "no-store")
	s.respond(w, http.StatusOK, info, nil)
}

// logout ends the request's session and clears its cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	if p.SessionID == 0 {
		fail(w, http.StatusBadRequest, "", "sign-out ends a browser session; an API token is revoked with DELETE /v1/tokens/{id}")
		return
	}
	err := pgx.BeginFunc(r.Context(), s.DB, func(tx pgx.Tx) error {
		if err := authtoken.RevokeSession(r.Context(), tx, p.Tenant, p.SessionID); err != nil {
			return err
		}
		return audit.Record(r.Context(), tx, audit.Entry{Service: "api", Action: "signout", Route: "POST /v1/auth/logout", ObjectType: "session",
			ObjectID: fmt.Sprint(p.SessionID), Outcome: audit.OK, Status: http.StatusNoContent, IP: audit.ClientIP(r, s.trusted()), UserAgent: r.UserAgent()}.By(p))
	})
	if err != nil && !errors.Is(err, authtoken.ErrInvalid) {
		s.respond(w, 0, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: authtoken.SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// Session is a live browser session as listed (never its secret).
type Session struct {
	ID         int64     `json:"id" db:"id"`
	UserID     int64     `json:"user_id" db:"user_id"`
	Email      string    `json:"email" db:"email"`
	Role       string    `json:"role" db:"role"`
	CreatedAt  time.Time `json:"created_at" db:"created_at"`
	ExpiresAt  time.Time `json:"expires_at" db:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at" db:"last_seen_at"`
	IP         string    `json:"ip" db:"ip"`
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT s.id, s.user_id, u.email, s.role, s.created_at, s.expires_at, s.last_seen_at, s.ip
FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.tenant = $1 AND s.id > $2 AND s.revoked_at IS NULL AND s.expires_at > now()
ORDER BY s.id LIMIT $3`, func(x Session) int64 { return x.ID })
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err == nil {
		err = authtoken.RevokeSession(r.Context(), s.db(r), p.Tenant, id)
		if errors.Is(err, authtoken.ErrInvalid) {
			err = errNotFound
		}
	}
	s.respond(w, http.StatusNoContent, nil, err)
}

// userPatch changes a user: disabled ends its sessions and refuses its
// sign-ins until enabled again.
type userPatch struct {
	Disabled *bool `json:"disabled"`
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	var b userPatch
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	if b.Disabled == nil {
		s.respond(w, 0, nil, bad("disabled", "required: true or false"))
		return
	}
	if *b.Disabled && p.UserID != nil && *p.UserID == id {
		s.respond(w, 0, nil, bad("disabled", "an admin cannot disable itself"))
		return
	}
	db := s.db(r)
	var u User
	err = db.QueryRow(r.Context(), `UPDATE users SET disabled_at = CASE WHEN $3 THEN coalesce(disabled_at, now()) END WHERE tenant = $1 AND id = $2
RETURNING `+userColumns, p.Tenant, id, *b.Disabled).Scan(u.fields()...)
	if err == nil && *b.Disabled {
		_, err = authtoken.RevokeUserSessions(r.Context(), db, p.Tenant, id)
	}
	s.respond(w, http.StatusOK, u, err)
}
