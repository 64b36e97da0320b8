package authtoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Browser sessions: what a person's browser holds after signing in through
// the identity provider. The secret travels only in SessionCookie
// (HttpOnly, Secure, SameSite=Strict, host-only: the __Host- prefix); the
// database keeps its SHA-256. A session ends at its absolute expiry, after
// its idle time, at sign-out, when an admin revokes it, and when its user
// is disabled or deleted; every request looks it up (no cache), so the end
// is immediate on every replica.
const (
	SessionCookie = "__Host-nano_session"
	// CSRFHeader carries CSRFToken(secret) on a session's state-changing
	// requests: a page of another site can make the browser send the
	// cookie, never this header with the right value (it cannot read it:
	// no cross-origin reads are allowed).
	CSRFHeader    = "X-CSRF-Token"
	sessionPrefix = "nanosess_"
)

var (
	// ErrNoCredential is a request with neither a token nor a session.
	ErrNoCredential = errors.New("sign in: an API token (Authorization: Bearer <token>) or a session is required")
	// ErrCSRF is a session's state-changing request without its CSRF token.
	ErrCSRF = errors.New("a session's state-changing request must carry its " + CSRFHeader + " header (GET /api/v1/session answers it)")
)

// SessionOptions bound a new session and say where it was opened.
type SessionOptions struct {
	TTL, Idle     time.Duration
	IP, UserAgent string
}

// NewSession opens a session of user (role in tenant) and returns its
// secret (the cookie's value, shown only here), id and expiry.
func NewSession(ctx context.Context, db DB, tenant string, userID int64, role string, o SessionOptions) (string, int64, time.Time, error) {
	if RoleRank(role) == 0 {
		return "", 0, time.Time{}, fmt.Errorf("cannot open a session: unknown role %q", role)
	}
	if o.TTL <= 0 || o.Idle <= 0 {
		return "", 0, time.Time{}, errors.New("cannot open a session: its lifetime and idle time must be positive")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", 0, time.Time{}, fmt.Errorf("cannot open a session: %w", err)
	}
	secret := sessionPrefix + base64.RawURLEncoding.EncodeToString(b)
	var id int64
	var expires time.Time
	err := db.QueryRow(ctx, `INSERT INTO sessions (tenant, user_id, role, hash, expires_at, idle_seconds, ip, user_agent)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6, $7, $8) RETURNING id, expires_at`,
		tenant, userID, role, Hash(secret), o.TTL.Seconds(), int(o.Idle.Seconds()), clip(o.IP, 64), clip(o.UserAgent, 300)).Scan(&id, &expires)
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("cannot store the session: %w", err)
	}
	return secret, id, expires, nil
}

// SessionWellformed reports whether s looks like a session secret.
func SessionWellformed(s string) bool {
	if len(s) != len(sessionPrefix)+43 || !strings.HasPrefix(s, sessionPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(sessionPrefix):])
	return err == nil
}

// CSRFToken is the value a session's state-changing requests carry in
// CSRFHeader: derived from the secret, so nothing more is stored, and
// readable only by pages of the deployment's origin (GET /v1/session).
func CSRFToken(secret string) string {
	h := sha256.Sum256([]byte("nano-csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// VerifySession returns the principal of a session secret, or ErrInvalid
// (unknown, revoked, expired, idle too long, its user disabled).
func (v *Verifier) VerifySession(ctx context.Context, secret string) (Principal, error) {
	if !SessionWellformed(secret) {
		return Principal{}, ErrInvalid
	}
	now := v.now()
	p := Principal{}
	var userID int64
	var stale bool
	err := v.DB.QueryRow(ctx, `SELECT s.id, s.tenant, s.user_id, s.role, u.email, u.name, s.last_seen_at < $2::timestamptz - interval '30 seconds'
FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant = s.tenant
WHERE s.hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2::timestamptz AND s.last_seen_at > $2::timestamptz - make_interval(secs => s.idle_seconds)
AND u.disabled_at IS NULL`, Hash(secret), now).Scan(&p.SessionID, &p.Tenant, &userID, &p.Role, &p.Email, &p.Name, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrInvalid
	}
	if err != nil {
		return Principal{}, fmt.Errorf("cannot verify the session: %w", err)
	}
	p.UserID = &userID
	p.Scopes = slices.Clone(RoleScopes[p.Role])
	if stale {
		// Seen again: its idle time starts over (written at most twice a
		// minute per session).
		if _, err := v.DB.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND revoked_at IS NULL`, p.SessionID, now); err != nil {
			return Principal{}, fmt.Errorf("cannot verify the session: %w", err)
		}
	}
	return p, nil
}

// RevokeSession ends tenant's session id; errNoRows-like ErrInvalid when
// the tenant has no such live session.
func RevokeSession(ctx context.Context, db DB, tenant string, id int64) error {
	tag, err := db.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL`, tenant, id)
	if err != nil {
		return fmt.Errorf("cannot revoke the session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrInvalid
	}
	return nil
}

// RevokeUserSessions ends every live session of a user and says how many.
func RevokeUserSessions(ctx context.Context, db DB, tenant string, userID int64) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE tenant = $1 AND user_id = $2 AND revoked_at IS NULL`, tenant, userID)
	if err != nil {
		return 0, fmt.Errorf("cannot revoke the user's sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Authenticate returns who r speaks for: its bearer token when it has one,
// else its session cookie, whose state-changing requests (anything but
// GET, HEAD and OPTIONS) must carry the session's CSRF token.
// ErrNoCredential when it has neither, ErrInvalid for a bad credential,
// ErrCSRF for a session's request without its CSRF token.
func (v *Verifier) Authenticate(r *http.Request) (Principal, error) {
	if token, ok := FromRequest(r); ok {
		return v.Verify(r.Context(), token)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Principal{}, ErrNoCredential
	}
	p, err := v.VerifySession(r.Context(), c.Value)
	if err != nil {
		return Principal{}, err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(CSRFToken(c.Value))) != 1 {
			return Principal{}, ErrCSRF
		}
	}
	return p, nil
}

// SessionSecret is r's session cookie value, when it has one.
func SessionSecret(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
