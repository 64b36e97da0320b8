// Package oidc signs people into nano's UI through the deployment's
// identity provider: OpenID Connect's authorization code flow with PKCE
// (github.com/coreos/go-oidc with golang.org/x/oauth2: discovery, the
// provider's keys with rotation, the ID token's signature, issuer,
// audience, expiry and algorithm), state and nonce kept server-side and
// used once, roles per tenant from the groups claim, users created on
// their first sign-in, and a short-lived revocable session in an HttpOnly,
// Secure, SameSite=Strict cookie. Every sign-in, sign-out and failed
// sign-in goes to the audit trail. docs/security/sign-in.md is the operator's view.
package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
)

// Config is the identity provider and how its people become nano's.
type Config struct {
	// Issuer is the provider's issuer URL (discovery reads
	// <Issuer>/.well-known/openid-configuration; the ID tokens' iss must
	// equal it).
	Issuer string
	// ClientID and ClientSecret are nano's client at the provider; the ID
	// tokens' audience must hold ClientID.
	ClientID, ClientSecret string
	// RedirectURL is <web URL>/api/v1/auth/callback, registered at the
	// provider.
	RedirectURL string
	// GroupsClaim names the ID token claim holding the user's groups (a
	// dotted path reaches into objects: realm_access.roles).
	GroupsClaim string
	// Roles map groups to a role in a tenant.
	Roles []Mapping
	// Scopes are requested besides openid, email and profile (e.g.
	// groups, which some providers need to send the claim).
	Scopes []string
	// SessionTTL is a session's absolute lifetime, SessionIdle how long it
	// lasts unused.
	SessionTTL, SessionIdle time.Duration
	// ClockSkew is how far the provider's clock may be from this one:
	// tokens expired less long ago are accepted, tokens issued further in
	// the future refused.
	ClockSkew time.Duration
}

// Mapping gives the members of Group the role Role in Tenant.
type Mapping struct {
	Group, Tenant, Role string
}

// Bounds of the session and skew settings.
const (
	DefaultSessionTTL  = 8 * time.Hour
	MaxSessionTTL      = 24 * time.Hour
	DefaultSessionIdle = time.Hour
	DefaultClockSkew   = 30 * time.Second
	MaxClockSkew       = 5 * time.Minute
	maxMappings        = 200
)

var reTenant = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ParseRoles reads the role mapping: a JSON array of "group=tenant:role"
// (the group may hold any character but a newline; it ends at the last
// "="), e.g. ["nano-admins=acme:admin","soc=acme:analyst"].
func ParseRoles(s string) ([]Mapping, error) {
	var entries []string
	if err := json.Unmarshal([]byte(s), &entries); err != nil {
		return nil, errors.New(`a JSON array of "group=tenant:role" entries, e.g. ["nano-admins=acme:admin"]`)
	}
	if len(entries) == 0 || len(entries) > maxMappings {
		return nil, fmt.Errorf("from 1 to %d entries", maxMappings)
	}
	var out []Mapping
	for _, e := range entries {
		i := strings.LastIndex(e, "=")
		if i <= 0 || strings.ContainsAny(e, "\r\n") || len(e) > 400 {
			return nil, fmt.Errorf("%q is not group=tenant:role", e)
		}
		tenant, role, ok := strings.Cut(e[i+1:], ":")
		switch {
		case !ok || !reTenant.MatchString(tenant):
			return nil, fmt.Errorf("%q: %q is not a tenant id (lower case letters, digits, - and _)", e, tenant)
		case authtoken.RoleRank(role) == 0:
			return nil, fmt.Errorf("%q: the role must be one of %s", e, strings.Join(authtoken.Roles, ", "))
		}
		out = append(out, Mapping{Group: e[:i], Tenant: tenant, Role: role})
	}
	return out, nil
}

var reClaim = regexp.MustCompile(`^[A-Za-z0-9_:/.-]{1,200}$`)

// Validate names every problem by the setting at fault (the caller maps
// the names to its keys).
func (c Config) Validate() map[string]string {
	bad := map[string]string{}
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		(u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		bad["issuer"] = "an https URL (http only on loopback, for tests) without query or fragment, e.g. https://login.example.com/realms/acme"
	}
	if c.ClientID == "" || len(c.ClientID) > 400 {
		bad["client_id"] = "required: nano's client id at the provider"
	}
	if c.ClientSecret == "" || len(c.ClientSecret) > 4096 {
		bad["client_secret"] = "required: nano's client secret at the provider"
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || u.Host == "" || !strings.HasSuffix(u.Path, CallbackPath) ||
		(u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		bad["redirect_url"] = "the web URL's " + CallbackPath + " over https"
	}
	if !reClaim.MatchString(c.GroupsClaim) {
		bad["groups_claim"] = "a claim name such as groups (a dotted path reaches into an object: realm_access.roles)"
	}
	if len(c.Roles) == 0 {
		bad["roles"] = "at least one group=tenant:role mapping"
	}
	for _, s := range c.Scopes {
		if !regexp.MustCompile(`^[A-Za-z0-9_:/.-]{1,100}$`).MatchString(s) || slices.Contains([]string{"openid", "email", "profile"}, s) {
			bad["scopes"] = fmt.Sprintf("%q: extra scopes are names like groups (openid, email and profile are always requested)", s)
		}
	}
	if c.SessionTTL < 5*time.Minute || c.SessionTTL > MaxSessionTTL {
		bad["session_ttl"] = "from 5m to 24h"
	}
	if c.SessionIdle < time.Minute || c.SessionIdle > c.SessionTTL {
		bad["session_idle"] = "from 1m to the session's lifetime"
	}
	if c.ClockSkew < 0 || c.ClockSkew > MaxClockSkew {
		bad["clock_skew"] = "from 0s to 5m"
	}
	return bad
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// rolesOf maps groups to the highest role per tenant.
func rolesOf(m []Mapping, groups []string) map[string]string {
	out := map[string]string{}
	for _, x := range m {
		if slices.Contains(groups, x.Group) && authtoken.RoleRank(x.Role) > authtoken.RoleRank(out[x.Tenant]) {
			out[x.Tenant] = x.Role
		}
	}
	return out
}
