package components

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-hcloud/sdk/go/hcloud"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/composefiles"
	"github.com/nanosiem/nano/services/contract"
	stacklabels "github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// ComposeHostType is the type token of ComposeHost.
const ComposeHostType = "nano:index:ComposeHost"

// Hetzner specifics of a Compose host.
const (
	hostImage = "debian-12"
	// minVolumeGB is the smallest volume Hetzner creates.
	minVolumeGB = 10
)

// ComposeHostArgs configure a Compose host. Tier.Kind must be tier.Compose;
// without a Domain the host serves its public IP with Caddy's own CA.
type ComposeHostArgs struct {
	HetznerHostArgs
	// Backup is the bucket the api backs ClickHouse up to (nil: none).
	Backup *settings.WarmBucket
	// AlertmanagerConfig is Alertmanager's configuration, secret ("":
	// alerts go nowhere).
	AlertmanagerConfig string
}

// ComposeHostArgsFrom maps validated settings to ComposeHost arguments.
func ComposeHostArgsFrom(s settings.Settings) *ComposeHostArgs {
	return &ComposeHostArgs{HetznerHostArgs: hetznerHostArgsFrom(s), Backup: s.Backup, AlertmanagerConfig: s.AlertmanagerConfig}
}

func (a *ComposeHostArgs) validate() error {
	if a == nil {
		return errors.New("ComposeHost: args are required")
	}
	var errs []error
	bad := collector("ComposeHost", &errs)
	a.HetznerHostArgs.validate(bad)
	if a.Tier.Kind != tier.Compose {
		bad("tier %q is deployed as %q, not by a Compose host", a.Tier.Name, a.Tier.Kind)
	}
	if _, ok := a.Tier.Pool(tier.General); !ok {
		bad("tier %q has no machine", a.Tier.Name)
	}
	if a.Tier.HotStorageGB < minVolumeGB {
		bad("hot storage %d GB is below Hetzner's %d GB minimum volume", a.Tier.HotStorageGB, minVolumeGB)
	}
	if a.Tier.Retention.Days <= 0 {
		bad("retention must be positive, got %d days", a.Tier.Retention.Days)
	}
	return errors.Join(errs...)
}

// ComposeHost is a Hobby or Startup deployment: one Hetzner server running
// nano as a Docker Compose project, its data on a Hetzner volume.
//
// The public IPv4 is a Hetzner primary IP of its own, so it is known before
// the server exists (the TLS certificates and the Caddy site name need it)
// and it survives a server replacement: changing user data (new images,
// new secrets) replaces the server, and log shippers keep the same address
// while the data volume is re-attached.
type ComposeHost struct {
	pulumi.ResourceState

	Endpoints
	AccessOutputs
}

