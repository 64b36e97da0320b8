// Package program is nano's Pulumi program: it reads the stack's config,
// validates it against the tier catalog and builds the tier's component.
// main.go runs it under `pulumi up`; `go run . plan` runs it offline with
// mocks; the provisioning endpoint runs it inline through the Automation API.
package program

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/nanosiem/nano/components"
	"github.com/nanosiem/nano/components/settings"
	"github.com/nanosiem/nano/components/tier"
)

// Run is the program. Invalid config fails before any resource is
// registered, with every problem named by its key.
func Run(ctx *pulumi.Context) error {
	s, err := settings.Load(ctx.Stack(), config.New(ctx, settings.Namespace).Get)
	if err != nil {
		return err
	}
	return Deploy(ctx, s)
}

// Deploy builds the component of the settings' tier and exports its outputs.
func Deploy(ctx *pulumi.Context, s settings.Settings) error {
	switch s.Tier.Kind {
	case tier.Compose:
		host, err := components.NewComposeHost(ctx, s.Deployment, components.ComposeHostArgsFrom(s))
		if err != nil {
			return err
		}
		ctx.Export("tier", pulumi.String(s.Tier.Name))
		ctx.Export("publicIp", host.PublicIP)
		ctx.Export("apiUrl", host.APIURL)
		ctx.Export("searchUrl", host.SearchURL)
		ctx.Export("ingestHttpUrl", host.IngestHTTPURL)
		ctx.Export("ingestHecUrl", host.IngestHECURL)
		ctx.Export("ingestNativeAddress", host.IngestNativeAddress)
		exportIngest(ctx, s, host.IngestOutputs, host.SSHPrivateKey)
		return nil
	case tier.SinglePool:
		c, err := components.NewSinglePoolCluster(ctx, s.Deployment, components.SinglePoolClusterArgsFrom(s, hcloudToken(ctx)))
		if err != nil {
			return err
		}
		ctx.Export("tier", pulumi.String(s.Tier.Name))
		ctx.Export("publicIp", c.PublicIP)
		ctx.Export("kubeconfig", c.Kubeconfig)
		ctx.Export("apiUrl", c.APIURL)
		ctx.Export("searchUrl", c.SearchURL)
		ctx.Export("ingestHttpUrl", c.IngestHTTPURL)
		ctx.Export("ingestHecUrl", c.IngestHECURL)
		ctx.Export("ingestNativeAddress", c.IngestNativeAddress)
		exportIngest(ctx, s, c.IngestOutputs, c.SSHPrivateKey)
		return nil
	default:
		return fmt.Errorf("%s:%s: tier %q is deployed as %s, which this version of nano cannot build yet; deployable now: %s, %s, %s",
			settings.Namespace, settings.KeyTier, s.Tier.Name, s.Tier.Kind, tier.Hobby, tier.Startup, tier.Growth)
	}
}

// exportIngest exports the ingest credentials every deployment has.
func exportIngest(ctx *pulumi.Context, s settings.Settings, o components.IngestOutputs, sshPrivateKey pulumi.StringOutput) {
	ctx.Export("ingestToken", o.IngestToken)
	ctx.Export("hecToken", o.HECToken)
	ctx.Export("nativeCaCert", o.NativeCACert)
	ctx.Export("aggregatorCert", o.AggregatorCert)
	ctx.Export("aggregatorKey", o.AggregatorKey)
	if s.SSHPublicKey == "" {
		ctx.Export("sshPrivateKey", sshPrivateKey)
	}
}

// hcloudToken is the Hetzner token the program's hcloud provider uses
// (hcloud:token, else HCLOUD_TOKEN), handed to in-cluster Hetzner drivers.
func hcloudToken(ctx *pulumi.Context) pulumi.StringOutput {
	token := config.New(ctx, "hcloud").GetSecret("token")
	return pulumi.ToSecret(token.ApplyT(func(t string) string {
		if t == "" {
			return os.Getenv("HCLOUD_TOKEN")
		}
		return t
	})).(pulumi.StringOutput)
}
