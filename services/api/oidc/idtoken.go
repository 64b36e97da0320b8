package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Identity is who a verified ID token names.
type Identity struct {
	Issuer, Subject string
	// Label is what nano calls the user (its email, else its preferred
	// username, else its subject).
	Label         string
	EmailVerified bool
	Name          string
	Groups        []string
}

// maxGroups bounds the groups read from a token.
const maxGroups = 1000

// VerifyIDToken checks raw as an ID token of this sign-in: go-oidc checks
// the signature against the provider's published keys (fetched again for
// a key it does not know: rotation) with an asymmetric algorithm only,
// the issuer, that the audience holds the client id, and the expiry
// (with the bounded skew); then the nonce must be this sign-in's, the
// authorized party this client when there are several audiences, and the
// token not issued (iat) nor valid from (nbf) further in the future than
// the skew.
func (h *Handler) VerifyIDToken(ctx context.Context, raw, nonce string) (*Identity, error) {
	_, verifier, err := h.setup(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("the ID token is not valid: %w", err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("the ID token's nonce is not this sign-in's")
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("the ID token's claims do not decode: %w", err)
	}
	if len(tok.Audience) > 1 {
		if azp, _ := claims["azp"].(string); azp != h.Config.ClientID {
			return nil, fmt.Errorf("the ID token has several audiences and its authorized party is %q, not this client", azp)
		}
	}
	limit := h.now().Add(h.Config.ClockSkew)
	if tok.IssuedAt.After(limit) {
		return nil, fmt.Errorf("the ID token was issued in the future (%s, more than %s ahead)", tok.IssuedAt.UTC().Format(time.RFC3339), h.Config.ClockSkew)
	}
	if nbf, ok := claims["nbf"].(float64); ok && time.Unix(int64(nbf), 0).After(limit) {
		return nil, errors.New("the ID token is not valid yet (nbf beyond the clock skew)")
	}
	if tok.Subject == "" {
		return nil, errors.New("the ID token has no subject")
	}
	id := &Identity{Issuer: tok.Issuer, Subject: tok.Subject}
	email, _ := claims["email"].(string)
	id.EmailVerified, _ = claims["email_verified"].(bool)
	id.Name, _ = claims["name"].(string)
	id.Name = clip(id.Name, 200)
	username, _ := claims["preferred_username"].(string)
	switch {
	case len(email) >= 3 && len(email) <= 320:
		id.Label = email
	case len(username) >= 3 && len(username) <= 320:
		id.Label, id.EmailVerified = username, false
	default:
		id.Label, id.EmailVerified = clip("sub:"+tok.Subject, 320), false
	}
	id.Groups, err = groups(claims, h.Config.GroupsClaim)
	if err != nil {
		return nil, err
	}
	return id, nil
}

// groups reads the groups claim: a list of strings or one string, at a
// dotted path.
func groups(claims map[string]any, path string) ([]string, error) {
	var v any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		if v, ok = m[part]; !ok {
			return nil, nil
		}
	}
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		if len(x) > maxGroups {
			return nil, fmt.Errorf("the ID token's %s claim has %d entries, more than %d", path, len(x), maxGroups)
		}
		out := make([]string, 0, len(x))
		for _, g := range x {
			if s, ok := g.(string); ok {
				out = append(out, s)
			}
		}
		return out, nil
	case nil:
		return nil, nil
	default:
		b, _ := json.Marshal(x)
		return nil, fmt.Errorf("the ID token's %s claim is %s, not a list of group names", path, clip(string(b), 100))
	}
}
