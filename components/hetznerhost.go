package components

import (
	"net/netip"

	"github.com/pulumi/pulumi-hcloud/sdk/go/hcloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// HetznerHostArgs are what every component that runs nano on its own
// Hetzner server needs (ComposeHost, SinglePoolCluster).
type HetznerHostArgs struct {
	// Deployment names the deployment (resource names, labels).
	Deployment string
	// Tier is the tier's catalog entry (with overrides).
	Tier tier.Spec
	// Location is the Hetzner location (fsn1, nbg1, hel1, ash, hil, sin).
	Location string
	// ServerType is the Hetzner server type; settings pick it from the
	// tier's machine size (ccx13 Hobby, ccx23 Startup, cx33 Growth).
	ServerType string
	// Domain, when set, is the DNS name users point at the server; it gets
	// a publicly trusted certificate.
	Domain string
	Images settings.Images
	// SSHAllowedCIDRs may reach port 22; empty closes SSH.
	SSHAllowedCIDRs []string
	// SSHPublicKey is the admin key; empty generates an ED25519 key pair.
	SSHPublicKey string
	// ProtectData marks what holds the data protected (nano:protectData).
	ProtectData bool
	// SignIn is the identity provider people sign in through (nil: API
	// tokens only); its client secret goes into the api's secrets only.
	SignIn *settings.SignIn
}

func hetznerHostArgsFrom(s settings.Settings) HetznerHostArgs {
	return HetznerHostArgs{
		Deployment: s.Deployment, Tier: s.Tier, Location: s.Region, ServerType: s.MachineType,
		Domain: s.Domain, Images: s.Images, SSHAllowedCIDRs: s.SSHAllowedCIDRs, SSHPublicKey: s.SSHPublicKey,
		ProtectData: s.ProtectData, SignIn: s.SignIn,
	}
}

// validate reports the problems of the shared fields through bad.
func (a HetznerHostArgs) validate(bad func(format string, args ...any)) {
	if a.Deployment == "" {
		bad("deployment name is required")
	}
	if _, ok := settings.HetznerLocations[a.Location]; !ok {
		bad("unknown Hetzner location %q", a.Location)
	}
	if a.ServerType == "" {
		bad("server type is required")
	}
	if a.Images.API == "" || a.Images.Search == "" || a.Images.Ingest == "" || a.Images.Web == "" {
		bad("api, search, ingest and web images are required")
	}
	for _, c := range a.SSHAllowedCIDRs {
		if p, err := netip.ParsePrefix(c); err != nil || p.Bits() == 0 {
			bad("SSH CIDR %q must be a network narrower than the whole internet", c)
		}
	}
}

// newPrimaryIPv4 is the server's public IPv4, created before the server: it
// is known to the TLS certificates and cloud-init up front, and survives a
// server replacement.
func newPrimaryIPv4(ctx *pulumi.Context, name, location string, labels pulumi.StringMap, parent pulumi.ResourceOption) (*hcloud.PrimaryIp, error) {
	return hcloud.NewPrimaryIp(ctx, name+"-ipv4", &hcloud.PrimaryIpArgs{
		Type: pulumi.String("ipv4"), Datacenter: pulumi.String(settings.HetznerLocations[location].Datacenter),
		AssigneeType: pulumi.String("server"), AutoDelete: pulumi.Bool(false), Labels: labels,
	}, parent)
}
