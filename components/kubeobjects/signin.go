package kubeobjects

import (
	"strconv"

	"github.com/nanosiem/nano/services/contract"
)

// SecretOIDC holds the identity provider's client secret (key
// OIDCKeyClientSecret), mounted by the api only.
const (
	SecretOIDC          = "nano-oidc"
	OIDCKeyClientSecret = "client-secret"
)

// signIn adds the api's sign-in settings (docs/security/sign-in.md), its redirect
// URL under the domain, and the audit trail's retention to its env, and
// the client secret's Secret to its mounts.
func (s Spec) signIn(env map[string]string, secrets map[string]string) {
	if days := s.Tier.Retention.AuditDays; days > 0 {
		env[contract.AuditRetentionDays] = strconv.Itoa(days)
	}
	if s.SignIn == nil {
		return
	}
	for k, v := range s.SignIn.Env(s.Domain) {
		env[k] = v
	}
	env[contract.OIDCClientSecretFile] = "/etc/nano/secrets/oidc/" + OIDCKeyClientSecret
	secrets[SecretOIDC] = "oidc"
}
