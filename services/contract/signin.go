package contract

// Sign-in through the deployment's identity provider (OpenID Connect) and
// the audit trail, read by the api (docs/security/sign-in.md). Without OIDCIssuer
// people sign into the UI with API tokens only.
const (
	OIDCIssuer           = "NANO_OIDC_ISSUER"             // the provider's issuer URL (https)
	OIDCClientID         = "NANO_OIDC_CLIENT_ID"          // nano's client at the provider
	OIDCClientSecret     = "NANO_OIDC_CLIENT_SECRET"      // its secret
	OIDCClientSecretFile = "NANO_OIDC_CLIENT_SECRET_FILE" // or a file holding it
	// OIDCRedirectURL is <web URL>/api/v1/auth/callback: the components
	// derive it from the deployment's web URL.
	OIDCRedirectURL = "NANO_OIDC_REDIRECT_URL"
	OIDCGroupsClaim = "NANO_OIDC_GROUPS_CLAIM" // the ID token claim with the user's groups (groups)
	// OIDCRoles maps groups to roles per tenant: a JSON array of
	// "group=tenant:role" (role viewer, analyst or admin).
	OIDCRoles     = "NANO_OIDC_ROLES"
	OIDCScopes    = "NANO_OIDC_SCOPES"     // scopes besides openid, email and profile, comma-separated (none)
	OIDCClockSkew = "NANO_OIDC_CLOCK_SKEW" // the provider's clock may be this far off (30s, at most 5m)
	SessionTTL    = "NANO_SESSION_TTL"     // a browser session's absolute lifetime (8h, at most 24h)
	SessionIdle   = "NANO_SESSION_IDLE"    // and how long it lasts unused (1h)
	// AuditRetentionDays is how long the audit trail is kept (400; 30 to
	// 3650): whole months older than it are dropped.
	AuditRetentionDays = "NANO_AUDIT_RETENTION_DAYS"
	// TrustedProxies are CIDRs (comma-separated) whose X-Forwarded-For
	// names the client in the audit trail (loopback and private ranges).
	TrustedProxies = "NANO_TRUSTED_PROXIES"
)
