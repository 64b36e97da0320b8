package provision

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Token is a bearer token scoped to one deployment: it reads, updates,
// previews, refreshes and destroys that deployment and its operations,
// nothing else (the endpoint's admin token does everything, tokens
// included). The endpoint keeps its SHA-256 only; the token itself is
// answered once, when it is created.
type Token struct {
	ID         string    `json:"id"`
	Deployment string    `json:"deployment"`
	Name       string    `json:"name,omitempty"`
	Created    time.Time `json:"created"`
	// Hash is the token's SHA-256 (hex), never answered.
	Hash string `json:"-"`
}

// tokenPrefix starts every deployment token (so a leaked one is
// recognisable in logs and scanners).
const tokenPrefix = "nanodt_"

// maxTokensPerDeployment bounds a deployment's tokens.
const maxTokensPerDeployment = 20

var reTokenName = regexp.MustCompile(`^[A-Za-z0-9 ._@:/-]{0,64}$`)

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a token for an existing deployment and returns it
// with its secret (answered once).
func (m *Manager) CreateToken(deployment, name string) (*Token, string, error) {
	var problems []Problem
	if !reTokenName.MatchString(name) {
		problems = append(problems, problem("name", "must be at most 64 letters, digits, spaces or ._@:/-"))
	}
	if len(problems) > 0 {
		return nil, "", &ValidationError{Problems: problems}
	}
	if _, err := m.Deployment(deployment); err != nil {
		return nil, "", err
	}
	existing, err := m.store.tokens(deployment)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the tokens: %w", err)
	}
	if len(existing) >= maxTokensPerDeployment {
		return nil, "", &ValidationError{Problems: []Problem{problem("deployment", "%q has %d tokens already; revoke one first", deployment, len(existing))}}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	t := &Token{ID: "tok-" + newID(), Deployment: deployment, Name: name, Created: time.Now().UTC(), Hash: hashToken(secret)}
	if err := m.store.putToken(t); err != nil {
		return nil, "", fmt.Errorf("cannot record the token: %w", err)
	}
	return t, secret, nil
}

// Tokens lists the tokens (of one deployment, or all for "").
func (m *Manager) Tokens(deployment string) ([]*Token, error) {
	return m.store.tokens(deployment)
}

// RevokeToken deletes a token: the next request carrying it gets 401.
func (m *Manager) RevokeToken(id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	return m.store.deleteToken(id)
}

// Principal is who a request acts as: the admin, or a deployment's token.
type Principal struct {
	Admin bool
	// Deployment is a deployment token's deployment; Token its id.
	Deployment, Token string
}

// authenticate resolves an Authorization header (nil: no valid token).
func (m *Manager) authenticate(header, adminToken string) *Principal {
	secret, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || secret == "" || len(secret) > 256 {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(adminToken)) == 1 {
		return &Principal{Admin: true}
	}
	if !strings.HasPrefix(secret, tokenPrefix) {
		return nil
	}
	// The lookup is by the secret's hash: its time says nothing of the
	// secret.
	t, err := m.store.tokenByHash(hashToken(secret))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			m.cfg.Log.Error("cannot look the token up", "error", err)
		}
		return nil
	}
	return &Principal{Deployment: t.Deployment, Token: t.ID}
}
