package components

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
)

func hobbyArgs() *ComposeHostArgs {
	spec, _ := tier.Lookup(tier.Hobby)
	return &ComposeHostArgs{HetznerHostArgs: HetznerHostArgs{
		Deployment: "demo", Tier: spec, Location: "nbg1", ServerType: "ccx13",
		Images: settings.Images{API: "r/api:1", Search: "r/search:1", Ingest: "r/ingest:1", Web: "r/web:1"},
	}}
}

// The component's secret outputs stay secret, and its URLs use the
// catalog's ports.
func TestComposeHostOutputs(t *testing.T) {
	t.Parallel()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		host, err := NewComposeHost(ctx, "demo", hobbyArgs())
		if err != nil {
			return err
		}
		await := func(name string, o pulumi.Output) internals.UnsafeAwaitOutputResult {
			r, err := internals.UnsafeAwaitOutput(context.Background(), o)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return r
		}
		for name, o := range map[string]pulumi.Output{
			"ingestToken": host.IngestToken, "hecToken": host.HECToken, "adminToken": host.AdminToken,
			"aggregatorKey": host.AggregatorKey, "sshPrivateKey": host.SSHPrivateKey,
		} {
			if !await(name, o).Secret {
				t.Errorf("%s is not a secret", name)
			}
		}
		if r := await("adminToken", host.AdminToken); !authtoken.Wellformed(fmt.Sprint(r.Value)) {
			t.Errorf("adminToken %q is not an api token", r.Value)
		}
		for name, c := range map[string]struct {
			o    pulumi.StringOutput
			want string
		}{
			"ingestHttpUrl": {host.IngestHTTPURL, "https://192.0.2.10:8080"},
			"ingestHecUrl":  {host.IngestHECURL, "https://192.0.2.10:8088"},
			"native":        {host.IngestNativeAddress, "192.0.2.10:6000"},
			"otlp":          {host.IngestOTLPAddress, "192.0.2.10:4317"},
			"apiUrl":        {host.APIURL, "https://192.0.2.10/api"},
			"searchUrl":     {host.SearchURL, "https://192.0.2.10/search"},
			"webUrl":        {host.WebURL, "https://192.0.2.10/"},
		} {
			if r := await(name, c.o); r.Value != c.want || r.Secret {
				t.Errorf("%s = %v (secret %v), want %s", name, r.Value, r.Secret, c.want)
			}
		}
		return nil
	}, pulumi.WithMocks("nano", "test", &mockmonitor.Recorder{}))
	if err != nil {
		t.Fatal(err)
	}
}

func TestComposeHostArgsValidate(t *testing.T) {
	t.Parallel()
	a := hobbyArgs()
	growth, _ := tier.Lookup(tier.Growth)
	a.Tier, a.Location, a.ServerType, a.SSHAllowedCIDRs = growth, "mars1", "", []string{"0.0.0.0/0"}
	a.Images.API = ""
	err := a.validate()
	if err == nil {
		t.Fatal("invalid args accepted")
	}
	for _, want := range []string{`tier "growth" is deployed as "single-pool"`, `unknown Hetzner location "mars1"`,
		"server type is required", "api, search, ingest and web images are required", `SSH CIDR "0.0.0.0/0"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not say %q", err, want)
		}
	}
	if err := hobbyArgs().validate(); err != nil {
		t.Errorf("valid args rejected: %v", err)
	}
}

// Both Hetzner components check the shared host fields the same way.
func TestSinglePoolClusterArgsValidate(t *testing.T) {
	t.Parallel()
	growth, _ := tier.Lookup(tier.Growth)
	a := &SinglePoolClusterArgs{HetznerHostArgs: hobbyArgs().HetznerHostArgs}
	a.Tier, a.SSHAllowedCIDRs, a.APIAllowedCIDRs = growth, []string{"0.0.0.0/0"}, []string{"not-a-cidr"}
	err := a.validate()
	if err == nil {
		t.Fatal("invalid args accepted")
	}
	for _, want := range []string{`SinglePoolCluster: SSH CIDR "0.0.0.0/0" must be a network narrower`,
		`"not-a-cidr" is not a CIDR`, "the Hetzner API token is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not say %q", err, want)
		}
	}
}
