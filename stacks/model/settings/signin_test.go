package settings

import (
	"slices"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/contract"
)

// signInKeys are a complete, valid sign-in configuration.
func signInKeys(extra map[string]string) map[string]string {
	m := map[string]string{KeyOIDCIssuer: "https://login.example.com/realms/acme", KeyOIDCClientID: "nano",
		KeyOIDCClientSecret: "s3cret", KeyOIDCRoles: `["soc-admins=acme:admin","soc=acme:analyst"]`}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func merge(a, b map[string]string) map[string]string {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func TestSignInKeys(t *testing.T) {
	t.Parallel()
	s, err := Load("hobby-hetzner", getter(hobby(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if s.SignIn != nil || s.Tier.Retention.AuditDays != 0 {
		t.Errorf("without the keys: sign-in %+v, audit days %d; want none and the api's default", s.SignIn, s.Tier.Retention.AuditDays)
	}
	s, err = Load("hobby-hetzner", getter(hobby(signInKeys(map[string]string{KeyOIDCScopes: `["groups"]`, KeyAuditDays: "730",
		KeyOIDCGroupsClaim: "realm_access.roles"}))))
	if err != nil {
		t.Fatal(err)
	}
	want := SignIn{Issuer: "https://login.example.com/realms/acme", ClientID: "nano", ClientSecret: "s3cret", GroupsClaim: "realm_access.roles",
		Roles: []string{"soc-admins=acme:admin", "soc=acme:analyst"}, Scopes: []string{"groups"}}
	if got := s.SignIn; got == nil || got.Issuer != want.Issuer || got.ClientID != want.ClientID || got.ClientSecret != want.ClientSecret ||
		got.GroupsClaim != want.GroupsClaim || !slices.Equal(got.Roles, want.Roles) || !slices.Equal(got.Scopes, want.Scopes) {
		t.Errorf("sign-in %+v, want %+v", got, want)
	}
	if s.Tier.Retention.AuditDays != 730 {
		t.Errorf("audit days %d, want 730", s.Tier.Retention.AuditDays)
	}
	// The groups claim defaults as Pulumi.yaml says; a Kubernetes tier
	// takes it with a domain.
	s, err = Load("team-gcp", getter(signInKeys(map[string]string{KeyTier: "team", KeyProvider: "gcp", KeyRegion: "europe-west3", KeyDomain: "nano.example.com"})))
	if err != nil {
		t.Fatal(err)
	}
	if s.SignIn == nil || s.SignIn.GroupsClaim != DefaultGroupsClaim || defaultOf(KeyOIDCGroupsClaim) != DefaultGroupsClaim {
		t.Errorf("groups claim %+v, want %q", s.SignIn, DefaultGroupsClaim)
	}
	env := s.SignIn.Env(s.Domain)
	wantEnv := map[string]string{contract.OIDCIssuer: "https://login.example.com/realms/acme", contract.OIDCClientID: "nano",
		contract.OIDCRedirectURL: "https://nano.example.com/api/v1/auth/callback", contract.OIDCGroupsClaim: "groups",
		contract.OIDCRoles: `["soc-admins=acme:admin","soc=acme:analyst"]`}
	if len(env) != len(wantEnv) {
		t.Errorf("env %v, want %v", env, wantEnv)
	}
	for k, v := range wantEnv {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for _, v := range env {
		if strings.Contains(v, "s3cret") {
			t.Errorf("the env carries the client secret: %v", env)
		}
	}
}

func TestSignInRejectsWithClearMessages(t *testing.T) {
	t.Parallel()
	team := map[string]string{KeyTier: "team", KeyProvider: "civo", KeyRegion: "LON1"}
	cases := []struct {
		name string
		cfg  map[string]string
		want []string
	}{
		{"client id alone", hobby(map[string]string{KeyOIDCClientID: "nano"}),
			[]string{"nano:oidcClientId: set without nano:oidcIssuer; single sign-on needs the issuer, client id, client secret and roles, or none of them"}},
		{"secret, roles, scopes and claim alone", hobby(map[string]string{KeyOIDCClientSecret: "x", KeyOIDCRoles: `["a=acme:viewer"]`, KeyOIDCScopes: `["groups"]`, KeyOIDCGroupsClaim: "roles"}),
			[]string{"nano:oidcClientSecret: set without nano:oidcIssuer", "nano:oidcRoles: set without nano:oidcIssuer",
				"nano:oidcScopes: set without nano:oidcIssuer", "nano:oidcGroupsClaim: set without nano:oidcIssuer"}},
		{"issuer alone", hobby(map[string]string{KeyOIDCIssuer: "https://login.example.com"}),
			[]string{"nano:oidcClientId: required", "nano:oidcClientSecret: required with nano:oidcIssuer; set it with: pulumi config set --secret nano:oidcClientSecret <secret>",
				`nano:oidcRoles: required with nano:oidcIssuer`}},
		{"issuer over http", hobby(signInKeys(map[string]string{KeyOIDCIssuer: "http://login.example.com"})),
			[]string{`nano:oidcIssuer: "http://login.example.com" is not an https URL`}},
		{"issuer on loopback", hobby(signInKeys(map[string]string{KeyOIDCIssuer: "http://127.0.0.1:4444"})),
			[]string{`nano:oidcIssuer: "http://127.0.0.1:4444" is not an https URL`}},
		{"issuer with credentials", hobby(signInKeys(map[string]string{KeyOIDCIssuer: "https://u:p@login.example.com"})),
			[]string{`nano:oidcIssuer: "https://u:p@login.example.com" is not an https URL`}},
		{"issuer with a query", hobby(signInKeys(map[string]string{KeyOIDCIssuer: "https://login.example.com/?next=evil"})),
			[]string{`nano:oidcIssuer: "https://login.example.com/?next=evil" is not an https URL`}},
		{"roles not a list", hobby(signInKeys(map[string]string{KeyOIDCRoles: `soc=acme:admin`})),
			[]string{`nano:oidcRoles: must be a list of strings`}},
		{"role unknown", hobby(signInKeys(map[string]string{KeyOIDCRoles: `["soc=acme:root"]`})),
			[]string{`nano:oidcRoles: "soc=acme:root": the role must be one of`}},
		{"tenant malformed", hobby(signInKeys(map[string]string{KeyOIDCRoles: `["soc=Acme Corp:admin"]`})),
			[]string{`nano:oidcRoles: "soc=Acme Corp:admin": "Acme Corp" is not a tenant id`}},
		{"mapping without a group", hobby(signInKeys(map[string]string{KeyOIDCRoles: `["=acme:admin"]`})),
			[]string{`nano:oidcRoles: "=acme:admin" is not group=tenant:role`}},
		{"empty mapping", hobby(signInKeys(map[string]string{KeyOIDCRoles: `[]`})),
			[]string{`nano:oidcRoles: required with nano:oidcIssuer`}},
		{"bad claim", hobby(signInKeys(map[string]string{KeyOIDCGroupsClaim: "groups; drop"})),
			[]string{`nano:oidcGroupsClaim: a claim name such as groups`}},
		{"scope openid again", hobby(signInKeys(map[string]string{KeyOIDCScopes: `["openid"]`})),
			[]string{`nano:oidcScopes: "openid": extra scopes are names like groups`}},
		{"scope with a comma", hobby(signInKeys(map[string]string{KeyOIDCScopes: `["groups,offline_access"]`})),
			[]string{`nano:oidcScopes: "groups,offline_access"`}},
		{"kubernetes tier without a domain", merge(signInKeys(nil), team),
			[]string{`nano:oidcIssuer: tier "team" serves the UI only at nano:domain; set it, and register https://<domain>/api/v1/auth/callback at the provider`}},
		{"audit retention too short", hobby(map[string]string{KeyAuditDays: "7"}),
			[]string{`nano:auditRetentionDays: 7 is outside 30-3650`}},
		{"audit retention too long", hobby(map[string]string{KeyAuditDays: "4000"}),
			[]string{`nano:auditRetentionDays: 4000 is outside 30-3650`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("s", getter(c.cfg))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// The client secret is a secret key (so the provisioning endpoint and the
// program keep it encrypted), and plan stands in for it when it cannot
// decrypt it.
func TestSignInClientSecretIsSecret(t *testing.T) {
	t.Parallel()
	for _, k := range Keys {
		if want := k.Name == KeyOIDCClientSecret; strings.HasPrefix(k.Name, "oidc") && k.Secret != want {
			t.Errorf("%s: secret %v, want %v", k.Name, k.Secret, want)
		}
	}
	cfg := hobby(signInKeys(nil))
	delete(cfg, KeyOIDCClientSecret)
	get, filled := WithOfflineSecrets(getter(cfg))
	if !slices.Equal(filled, []string{KeyOIDCClientSecret}) {
		t.Fatalf("offline secrets %v, want the client secret", filled)
	}
	s, err := Load("hobby-hetzner", get)
	if err != nil {
		t.Fatal(err)
	}
	if s.SignIn.ClientSecret != OfflineSecret {
		t.Errorf("client secret %q, want the offline stand-in", s.SignIn.ClientSecret)
	}
	if err := PlaintextSecrets(getter(hobby(signInKeys(nil))), func(string) bool { return false }); err == nil ||
		!strings.Contains(err.Error(), "nano:oidcClientSecret: is a secret but is set in plaintext") {
		t.Errorf("a plaintext client secret: %v", err)
	}
}
