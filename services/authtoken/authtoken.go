// Package authtoken is nano's API tokens: the api service issues them
// (shown once, stored as SHA-256 hashes in the metadata database) and every
// service that takes them verifies them the same way, here.
//
// A token is "nano_" followed by 43 base64url characters (32 random
// bytes). Verification hashes the presented token and looks the hash up;
// revoked and expired tokens fail. Positive answers are cached for a short
// time (Verifier.TTL), which is how long a revocation may take to reach a
// replica.
package authtoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nanosiem/nano/services/contract"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Prefix starts every token (secret scanners can find leaked ones).
const Prefix = contract.APITokenPrefix

// tokenLen is the length of a token.
const tokenLen = len(Prefix) + 43

// Scopes a token may carry.
const (
	ScopeSearch = "search" // run searches, history, saved searches
	ScopeRead   = "read"   // read metadata through the api
	ScopeWrite  = "write"  // change metadata through the api
	ScopeAdmin  = "admin"  // users, tokens, credentials
	ScopeAlerts = "alerts" // create and expire silences in Alertmanager
	// ScopePlatform manages what every tenant shares (platform enrichment
	// datasets). It is the deployment operator's: admin does not imply it,
	// and only a token holding it may issue another.
	ScopePlatform = "platform"
)

// Scopes are the known scopes.
var Scopes = []string{ScopeSearch, ScopeRead, ScopeWrite, ScopeAdmin, ScopeAlerts, ScopePlatform}

// DB is where tokens and sessions are stored: the pool or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrInvalid is an unknown, malformed, revoked or expired token.
var ErrInvalid = errors.New("invalid, revoked or expired token")

// Principal is who a request speaks for: an API token (TokenID set) or a
// person's browser session (SessionID set, signed in through the identity
// provider; see session.go).
type Principal struct {
	TokenID   int64
	TokenName string
	SessionID int64
	Tenant    string
	UserID    *int64
	// Email and Name are the session's user; Role the role its sign-in
	// gave (its Scopes are that role's).
	Email, Name, Role string
	Scopes            []string
}

// Kind is "user" for a session, "token" for an API token.
func (p Principal) Kind() string {
	if p.SessionID != 0 {
		return "user"
	}
	return "token"
}

// Label names the principal for people: the user's email, or the token's
// name and id.
func (p Principal) Label() string {
	if p.SessionID != 0 {
		return p.Email
	}
	return fmt.Sprintf("token %d (%s)", p.TokenID, p.TokenName)
}

// TokenRef is the token's id for the columns that refer to api_tokens
// (nil for a session).
func (p Principal) TokenRef() *int64 {
	if p.TokenID == 0 {
		return nil
	}
	id := p.TokenID
	return &id
}

// Can reports whether p holds scope (admin holds every scope of its
// tenant; the platform scope only a token that names it).
func (p Principal) Can(scope string) bool {
	if scope == ScopePlatform {
		return slices.Contains(p.Scopes, ScopePlatform)
	}
	return slices.Contains(p.Scopes, scope) || slices.Contains(p.Scopes, ScopeAdmin)
}

// Hash is what the database stores for token.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Generate returns a new random token.
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cannot generate a token: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Wellformed reports whether s looks like a token (checked before any
// database lookup).
func Wellformed(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, Prefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(Prefix):])
	return err == nil
}

// Issue creates a token for tenant and returns it (the only time it is
// visible) with its id.
func Issue(ctx context.Context, db DB, tenant string, userID *int64, name string, scopes []string, expires *time.Time) (string, int64, error) {
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return "", 0, fmt.Errorf("scopes: unknown scope %q (known: %s)", s, strings.Join(Scopes, ", "))
		}
	}
	if len(scopes) == 0 {
		return "", 0, errors.New("scopes: at least one scope is required")
	}
	token, err := Generate()
	if err != nil {
		return "", 0, err
	}
	var id int64
	err = db.QueryRow(ctx, `INSERT INTO api_tokens (tenant, user_id, name, hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		tenant, userID, name, Hash(token), scopes, expires).Scan(&id)
	if err != nil {
		return "", 0, fmt.Errorf("cannot store the token: %w", err)
	}
	return token, id, nil
}

// Seed stores token (generated elsewhere, e.g. by Pulumi) for tenant
// unless a token with its hash exists, revoked or not; created says
// whether it did.
func Seed(ctx context.Context, db *pgxpool.Pool, tenant, name, token string, scopes []string) (created bool, err error) {
	if !Wellformed(token) {
		return false, errors.New("not a well-formed token")
	}
	tag, err := db.Exec(ctx, `INSERT INTO api_tokens (tenant, name, hash, scopes) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING`,
		tenant, name, Hash(token), scopes)
	if err != nil {
		return false, fmt.Errorf("cannot store the token: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// FromRequest returns the bearer token of r ("Authorization: Bearer ...").
func FromRequest(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Verifier checks tokens against the metadata database.
type Verifier struct {
	DB *pgxpool.Pool
	// TTL is how long a verified token is trusted without asking again
	// (and so how long a revocation takes to reach this replica).
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	p       Principal
	until   time.Time
	expires *time.Time
}

// maxCached bounds the cache; it is cleared when full.
const maxCached = 10000

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify returns the principal of token, or ErrInvalid.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if !Wellformed(token) {
		return Principal{}, ErrInvalid
	}
	key := sha256.Sum256([]byte(token))
	now := v.now()
	v.mu.Lock()
	c, ok := v.cache[key]
	v.mu.Unlock()
	if ok && now.Before(c.until) && (c.expires == nil || now.Before(*c.expires)) {
		return c.p, nil
	}
	var p Principal
	var expires *time.Time
	err := v.DB.QueryRow(ctx, `UPDATE api_tokens SET last_used_at = now()
WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
RETURNING id, name, tenant, user_id, scopes, expires_at`, key[:], now).Scan(&p.TokenID, &p.TokenName, &p.Tenant, &p.UserID, &p.Scopes, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrInvalid
	}
	if err != nil {
		return Principal{}, fmt.Errorf("cannot verify the token: %w", err)
	}
	v.mu.Lock()
	if v.cache == nil || len(v.cache) >= maxCached {
		v.cache = map[[32]byte]cached{}
	}
	v.cache[key] = cached{p: p, until: now.Add(v.TTL), expires: expires}
	v.mu.Unlock()
	return p, nil
}
