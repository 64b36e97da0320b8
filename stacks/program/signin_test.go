package program_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

// signInConfig is a stack's sign-in keys, as `pulumi config set` writes
// them (arrays as JSON), without the client secret: plan stands in for it
// as for every secret it cannot decrypt.
var signInConfig = map[string]string{
	"nano:oidcIssuer": "https://login.example.com/realms/acme", "nano:oidcClientId": "nano",
	"nano:oidcRoles": `["soc-admins=acme:admin","soc-viewers=acme:viewer"]`, "nano:oidcScopes": `["groups"]`,
	"nano:auditRetentionDays": "730",
}

func planWithSignIn(t *testing.T, stack string, extra map[string]string) (*program.Result, error) {
	t.Helper()
	_, cfg, err := stackfile.Load(projectDir, stack)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(cfg.Values, signInConfig)
	maps.Copy(cfg.Values, extra)
	return program.PlanConfig("nano", stack, cfg)
}

// Every kind of deployment takes the sign-in keys: a Compose host's api
// gets them (and its client secret as a file) in its user data, a
// cluster's api from its env and SecretOIDC, with the redirect URL under
// the deployment's web URL.
func TestSignInReachesEveryTier(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		stack, domain string
	}{
		{"hobby-hetzner", ""}, {"startup-hetzner", "logs.example.com"}, {"growth-hetzner", "logs.example.com"},
		{"team-gcp", "logs.example.com"}, {"pro-aws", "logs.example.com"}, {"enterprise-kubernetes", "logs.example.com"},
	} {
		t.Run(c.stack, func(t *testing.T) {
			extra := map[string]string{}
			if c.domain != "" {
				extra["nano:domain"] = c.domain
			}
			r, err := planWithSignIn(t, c.stack, extra)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(r.OfflineSecrets, "nano:oidcClientSecret") {
				t.Errorf("plan stood in for %v, not the client secret", r.OfflineSecrets)
			}
			if r.Settings.SignIn == nil || r.Settings.Tier.Retention.AuditDays != 730 {
				t.Fatalf("settings: sign-in %+v, audit days %d", r.Settings.SignIn, r.Settings.Tier.Retention.AuditDays)
			}
			if servers := r.ByType("hcloud:index/server:Server"); r.Settings.Tier.Kind == "compose" {
				ud := str(t, one(t, r, "hcloud:index/server:Server"), "userData")
				for _, want := range []string{"NANO_OIDC_ISSUER: https://login.example.com/realms/acme",
					"NANO_OIDC_REDIRECT_URL: https://" + map[bool]string{true: c.domain, false: "192.0.2.10"}[c.domain != ""] + "/api/v1/auth/callback",
					`NANO_OIDC_ROLES: '["soc-admins=acme:admin","soc-viewers=acme:viewer"]'`, "NANO_AUDIT_RETENTION_DAYS: \"730\"",
					"path: /opt/nano/secrets/api/oidc-client-secret", "content: planned-offline"} {
					if !strings.Contains(ud, want) {
						t.Errorf("the user data lacks %q", want)
					}
				}
				return
			} else if len(servers) > 1 {
				t.Fatalf("%d servers", len(servers))
			}
			var api, secret bool
			for _, res := range r.Resources {
				text := fmt.Sprint(res.Inputs.Mappable())
				switch {
				case res.Type == "kubernetes:apps/v1:Deployment" && strings.Contains(text, "name:api "):
					api = strings.Contains(text, "NANO_OIDC_REDIRECT_URL value:https://logs.example.com/api/v1/auth/callback") &&
						strings.Contains(text, "NANO_OIDC_CLIENT_SECRET_FILE value:/etc/nano/secrets/oidc/client-secret") &&
						strings.Contains(text, "NANO_AUDIT_RETENTION_DAYS value:730")
				case res.Type == "kubernetes:core/v1:Secret" && strings.Contains(text, "name:"+kubeobjects.SecretOIDC+" "):
					secret = res.Inputs["stringData"].IsSecret()
				}
			}
			if !api || !secret {
				t.Errorf("the api's sign-in env: %v; %s as a secret: %v", api, kubeobjects.SecretOIDC, secret)
			}
		})
	}
}

// A cluster tier without a domain has no web URL to come back to: the
// plan fails before registering anything, naming the key.
func TestSignInNeedsADomainOnClusters(t *testing.T) {
	t.Parallel()
	_, err := planWithSignIn(t, "team-gcp", nil)
	if err == nil || !strings.Contains(err.Error(), `nano:oidcIssuer: tier "team" serves the UI only at nano:domain`) {
		t.Errorf("team without a domain: %v", err)
	}
	_, err = planWithSignIn(t, "hobby-hetzner", map[string]string{"nano:oidcIssuer": "http://login.example.com"})
	if err == nil || !strings.Contains(err.Error(), `nano:oidcIssuer: "http://login.example.com" is not an https URL`) {
		t.Errorf("an http issuer: %v", err)
	}
}
