package composefiles

import (
	"strconv"
	"strings"

	"github.com/nanosiem/nano/services/contract"
)

// secretOIDC is the file, in the api's secrets directory, holding the
// identity provider's client secret.
const secretOIDC = "oidc-client-secret"

// withSignIn adds the api's sign-in settings (docs/security/sign-in.md), its
// redirect URL under the deployment's host, and the audit trail's
// retention to env. Compose interpolates "$" in compose.yaml, so each is
// escaped as "$$": a group named "${API_ADMIN_TOKEN}" stays that name.
func withSignIn(p Params, env map[string]string) map[string]string {
	if days := p.Tier.Retention.AuditDays; days > 0 {
		env[contract.AuditRetentionDays] = strconv.Itoa(days)
	}
	if p.SignIn == nil {
		return env
	}
	for k, v := range p.SignIn.Env(p.Host) {
		env[k] = strings.ReplaceAll(v, "$", "$$")
	}
	env[contract.OIDCClientSecretFile] = secretsMount + "/" + secretOIDC
	return env
}