// NewComposeHost builds a Compose host.
func NewComposeHost(ctx *pulumi.Context, name string, args *ComposeHostArgs, opts ...pulumi.ResourceOption) (*ComposeHost, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	host := &ComposeHost{}
	if err := ctx.RegisterComponentResource(ComposeHostType, name, host, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(host)
	labels := pulumi.ToStringMap(stacklabels.For(args.Deployment, args.Tier.Name))

	passwords, err := newComposePasswords(ctx, name, parent)
	if err != nil {
		return nil, err
	}
	// The public IPv4, before the server: see the type's doc comment.
	ip, err := newPrimaryIPv4(ctx, name, args.Location, labels, parent)
	if err != nil {
		return nil, err
	}
	creds, err := newAccessCredentials(ctx, name, args.Domain, pulumi.StringArray{ip.IpAddress}, nil, parent)
	if err != nil {
		return nil, err
	}
	sshKey, sshPrivate, err := newAdminSSHKey(ctx, name, args.SSHPublicKey, labels, parent)
	if err != nil {
		return nil, err
	}
	firewall, err := hcloud.NewFirewall(ctx, name+"-firewall", &hcloud.FirewallArgs{
		Labels: labels, Rules: firewallRules(args.SSHAllowedCIDRs),
	}, parent)
	if err != nil {
		return nil, err
	}
	volume, err := hcloud.NewVolume(ctx, name+"-data", &hcloud.VolumeArgs{
		// The tier's hot storage, or more where its volume and retention
		// need it (with PostgreSQL and Prometheus on the same volume).
		Size: pulumi.Int(args.Tier.HotStoragePerPodGB()), Location: pulumi.String(args.Location),
		Format: pulumi.String("ext4"), Labels: labels,
	}, parent, pulumi.Protect(args.ProtectData))
	if err != nil {
		return nil, err
	}
	// Generated once and kept in the state: a new key would make the
	// credentials the api sealed with the old one unreadable.
	credKey, err := random.NewRandomBytes(ctx, name+"-api-credentials-key", &random.RandomBytesArgs{Length: pulumi.Int(32)}, parent)
	if err != nil {
		return nil, err
	}
	userData := composeUserData(args, ip, volume, passwords, creds, credKey)
	if err := newComposeServer(ctx, name, args, ip, sshKey, firewall, volume, userData, labels, parent); err != nil {
		return nil, err
	}

	// Caddy terminates TLS in front of the ingest HTTP and HEC ports.
	host.Endpoints = newEndpoints(ip.IpAddress, args.Domain, "https", true, sshPrivate)
	host.AccessOutputs = creds.outputs()
	if err := ctx.RegisterResourceOutputs(host, host.AccessOutputs.outputMap(host.Endpoints.outputMap(pulumi.Map{}))); err != nil {
		return nil, err
	}
	return host, nil
}

// composePasswords are a Compose host's database passwords, generated once
// and kept in state (encrypted): the superuser's, ClickHouse's owner's and
// each service's own logins (docs/security/database-roles.md), in composeLogins'
// order.
type composePasswords struct {
	postgres, clickhouse *random.RandomPassword
	logins               []pulumi.Output
}

// composeLogins are the services' logins, as composefiles.Secrets names
// them.
var composeLogins = []string{"api-postgres-password", "ingest-postgres-password", "search-postgres-password",
	"monitor-postgres-password", "ingest-clickhouse-password", "search-clickhouse-password"}

func newComposePasswords(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) (*composePasswords, error) {
	password := func(suffix string) (*random.RandomPassword, error) {
		return random.NewRandomPassword(ctx, name+"-"+suffix, &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, parent)
	}
	var p composePasswords
	var err error
	if p.postgres, err = password("postgres-password"); err != nil {
		return nil, err
	}
	if p.clickhouse, err = password("clickhouse-password"); err != nil {
		return nil, err
	}
	for _, suffix := range composeLogins {
		pw, err := password(suffix)
		if err != nil {
			return nil, err
		}
		p.logins = append(p.logins, pw.Result)
	}
	return &p, nil
}

// composeParams are the host's non-secret file inputs known before
// deployment (Host and VolumeDevice come from the cloud), the identity
// provider's client secret and the backup bucket's keys.
func composeParams(args *ComposeHostArgs) (p composefiles.Params, oidcSecret string, backupKeys [2]string) {
	p = composefiles.Params{
		Deployment: args.Deployment, Tier: args.Tier, Images: args.Images, PublicTLS: args.Domain != "", SignIn: args.SignIn,
	}
	if args.SignIn != nil {
		oidcSecret = args.SignIn.ClientSecret
	}
	if b := args.Backup; b != nil {
		// The same layout as the clusters' warm bucket: the deployment's
		// prefix, ClickHouse's backups under it.
		p.Backup = &composefiles.Backup{Region: b.Region,
			ClickHouseURL: b.URL + args.Deployment + "/" + contract.ClickHouseBackupPrefix,
			PostgresURL:   b.URL + args.Deployment + "/" + contract.PostgresBackupPrefix}
		backupKeys = [2]string{b.AccessKeyID, b.SecretAccessKey}
	}
	return p, oidcSecret, backupKeys
}

// composeUserData is the server's cloud-init (composefiles.CloudInit): it
// holds the secrets.
func composeUserData(args *ComposeHostArgs, ip *hcloud.PrimaryIp, volume *hcloud.Volume, pw *composePasswords, creds *accessCredentials, credKey *random.RandomBytes) pulumi.StringOutput {
	publicHost := ip.IpAddress
	if args.Domain != "" {
		publicHost = pulumi.String(args.Domain).ToStringOutput()
	}
	p, oidcSecret, backupKeys := composeParams(args)
	native := creds.tls
	inputs := append([]any{publicHost, volume.ID(), pw.postgres.Result, pw.clickhouse.Result, creds.ingestToken,
		creds.hecToken, native.caCert, native.serverCert, native.serverKey, credKey.Base64, creds.adminToken}, toAnys(pw.logins)...)
	return pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		p := p
		p.Host, p.VolumeDevice = v[0].(string), "/dev/disk/by-id/scsi-0HC_Volume_"+string(v[1].(pulumi.ID))
		b, err := composefiles.CloudInit(p, composefiles.Secrets{
			PostgresPassword: v[2].(string), ClickHousePassword: v[3].(string),
			IngestToken: v[4].(string), HECToken: v[5].(string),
			NativeCACert: v[6].(string), NativeServerCert: v[7].(string), NativeServerKey: v[8].(string),
			APICredentialsKey: v[9].(string), AdminToken: v[10].(string),
			APIPostgresPassword: v[11].(string), IngestPostgresPassword: v[12].(string), SearchPostgresPassword: v[13].(string),
			MonitorPostgresPassword: v[14].(string), IngestClickHousePassword: v[15].(string), SearchClickHousePassword: v[16].(string),
			BackupAccessKeyID: backupKeys[0], BackupSecretAccessKey: backupKeys[1], OIDCClientSecret: oidcSecret,
			AlertmanagerConfig: args.AlertmanagerConfig,
		})
		return string(b), err
	}).(pulumi.StringOutput)
}

