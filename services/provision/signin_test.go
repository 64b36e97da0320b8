package provision

import (
	"encoding/json"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
)

// A request takes the sign-in keys like any of nano's: the client secret
// is kept as a secret even when sent in "config", and never in the
// deployment's record; the rest is plain config.
func TestSignInKeysAreTaken(t *testing.T) {
	harness.Servers(t)
	r := newKeyRules(ProgramConfigKeys())
	for _, k := range []string{"nano:oidcIssuer", "nano:oidcClientId", "nano:oidcClientSecret", "nano:oidcGroupsClaim", "nano:oidcRoles",
		"nano:oidcScopes", "nano:auditRetentionDays"} {
		if p := r.problem("config."+k, k, "hetzner"); p != nil {
			t.Errorf("%s: %s", k, p)
		}
		if want := k == "nano:oidcClientSecret"; r.secret(k) != want {
			t.Errorf("%s: kept secret %v, want %v", k, r.secret(k), want)
		}
	}
	m := newManager(t, t.TempDir(), 1)
	req := hobby("sso")
	req.Config = map[string]string{"oidcIssuer": "https://login.example.com/realms/acme", "oidcClientId": "nano",
		"oidcRoles": `["soc-admins=acme:admin"]`, "oidcClientSecret": "client-secret-in-config", "auditRetentionDays": "730"}
	d, secrets, err := m.plan(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secrets["nano:oidcClientSecret"] != "client-secret-in-config" || d.Config["nano:oidcIssuer"] != "https://login.example.com/realms/acme" ||
		d.Config["nano:oidcRoles"] != `["soc-admins=acme:admin"]` {
		t.Errorf("record config %v, secrets %v", d.Config, secrets)
	}
	if b, _ := json.Marshal(d); strings.Contains(string(b), "client-secret-in-config") {
		t.Errorf("the record holds the client secret: %s", b)
	}
}
