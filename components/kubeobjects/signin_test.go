package kubeobjects

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

const testClientSecret = "oidcClientSecretNEVERRENDERED"

func testSignIn() *settings.SignIn {
	return &settings.SignIn{Issuer: "https://login.example.com/realms/acme", ClientID: "nano", ClientSecret: testClientSecret,
		GroupsClaim: "groups", Roles: []string{"soc-admins=acme:admin", "soc=acme:analyst"}, Scopes: []string{"groups"}}
}

// With sign-in the api (only) gets the provider's settings, the redirect
// URL under the domain and its client secret as a file of SecretOIDC; no
// object carries the secret itself (the Platform makes SecretOIDC).
func TestSignInOnEveryKubernetesTier(t *testing.T) {
	t.Parallel()
	for _, name := range kubeTiers {
		s := specFor(t, name)
		s.SignIn = testSignIn()
		s.Tier.Retention.AuditDays = 500
		objs := objects(t, s)
		pod := fmt.Sprint(get(t, find(t, objs, "Deployment", "api"), "spec", "template", "spec"))
		for _, want := range []string{
			contract.OIDCIssuer + " value:https://login.example.com/realms/acme",
			contract.OIDCClientID + " value:nano",
			contract.OIDCRedirectURL + " value:https://logs.example.com/api/v1/auth/callback",
			contract.OIDCGroupsClaim + " value:groups",
			contract.OIDCRoles + ` value:["soc-admins=acme:admin","soc=acme:analyst"]`,
			contract.OIDCScopes + " value:groups",
			contract.OIDCClientSecretFile + " value:/etc/nano/secrets/oidc/" + OIDCKeyClientSecret,
			contract.AuditRetentionDays + " value:500",
			"secretName:" + SecretOIDC,
		} {
			if !strings.Contains(pod, want) {
				t.Errorf("%s: the api pod has no %q", name, want)
			}
		}
		for _, svc := range []string{"search", "web", "ingest"} {
			if p := fmt.Sprint(get(t, find(t, objs, "Deployment", svc), "spec", "template", "spec")); strings.Contains(p, "NANO_OIDC_") || strings.Contains(p, SecretOIDC) {
				t.Errorf("%s: %s gets the sign-in settings", name, svc)
			}
		}
		for _, o := range objs {
			y, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(y), testClientSecret) {
				t.Errorf("%s: %s %s holds the client secret", name, o.Kind(), o.Name())
			}
		}
	}
}

func TestSignInOffAndWithoutADomain(t *testing.T) {
	t.Parallel()
	s := specFor(t, tier.Growth)
	pod := fmt.Sprint(get(t, find(t, objects(t, s), "Deployment", "api"), "spec", "template", "spec"))
	if strings.Contains(pod, "NANO_OIDC_") || strings.Contains(pod, contract.AuditRetentionDays) {
		t.Errorf("without sign-in the api gets its settings: %s", pod)
	}
	s.SignIn, s.Domain = testSignIn(), ""
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "single sign-on needs a domain") {
		t.Errorf("sign-in without a domain: %v", err)
	}
}
