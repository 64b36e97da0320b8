package main

import (
	"strings"
	"time"

	"github.com/nanosiem/nano/services/api/oidc"
	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/contract"
)

// loadSignIn reads the identity provider's settings (nil when
// NANO_OIDC_ISSUER is unset: API tokens only), the audit trail's
// retention and the trusted proxies, naming each bad variable.
func loadSignIn(r *contract.Reader, c *config) {
	c.AuditRetentionDays = int(r.Int(contract.AuditRetentionDays, audit.DefaultRetentionDays, audit.MinRetentionDays, audit.MaxRetentionDays))
	trusted, err := audit.ParseTrusted(r.String(contract.TrustedProxies, ""))
	if err != nil {
		r.Bad(contract.TrustedProxies, "%v", err)
	}
	c.Trusted = trusted
	o := oidc.Config{
		Issuer:       r.String(contract.OIDCIssuer, ""),
		ClientID:     r.String(contract.OIDCClientID, ""),
		ClientSecret: r.Secret(contract.OIDCClientSecret, contract.OIDCClientSecretFile),
		RedirectURL:  r.String(contract.OIDCRedirectURL, ""),
		GroupsClaim:  r.String(contract.OIDCGroupsClaim, "groups"),
		SessionTTL:   r.Duration(contract.SessionTTL, oidc.DefaultSessionTTL, 5*time.Minute, oidc.MaxSessionTTL),
		SessionIdle:  r.Duration(contract.SessionIdle, oidc.DefaultSessionIdle, time.Minute, oidc.MaxSessionTTL),
		ClockSkew:    r.Duration(contract.OIDCClockSkew, oidc.DefaultClockSkew, 0, oidc.MaxClockSkew),
	}
	for _, s := range strings.Split(r.String(contract.OIDCScopes, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Scopes = append(o.Scopes, s)
		}
	}
	roles := r.String(contract.OIDCRoles, "")
	if o.Issuer == "" {
		for _, k := range []struct{ name, v string }{{contract.OIDCClientID, o.ClientID}, {contract.OIDCClientSecret, o.ClientSecret},
			{contract.OIDCRedirectURL, o.RedirectURL}, {contract.OIDCRoles, roles}} {
			if k.v != "" {
				r.Bad(k.name, "set without %s: single sign-on needs its issuer", contract.OIDCIssuer)
			}
		}
		return
	}
	if roles != "" {
		m, err := oidc.ParseRoles(roles)
		if err != nil {
			r.Bad(contract.OIDCRoles, "%v", err)
		}
		o.Roles = m
	}
	keys := map[string]string{"issuer": contract.OIDCIssuer, "client_id": contract.OIDCClientID, "client_secret": contract.OIDCClientSecret,
		"redirect_url": contract.OIDCRedirectURL, "groups_claim": contract.OIDCGroupsClaim, "roles": contract.OIDCRoles, "scopes": contract.OIDCScopes,
		"session_ttl": contract.SessionTTL, "session_idle": contract.SessionIdle, "clock_skew": contract.OIDCClockSkew}
	for field, msg := range o.Validate() {
		if field == "roles" && roles != "" {
			continue // already named
		}
		r.Bad(keys[field], "%s", msg)
	}
	c.OIDC = &o
}
