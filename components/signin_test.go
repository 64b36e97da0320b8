package components

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
)

const testClientSecret = "oidcClientSecretOfTheTest"

func testSignIn() *settings.SignIn {
	return &settings.SignIn{Issuer: "https://login.example.com/realms/acme", ClientID: "nano", ClientSecret: testClientSecret,
		GroupsClaim: "groups", Roles: []string{"soc=acme:analyst"}}
}

// The Platform keeps the client secret in SecretOIDC, as a secret; the
// objects only name it.
func TestPlatformKeepsTheClientSecretInASecret(t *testing.T) {
	t.Parallel()
	found, issuer := false, false
	for _, r := range runPlatform(t, tier.Team, func(a *PlatformArgs) { a.Spec.SignIn, a.Spec.Domain = testSignIn(), "logs.example.com" }) {
		if r.Type != "kubernetes:core/v1:Secret" {
			text := fmt.Sprint(r.Inputs.Mappable())
			if strings.Contains(text, testClientSecret) {
				t.Errorf("%s holds the client secret", r.Name)
			}
			issuer = issuer || strings.Contains(text, "NANO_OIDC_ISSUER value:https://login.example.com/realms/acme")
			continue
		}
		if r.Inputs["metadata"].ObjectValue()["name"].StringValue() != kubeobjects.SecretOIDC {
			continue
		}
		found = true
		data := r.Inputs["stringData"]
		if !data.IsSecret() {
			t.Errorf("%s's data is not a secret", kubeobjects.SecretOIDC)
			continue
		}
		v := data.SecretValue().Element.ObjectValue()[kubeobjects.OIDCKeyClientSecret]
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if v.StringValue() != testClientSecret {
			t.Errorf("%s holds %q", kubeobjects.SecretOIDC, v.StringValue())
		}
	}
	if !found || !issuer {
		t.Errorf("%s made: %v; the api's issuer registered: %v", kubeobjects.SecretOIDC, found, issuer)
	}
	for _, r := range runPlatform(t, tier.Team) {
		if r.Type == "kubernetes:core/v1:Secret" && r.Inputs["metadata"].ObjectValue()["name"].StringValue() == kubeobjects.SecretOIDC {
			t.Errorf("%s without sign-in", kubeobjects.SecretOIDC)
		}
	}
	err := (&PlatformArgs{Spec: func() kubeobjects.Spec {
		s := platformSpec(t, tier.Growth)
		s.Domain, s.SignIn = "logs.example.com", &settings.SignIn{Issuer: "https://login.example.com"}
		return s
	}(), Provider: nil}).validate()
	if err == nil || !strings.Contains(err.Error(), "single sign-on needs its client secret") {
		t.Errorf("sign-in without its client secret: %v", err)
	}
}

// A Compose host renders the sign-in settings, the redirect URL under its
// public address, and the client secret as the api's secret file, into
// its (secret) user data.
func TestComposeHostSignIn(t *testing.T) {
	t.Parallel()
	mocks := &mockmonitor.Recorder{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		args := hobbyArgs()
		args.SignIn = testSignIn()
		_, err := NewComposeHost(ctx, "demo", args)
		return err
	}, pulumi.WithMocks("nano", "test", mocks))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mocks.Resources() {
		if r.Type != "hcloud:index/server:Server" {
			continue
		}
		ud := r.Inputs["userData"]
		if !ud.IsSecret() {
			t.Fatal("the user data is not a secret")
		}
		text := ud.SecretValue().Element.StringValue()
		for _, want := range []string{"NANO_OIDC_REDIRECT_URL: https://192.0.2.10/api/v1/auth/callback", "NANO_OIDC_ISSUER: https://login.example.com/realms/acme",
			"path: /opt/nano/secrets/api/oidc-client-secret", "content: " + testClientSecret} {
			if !strings.Contains(text, want) {
				t.Errorf("the user data has no %q", want)
			}
		}
		return
	}
	t.Fatal("no server")
}
