package program

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/nanosiem/nano/components"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Run is the program. Invalid config fails before any resource is
// registered, with every problem named by its key.
func Run(ctx *pulumi.Context) error {
	s, err := Settings(ctx)
	if err != nil {
		return err
	}
	return Deploy(ctx, s)
}

// Settings loads the stack's validated settings from its config, refusing
// a secret key set in plaintext (settings.PlaintextSecrets: the CLI does
// not, as Pulumi.yaml leaves these optional keys untyped).
func Settings(ctx *pulumi.Context) (settings.Settings, error) {
	get := config.New(ctx, settings.Namespace).Get
	if err := settings.PlaintextSecrets(get, ctx.IsConfigSecret); err != nil {
		return settings.Settings{}, fmt.Errorf("invalid configuration for stack %q:\n%w", ctx.Stack(), err)
	}
	return settings.Load(ctx.Stack(), get)
}

// Deploy builds the component of the settings' tier, behind the tier
// guard, and exports its outputs.
func Deploy(ctx *pulumi.Context, s settings.Settings) error {
	var clusterToken pulumi.StringOutput
	if s.Tier.Kind == tier.SinglePool && s.Provider == tier.Hetzner {
		t, err := growthHcloudToken(ctx)
		if err != nil {
			return err
		}
		clusterToken = t
	}
	guard, err := tierGuard(ctx, s)
	if err != nil {
		return err
	}
	after := pulumi.DependsOn([]pulumi.Resource{guard})
	if s.Provider == tier.Kubernetes {
		c, err := components.NewExistingCluster(ctx, s.Deployment, &components.ExistingClusterArgs{Settings: s}, after)
		if err != nil {
			return err
		}
		exportCloud(ctx, s, c.CloudClusterOutputs)
		return nil
	}
	switch s.Tier.Kind {
	case tier.Compose:
		host, err := components.NewComposeHost(ctx, s.Deployment, components.ComposeHostArgsFrom(s), after)
		if err != nil {
			return err
		}
		export(ctx, s, host.Endpoints, host.AccessOutputs)
		return nil
	case tier.SinglePool:
		c, err := components.NewSinglePoolCluster(ctx, s.Deployment, components.SinglePoolClusterArgsFrom(s, clusterToken), after)
		if err != nil {
			return err
		}
		ctx.Export("kubeconfig", c.Kubeconfig)
		export(ctx, s, c.Endpoints, c.AccessOutputs)
		return nil
	case tier.HA:
		c, err := components.NewHACluster(ctx, s.Deployment, &components.HAClusterArgs{Settings: s}, after)
		if err != nil {
			return err
		}
		exportCloud(ctx, s, c.CloudClusterOutputs)
		return nil
	case tier.MultiPool:
		c, err := components.NewMultiPoolCluster(ctx, s.Deployment, &components.MultiPoolClusterArgs{Settings: s}, after)
		if err != nil {
			return err
		}
		exportCloud(ctx, s, c.CloudClusterOutputs)
		return nil
	case tier.Managed:
		c, err := components.NewManagedEnterprise(ctx, s.Deployment, &components.ManagedEnterpriseArgs{Settings: s}, after)
		if err != nil {
			return err
		}
		exportCloud(ctx, s, c.CloudClusterOutputs)
		ctx.Export("clickhousePrivateEndpointId", c.ClickHousePrivateEndpointID)
		return nil
	default:
		return fmt.Errorf("%s:%s: tier %q is deployed as %s, which nano does not know how to build", settings.Namespace, settings.KeyTier, s.Tier.Name, s.Tier.Kind)
	}
}

// exportCloud exports a managed cluster's outputs.
func exportCloud(ctx *pulumi.Context, s settings.Settings, o components.CloudClusterOutputs) {
	ctx.Export("kubeconfig", o.Kubeconfig)
	export(ctx, s, o.Endpoints, o.AccessOutputs)
}

// export exports the tier, the endpoints and the access credentials.
func export(ctx *pulumi.Context, s settings.Settings, e components.Endpoints, o components.AccessOutputs) {
	ctx.Export("tier", pulumi.String(s.Tier.Name))
	ctx.Export("publicIp", e.PublicIP)
	ctx.Export("apiUrl", e.APIURL)
	ctx.Export("searchUrl", e.SearchURL)
	ctx.Export("webUrl", e.WebURL)
	ctx.Export("ingestHttpUrl", e.IngestHTTPURL)
	ctx.Export("ingestHecUrl", e.IngestHECURL)
	ctx.Export("ingestNativeAddress", e.IngestNativeAddress)
	ctx.Export("ingestOtlpAddress", e.IngestOTLPAddress)
	ctx.Export("adminToken", o.AdminToken)
	ctx.Export("ingestToken", o.IngestToken)
	ctx.Export("hecToken", o.HECToken)
	ctx.Export("nativeCaCert", o.NativeCACert)
	ctx.Export("aggregatorCert", o.AggregatorCert)
	ctx.Export("aggregatorKey", o.AggregatorKey)
	if s.Provider == tier.Hetzner && s.SSHPublicKey == "" {
		ctx.Export("sshPrivateKey", e.SSHPrivateKey)
	}
	if s.SignIn != nil {
		// What to register at the identity provider.
		ctx.Export("oidcRedirectUrl", e.WebURL.ApplyT(func(w string) string {
			return strings.TrimSuffix(w, "/") + settings.CallbackPath
		}).(pulumi.StringOutput))
	}
}

// HcloudTokenKey is the hcloud provider's token in the stack's config.
const HcloudTokenKey = "hcloud:token"

// growthHcloudToken is the Hetzner token Growth's cluster keeps (its CSI
// driver creates and attaches volumes with it, from the kube-system/hcloud
// Secret, where a pod that escapes can take it): the deployment's own
// hcloud:token from the stack's config, never HCLOUD_TOKEN from the
// environment, which in Managed mode is the provisioning endpoint's own
// token. Hetzner tokens are project-wide, so the token must be one of a
// project that holds only this deployment (docs/security/exposure.md).
func growthHcloudToken(ctx *pulumi.Context) (pulumi.StringOutput, error) {
	if v, ok := ctx.GetConfig(HcloudTokenKey); !ok || strings.TrimSpace(v) == "" {
		return pulumi.StringOutput{}, fmt.Errorf("%s: required in the stack's config for tier %q on %q: the cluster keeps this token (its volume driver uses it), so it must be the deployment's own, of a Hetzner project that holds only this deployment: pulumi config set --secret %s <token> (the provisioning endpoint: credentials.hcloudToken). HCLOUD_TOKEN from the environment (the provisioning endpoint's own token in Managed mode) is never put into a cluster",
			HcloudTokenKey, tier.Growth, tier.Hetzner, HcloudTokenKey)
	}
	return pulumi.ToSecret(config.New(ctx, "hcloud").GetSecret("token")).(pulumi.StringOutput), nil
}
