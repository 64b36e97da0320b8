package composefiles

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

const testOIDCSecret = "oidcClientSecretTEST-$HOME-'quoted' #x"

func testSignIn() *settings.SignIn {
	return &settings.SignIn{Issuer: "https://login.example.com/realms/acme", ClientID: "nano", ClientSecret: "not-from-here",
		GroupsClaim: "groups", Roles: []string{"soc-admins=acme:admin", "soc=acme:analyst"}, Scopes: []string{"groups"}}
}

// The api gets the provider's settings, the redirect URL under the host,
// and its client secret as a file of its own secrets directory (which
// takes any character, unlike .env); compose.yaml and .env never hold it.
func TestSignInRendered(t *testing.T) {
	t.Parallel()
	for _, domain := range []string{"", "logs.example.com"} {
		p := params(t, tier.Hobby, domain)
		p.SignIn = testSignIn()
		// A group whose name looks like an interpolation stays that name.
		p.SignIn.Roles = append(p.SignIn.Roles, "${API_ADMIN_TOKEN}=acme:viewer")
		p.Tier.Retention.AuditDays = 400
		secrets := testSecrets
		secrets.OIDCClientSecret = testOIDCSecret
		proj := loadComposeWith(t, p, secrets)
		env := proj.Services["api"].Environment
		get := func(k string) string {
			if v := env[k]; v != nil {
				return *v
			}
			return "<unset>"
		}
		want := map[string]string{
			contract.OIDCIssuer: "https://login.example.com/realms/acme", contract.OIDCClientID: "nano",
			contract.OIDCRedirectURL: "https://" + p.Host + "/api/v1/auth/callback", contract.OIDCGroupsClaim: "groups",
			contract.OIDCScopes: "groups", contract.OIDCClientSecretFile: secretsMount + "/" + secretOIDC,
			contract.AuditRetentionDays: "400", contract.OIDCClientSecret: "<unset>",
		}
		for k, v := range want {
			if got := get(k); got != v {
				t.Errorf("%s: api %s=%q, want %q", domain, k, got, v)
			}
		}
		var roles []string
		if err := json.Unmarshal([]byte(get(contract.OIDCRoles)), &roles); err != nil || len(roles) != 3 || roles[2] != "${API_ADMIN_TOKEN}=acme:viewer" {
			t.Errorf("%s: roles after Compose's interpolation %q (%v), want the configured three with the third verbatim", domain, get(contract.OIDCRoles), err)
		}
		for _, svc := range []string{"search", "web", "ingest"} {
			for k := range proj.Services[svc].Environment {
				if strings.HasPrefix(k, "NANO_OIDC_") {
					t.Errorf("%s gets %s", svc, k)
				}
			}
		}
		files, err := ServiceSecrets(p, secrets)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, f := range files {
			if strings.HasSuffix(f.Path, "/"+secretOIDC) {
				found++
				if f.Path != secretsDir+"/api/"+secretOIDC || f.Content != testOIDCSecret || f.UID != 65532 {
					t.Errorf("the client secret's file %+v, want the api's own", f)
				}
			}
		}
		if found != 1 {
			t.Errorf("%d client secret files, want 1", found)
		}
		compose, _ := Compose(p)
		envFile, _ := Env(secrets)
		for name, b := range map[string][]byte{"compose.yaml": compose, ".env": envFile} {
			if bytes.Contains(b, []byte("oidcClientSecretTEST")) || bytes.Contains(b, []byte("not-from-here")) {
				t.Errorf("%s holds the client secret", name)
			}
		}
		ci, err := CloudInit(p, secrets)
		if err != nil {
			t.Fatal(err)
		}
		var cfg cloudConfig
		if err := yaml.Unmarshal(ci[len("#cloud-config\n"):], &cfg); err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, f := range cfg.WriteFiles {
			if f.Path == ProjectDir+"/"+secretsDir+"/api/"+secretOIDC {
				ok = f.Content == testOIDCSecret && f.Permissions == "0400"
			}
		}
		if !ok {
			t.Errorf("cloud-init does not write the client secret, mode 0400, for the api")
		}
	}
}

// Without sign-in the api runs as before (token sign-in); a secret
// without the settings, or the settings without it, is refused.
func TestSignInOffAndHalfConfigured(t *testing.T) {
	t.Parallel()
	p := params(t, tier.Hobby, "")
	proj := loadCompose(t, p)
	for k := range proj.Services["api"].Environment {
		if strings.HasPrefix(k, "NANO_OIDC_") || k == contract.AuditRetentionDays {
			t.Errorf("api gets %s without sign-in configured", k)
		}
	}
	secrets := testSecrets
	secrets.OIDCClientSecret = testOIDCSecret
	if _, err := CloudInit(p, secrets); err == nil || !strings.Contains(err.Error(), "single sign-on") {
		t.Errorf("a client secret without sign-in: %v", err)
	}
	p.SignIn = testSignIn()
	if _, err := CloudInit(p, testSecrets); err == nil || !strings.Contains(err.Error(), "single sign-on") {
		t.Errorf("sign-in without its client secret: %v", err)
	}
}
