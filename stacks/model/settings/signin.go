package settings

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/nanosiem/nano/services/api/oidc"
	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// SignIn is the deployment's identity provider (nano:oidc*): people sign
// into the UI through it with the roles its groups give them
// (docs/security/sign-in.md). Settings.SignIn is nil without nano:oidcIssuer: API
// tokens only.
type SignIn struct {
	Issuer, ClientID string
	// ClientSecret is secret: wrap it with pulumi.ToSecret before use; the
	// builders render it into a Secret or a secret file only.
	ClientSecret string
	GroupsClaim  string
	// Roles are "group=tenant:role" entries (the api's NANO_OIDC_ROLES),
	// checked by the api's own parser; Scopes the extra scopes.
	Roles, Scopes []string
}

// DefaultGroupsClaim is the claim most providers put groups in.
const DefaultGroupsClaim = "groups"

// CallbackPath is the api's sign-in callback under the web URL.
const CallbackPath = contract.APIPrefix + oidc.CallbackPath

// RedirectURL is where the provider sends people back to: the api's
// callback under the deployment's web URL (https://<host>/).
func RedirectURL(host string) string {
	return "https://" + host + CallbackPath
}

// signIn reads and checks the sign-in keys: all of issuer, client id,
// client secret and roles, or none of them (nor the claim or scopes).
// It applies the audit trail's retention to the tier too.
func (l *loader) signIn(s *Settings) {
	if days := l.integer(KeyAuditDays); days != 0 {
		if days < audit.MinRetentionDays || days > audit.MaxRetentionDays {
			l.bad(KeyAuditDays, "%d is outside %d-%d", days, audit.MinRetentionDays, audit.MaxRetentionDays)
		} else {
			s.Tier.Retention.AuditDays = days
		}
	}
	in := &SignIn{
		Issuer: strings.TrimSpace(l.get(KeyOIDCIssuer)), ClientID: strings.TrimSpace(l.get(KeyOIDCClientID)),
		ClientSecret: strings.TrimSpace(l.get(KeyOIDCClientSecret)), GroupsClaim: strings.TrimSpace(l.get(KeyOIDCGroupsClaim)),
		Roles: l.strings(KeyOIDCRoles), Scopes: l.strings(KeyOIDCScopes),
	}
	if in.GroupsClaim == "" {
		in.GroupsClaim = DefaultGroupsClaim
	}
	if in.Issuer == "" {
		for _, kv := range []struct {
			key string
			set bool
		}{{KeyOIDCClientID, in.ClientID != ""}, {KeyOIDCClientSecret, in.ClientSecret != ""}, {KeyOIDCRoles, len(in.Roles) > 0},
			{KeyOIDCScopes, len(in.Scopes) > 0}, {KeyOIDCGroupsClaim, in.GroupsClaim != DefaultGroupsClaim}} {
			if kv.set {
				l.bad(kv.key, "set without %s:%s; single sign-on needs the issuer, client id, client secret and roles, or none of them", Namespace, KeyOIDCIssuer)
			}
		}
		return
	}
	// The api's own rules (services/api/oidc), with an https issuer: the
	// api reaches the provider over the internet, never on loopback.
	if u, err := url.Parse(in.Issuer); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		l.bad(KeyOIDCIssuer, "%q is not an https URL without query or fragment, like https://login.example.com/realms/acme", in.Issuer)
	}
	cfg := oidc.Config{Issuer: in.Issuer, ClientID: in.ClientID, ClientSecret: in.ClientSecret, RedirectURL: RedirectURL("nano.invalid"),
		GroupsClaim: in.GroupsClaim, Scopes: in.Scopes, SessionTTL: oidc.DefaultSessionTTL, SessionIdle: oidc.DefaultSessionIdle, ClockSkew: oidc.DefaultClockSkew}
	if len(in.Roles) > 0 {
		raw, _ := json.Marshal(in.Roles)
		m, err := oidc.ParseRoles(string(raw))
		if err != nil {
			l.bad(KeyOIDCRoles, "%v", err)
		}
		cfg.Roles = m
	}
	keys := map[string]string{"client_id": KeyOIDCClientID, "groups_claim": KeyOIDCGroupsClaim, "scopes": KeyOIDCScopes}
	bad := cfg.Validate()
	for _, field := range []string{"client_id", "groups_claim", "scopes"} {
		if msg, ok := bad[field]; ok {
			l.bad(keys[field], "%s", msg)
		}
	}
	if in.ClientSecret == "" {
		l.bad(KeyOIDCClientSecret, "required with %s:%s; set it with: pulumi config set --secret %s:%s <secret>", Namespace, KeyOIDCIssuer, Namespace, KeyOIDCClientSecret)
	}
	if len(in.Roles) == 0 {
		l.bad(KeyOIDCRoles, "required with %s:%s: at least one \"group=tenant:role\" entry, e.g. [\"soc-admins=acme:admin\"]", Namespace, KeyOIDCIssuer)
	}
	if s.Tier.Kind != tier.Compose && s.Domain == "" {
		// Without a domain these tiers publish no web URL to come back to.
		l.bad(KeyOIDCIssuer, "tier %q serves the UI only at %s:%s; set it, and register %s at the provider", s.Tier.Name, Namespace, KeyDomain, RedirectURL("<domain>"))
	}
	s.SignIn = in
}

// strings reads an array key (the JSON array Pulumi passes); empty and
// "[]" are none. The entries are checked by the key's own rules.
func (l *loader) strings(key string) []string {
	raw := strings.TrimSpace(l.get(key))
	if raw == "" {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		l.bad(key, "must be a list of strings like [\"a\",\"b\"]: %v", err)
		return nil
	}
	return out
}

// signInSecret is the secret key the sign-in keys call for.
func signInSecret(get Getter) []string {
	if strings.TrimSpace(get(KeyOIDCIssuer)) != "" {
		return []string{KeyOIDCClientSecret}
	}
	return nil
}

// Env is the api's environment for signing in behind the deployment's
// public host (its web URL's), but for the client secret: the builders
// mount that as a file named by contract.OIDCClientSecretFile.
func (s *SignIn) Env(host string) map[string]string {
	var roles bytes.Buffer
	enc := json.NewEncoder(&roles)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s.Roles) // a []string always encodes
	env := map[string]string{
		contract.OIDCIssuer: s.Issuer, contract.OIDCClientID: s.ClientID, contract.OIDCRedirectURL: RedirectURL(host),
		contract.OIDCGroupsClaim: s.GroupsClaim, contract.OIDCRoles: strings.TrimSpace(roles.String()),
	}
	if len(s.Scopes) > 0 {
		env[contract.OIDCScopes] = strings.Join(s.Scopes, ",")
	}
	return env
}