// newComposeServer is the server, on the primary IP, with the data volume
// attached. A new server must be created after the old one released the
// primary IP and the volume: delete before replace.
func newComposeServer(ctx *pulumi.Context, name string, args *ComposeHostArgs, ip *hcloud.PrimaryIp, sshKey *hcloud.SshKey, firewall *hcloud.Firewall,
	volume *hcloud.Volume, userData pulumi.StringOutput, labels pulumi.StringMap, parent pulumi.ResourceOption) error {
	ipID := ip.ID().ApplyT(func(id pulumi.ID) (int, error) {
		n, err := strconv.Atoi(string(id))
		if err != nil {
			return 0, fmt.Errorf("cannot read primary IP id %q: %w", id, err)
		}
		return n, nil
	}).(pulumi.IntOutput)
	server, err := hcloud.NewServer(ctx, name+"-server", &hcloud.ServerArgs{
		ServerType: pulumi.String(args.ServerType), Image: pulumi.String(hostImage),
		Datacenter: pulumi.String(settings.HetznerLocations[args.Location].Datacenter), Labels: labels,
		SshKeys:     pulumi.StringArray{sshKey.ID().ToStringOutput()},
		FirewallIds: pulumi.IntArray{idToInt(firewall.ID())},
		PublicNets: hcloud.ServerPublicNetArray{hcloud.ServerPublicNetArgs{
			Ipv4Enabled: pulumi.Bool(true), Ipv4: ipID, Ipv6Enabled: pulumi.Bool(true),
		}},
		UserData:               secret(userData),
		ShutdownBeforeDeletion: pulumi.Bool(true),
	}, parent, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return err
	}
	_, err = hcloud.NewVolumeAttachment(ctx, name+"-data-attachment", &hcloud.VolumeAttachmentArgs{
		ServerId: idToInt(server.ID()), VolumeId: idToInt(volume.ID()), Automount: pulumi.Bool(false),
	}, parent, pulumi.DeleteBeforeReplace(true))
	return err
}

// firewallRules opens HTTP (which only redirects to HTTPS and answers ACME
// HTTP-01 challenges), the HTTPS entry and the ingest ports to everyone and
// SSH to the allowed CIDRs only; nothing else is reachable.
func firewallRules(sshCIDRs []string) hcloud.FirewallRuleArray {
	anywhere := pulumi.StringArray{pulumi.String("0.0.0.0/0"), pulumi.String("::/0")}
	rule := func(port int, what string, from pulumi.StringArray) hcloud.FirewallRuleArgs {
		return hcloud.FirewallRuleArgs{
			Direction: pulumi.String("in"), Protocol: pulumi.String("tcp"),
			Port: pulumi.String(strconv.Itoa(port)), SourceIps: from, Description: pulumi.String(what),
		}
	}
	rules := hcloud.FirewallRuleArray{
		rule(80, "HTTP: redirects to HTTPS, ACME HTTP-01", anywhere),
		rule(443, "HTTPS: api and search", anywhere),
		rule(contract.Ports.IngestHTTP, "ingest HTTP (bearer token)", anywhere),
		rule(contract.Ports.IngestHEC, "ingest Splunk HEC", anywhere),
		rule(contract.Ports.IngestNative, "ingest Vector native (mutual TLS)", anywhere),
		rule(contract.Ports.IngestOTLP, "ingest OTLP/gRPC (bearer token)", anywhere),
		rule(contract.Ports.IngestSyslogTLS, "ingest syslog over TLS", anywhere),
	}
	if len(sshCIDRs) > 0 {
		rules = append(rules, rule(22, "SSH from admin networks", pulumi.ToStringArray(sshCIDRs)))
	}
	return rules
}

// toAnys is outs as pulumi.All's arguments.
func toAnys(outs []pulumi.Output) []any {
	out := make([]any, len(outs))
	for i, o := range outs {
		out[i] = o
	}
	return out
}
