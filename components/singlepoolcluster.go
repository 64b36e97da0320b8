package components

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-hcloud/sdk/go/hcloud"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/k3s"
	"github.com/nanosiem/nano/components/kubeconfig"
	"github.com/nanosiem/nano/components/kubeobjects"
	stacklabels "github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// SinglePoolClusterType is the type token of SinglePoolCluster.
const SinglePoolClusterType = "nano:index:SinglePoolCluster"

// The cluster's private network and the Hetzner CSI driver that provides
// its volumes.
const (
	clusterNetworkCIDR = "10.0.0.0/16"
	clusterSubnetCIDR  = "10.0.1.0/24"
	serverPrivateIP    = "10.0.1.10"
	csiChart           = "hcloud-csi"
	csiChartVersion    = "2.12.0"
	csiRepo            = "https://charts.hetzner.cloud"
	csiStorageClass    = "hcloud-volumes"
	k3sIngressClass    = "traefik"
	kubeAPIPort        = 6443
)

// SinglePoolClusterArgs configure a Growth cluster. Tier.Kind must be
// tier.SinglePool with one general pool of one node.
type SinglePoolClusterArgs struct {
	HetznerHostArgs
	// APIAllowedCIDRs may reach the Kubernetes API.
	APIAllowedCIDRs []string
	// HcloudToken lets the cluster's CSI driver create Hetzner volumes; the
	// cluster keeps it, so it must be the deployment's own (a token of a
	// project that holds only this deployment: see program.Deploy).
	HcloudToken pulumi.StringInput
	// Backup is the bucket ClickHouse and PostgreSQL back up to (nil:
	// none).
	Backup *settings.WarmBucket
	// PostgresArchive names CloudNativePG's archive in it, and a restore.
	PostgresArchive settings.PostgresArchive
	// AlertmanagerConfig is Alertmanager's configuration, secret ("":
	// alerts go nowhere).
	AlertmanagerConfig string
}

// SinglePoolClusterArgsFrom maps validated settings to the component's args.
func SinglePoolClusterArgsFrom(s settings.Settings, hcloudToken pulumi.StringInput) *SinglePoolClusterArgs {
	return &SinglePoolClusterArgs{
		HetznerHostArgs: hetznerHostArgsFrom(s), APIAllowedCIDRs: s.KubeAPIAllowedCIDRs, HcloudToken: hcloudToken,
		Backup: s.Backup, PostgresArchive: s.PostgresArchive, AlertmanagerConfig: s.AlertmanagerConfig,
	}
}

func (a *SinglePoolClusterArgs) validate() error {
	if a == nil {
		return errors.New("SinglePoolCluster: args are required")
	}
	var errs []error
	bad := collector("SinglePoolCluster", &errs)
	a.HetznerHostArgs.validate(bad)
	if a.Tier.Kind != tier.SinglePool {
		bad("tier %q is deployed as %q, not as a single-pool cluster", a.Tier.Name, a.Tier.Kind)
	}
	if p, ok := a.Tier.Pool(tier.General); !ok || p.Nodes != 1 {
		bad("tier %q must have one general pool of one node (k3s server)", a.Tier.Name)
	}
	if _, ok := settings.HetznerLocations[a.Location]; !ok {
		bad("no network zone for Hetzner location %q", a.Location)
	}
	if len(a.APIAllowedCIDRs) == 0 {
		bad("at least one CIDR must reach the Kubernetes API, or pulumi cannot manage the cluster")
	}
	for _, c := range a.APIAllowedCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			bad("%q is not a CIDR", c)
		}
	}
	if a.HcloudToken == nil {
		bad("the Hetzner API token is required for the CSI driver")
	}
	return errors.Join(errs...)
}

// SinglePoolCluster is a Growth deployment: one Hetzner server on a private
// network running k3s (see package k3s for why, and how the kubeconfig is
// obtained without a manual step), the Hetzner CSI driver for volumes, and
// nano's Platform on top.
type SinglePoolCluster struct {
	pulumi.ResourceState

	// Kubeconfig is the cluster admin's kubeconfig (secret).
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	Endpoints
	AccessOutputs
}

// NewSinglePoolCluster builds a Growth cluster and installs nano on it.
func NewSinglePoolCluster(ctx *pulumi.Context, name string, args *SinglePoolClusterArgs, opts ...pulumi.ResourceOption) (*SinglePoolCluster, error) {
	if err := args.validate(); err != nil {
		return nil, err
	}
	spec := kubeobjects.Spec{
		Deployment: args.Deployment, Tier: args.Tier, Images: args.Images, Domain: args.Domain,
		StorageClass: csiStorageClass, IngressClass: k3sIngressClass, SignIn: args.SignIn,
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	c := &SinglePoolCluster{}
	if err := ctx.RegisterComponentResource(SinglePoolClusterType, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	labels := pulumi.ToStringMap(stacklabels.For(args.Deployment, args.Tier.Name))

	// Cluster PKI: the CAs k3s adopts and an admin certificate.
	pki, err := newClusterPKI(ctx, name, parent)
	if err != nil {
		return nil, err
	}
	host, err := newK3sHost(ctx, name, args, pki, labels, parent)
	if err != nil {
		return nil, err
	}
	adminKubeconfig, k8s, err := k3sProvider(ctx, name, host, pki, parent)
	if err != nil {
		return nil, err
	}
	csi, err := installHetznerCSI(ctx, name, args, labels, parent, pulumi.Provider(k8s))
	if err != nil {
		return nil, err
	}

	pargs := &PlatformArgs{Spec: spec, Provider: k8s, ProtectData: args.ProtectData, AlertmanagerConfig: args.AlertmanagerConfig}
	pargs.Spec.PostgresArchive = args.PostgresArchive
	if args.Backup != nil {
		pargs.Spec.BackupBucket, pargs.Warm = true, configuredWarmBucket(args.Deployment, args.Backup)
	}
	plat, err := NewPlatform(ctx, name, pargs, parent, pulumi.DependsOn([]pulumi.Resource{csi}))
	if err != nil {
		return nil, err
	}

	c.Kubeconfig = adminKubeconfig
	// k3s' service load balancer publishes ingest's ports as they are.
	c.Endpoints = newEndpoints(host.ip.IpAddress, args.Domain, "https", false, host.sshPrivate)
	c.AccessOutputs = plat.AccessOutputs
	if err := ctx.RegisterResourceOutputs(c, c.AccessOutputs.outputMap(c.Endpoints.outputMap(pulumi.Map{"kubeconfig": c.Kubeconfig}))); err != nil {
		return nil, err
	}
	return c, nil
}

// k3sHost is the Growth cluster's one server and what names it.
type k3sHost struct {
	ip     *hcloud.PrimaryIp
	server *hcloud.Server
	// sshPrivate is the generated admin key ("" with the user's own).
	sshPrivate pulumi.StringOutput
}

// newK3sHost builds the server k3s runs on: on a private network, with
// its public IPv4, the admin's SSH key and a firewall, booting k3s with the
// cluster's CAs.
func newK3sHost(ctx *pulumi.Context, name string, args *SinglePoolClusterArgs, pki *clusterPKI, labels pulumi.StringMap, parent pulumi.ResourceOption) (*k3sHost, error) {
	network, err := hcloud.NewNetwork(ctx, name+"-network", &hcloud.NetworkArgs{
		IpRange: pulumi.String(clusterNetworkCIDR), Labels: labels,
	}, parent)
	if err != nil {
		return nil, err
	}
	subnet, err := hcloud.NewNetworkSubnet(ctx, name+"-subnet", &hcloud.NetworkSubnetArgs{
		NetworkId: idToInt(network.ID()), Type: pulumi.String("cloud"),
		NetworkZone: pulumi.String(settings.HetznerLocations[args.Location].NetworkZone), IpRange: pulumi.String(clusterSubnetCIDR),
	}, parent)
	if err != nil {
		return nil, err
	}
	ip, err := newPrimaryIPv4(ctx, name, args.Location, labels, parent)
	if err != nil {
		return nil, err
	}
	sshKey, sshPrivate, err := newAdminSSHKey(ctx, name, args.SSHPublicKey, labels, parent)
	if err != nil {
		return nil, err
	}
	// Port 80 is open (firewallRules): Traefik redirects it to HTTPS, and
	// cert-manager's ACME HTTP-01 challenge is answered there (without it a
	// domain keeps a self-signed certificate).
	rules := firewallRules(args.SSHAllowedCIDRs)
	rules = append(rules, hcloud.FirewallRuleArgs{
		Direction: pulumi.String("in"), Protocol: pulumi.String("tcp"), Port: pulumi.String(strconv.Itoa(kubeAPIPort)),
		SourceIps: pulumi.ToStringArray(args.APIAllowedCIDRs), Description: pulumi.String("Kubernetes API (client certificates)"),
	})
	firewall, err := hcloud.NewFirewall(ctx, name+"-firewall", &hcloud.FirewallArgs{Labels: labels, Rules: rules}, parent)
	if err != nil {
		return nil, err
	}
	server, err := hcloud.NewServer(ctx, name+"-server", &hcloud.ServerArgs{
		ServerType: pulumi.String(args.ServerType), Image: pulumi.String(hostImage),
		Datacenter: pulumi.String(settings.HetznerLocations[args.Location].Datacenter), Labels: labels,
		SshKeys:     pulumi.StringArray{sshKey.ID().ToStringOutput()},
		FirewallIds: pulumi.IntArray{idToInt(firewall.ID())},
		PublicNets: hcloud.ServerPublicNetArray{hcloud.ServerPublicNetArgs{
			Ipv4Enabled: pulumi.Bool(true), Ipv4: idToInt(ip.ID()), Ipv6Enabled: pulumi.Bool(true),
		}},
		Networks: hcloud.ServerNetworkTypeArray{hcloud.ServerNetworkTypeArgs{
			NetworkId: idToInt(network.ID()), Ip: pulumi.String(serverPrivateIP),
		}},
		UserData:               secret(k3sUserData(ip, pki)),
		ShutdownBeforeDeletion: pulumi.Bool(true),
	}, parent, pulumi.DependsOn([]pulumi.Resource{subnet}), pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, err
	}
	return &k3sHost{ip: ip, server: server, sshPrivate: sshPrivate}, nil
}

// k3sUserData is the server's cloud-init: k3s on the public address with
// the cluster's CAs.
func k3sUserData(ip *hcloud.PrimaryIp, pki *clusterPKI) pulumi.StringOutput {
	return pulumi.All(ip.IpAddress, pki.serverCA.CertPem, pki.serverKey.PrivateKeyPem, pki.clientCA.CertPem,
		pki.clientKey.PrivateKeyPem, pki.requestHeaderCA.CertPem, pki.requestHeaderKey.PrivateKeyPem).ApplyT(func(v []any) (string, error) {
		b, err := k3s.CloudInit(k3s.Params{PublicIP: v[0].(string), CAs: k3s.CAs{
			ServerCert: v[1].(string), ServerKey: v[2].(string), ClientCert: v[3].(string), ClientKey: v[4].(string),
			RequestHeaderCert: v[5].(string), RequestHeaderKey: v[6].(string),
		}})
		return string(b), err
	}).(pulumi.StringOutput)
}

// k3sProvider is the admin's kubeconfig (secret) and the Kubernetes
// provider that uses it once the API answers.
func k3sProvider(ctx *pulumi.Context, name string, host *k3sHost, pki *clusterPKI, parent pulumi.ResourceOption) (pulumi.StringOutput, *kubernetes.Provider, error) {
	server0 := pulumi.Sprintf("https://%s:%d", host.ip.IpAddress, kubeAPIPort)
	adminKubeconfig := pulumi.All(server0, pki.serverCA.CertPem, pki.admin.CertPem, pki.adminKey.PrivateKeyPem).ApplyT(func(v []any) (string, error) {
		return kubeconfig.ClientCertificate(v[0].(string), v[1].(string), v[2].(string), v[3].(string))
	}).(pulumi.StringOutput)
	adminKubeconfig = secret(adminKubeconfig)

	// k3s installs after the server boots: wait until its API answers
	// (any HTTP status) before the Kubernetes provider uses it.
	wait, err := local.NewCommand(ctx, name+"-wait-for-api", &local.CommandArgs{
		Create:      pulumi.String(waitForAPIScript),
		Environment: pulumi.StringMap{"NANO_API": server0},
		Triggers:    pulumi.Array{host.server.ID()},
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	k8s, err := kubernetes.NewProvider(ctx, name+"-k3s", &kubernetes.ProviderArgs{Kubeconfig: adminKubeconfig},
		parent, pulumi.DependsOn([]pulumi.Resource{wait}))
	return adminKubeconfig, k8s, err
}

// installHetznerCSI installs the Hetzner CSI driver, which makes the
// cluster's volumes, with the API token it needs (onCluster: the
// component and the cluster's provider).
func installHetznerCSI(ctx *pulumi.Context, name string, args *SinglePoolClusterArgs, labels pulumi.StringMap, onCluster ...pulumi.ResourceOption) (*helmv3.Release, error) {
	tokenSecret, err := corev1.NewSecret(ctx, name+"-hcloud-token", &corev1.SecretArgs{
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("hcloud"), Namespace: pulumi.String("kube-system"), Labels: labels},
		StringData: pulumi.ToSecret(pulumi.StringMap{"token": args.HcloudToken}).(pulumi.StringMapOutput),
	}, onCluster...)
	if err != nil {
		return nil, err
	}
	return helmv3.NewRelease(ctx, name+"-csi", &helmv3.ReleaseArgs{
		Name: pulumi.String(csiChart), Chart: pulumi.String(csiChart), Version: pulumi.String(csiChartVersion),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(csiRepo)},
		Namespace:      pulumi.String("kube-system"), Atomic: pulumi.Bool(true),
		Values: pulumi.Map{
			"storageClasses": pulumi.Array{pulumi.Map{
				"name": pulumi.String(csiStorageClass), "defaultStorageClass": pulumi.Bool(true),
				"reclaimPolicy": pulumi.String("Retain"),
			}},
			// The node plugin reads its server's id from the metadata
			// service, which the metadata guard refuses to pods: it runs
			// on the host's network (privileged, as root, which the guard
			// admits), without a metrics listener there. The controller
			// takes its location from here, not from the metadata service.
			"node":       pulumi.Map{"hostNetwork": pulumi.Bool(true)},
			"metrics":    pulumi.Map{"enabled": pulumi.Bool(false)},
			"controller": pulumi.Map{"hcloudVolumeDefaultLocation": pulumi.String(args.Location)},
		},
	}, append(onCluster, pulumi.DependsOn([]pulumi.Resource{tokenSecret}))...)
}

const waitForAPIScript = `for i in $(seq 1 120); do
  if curl -sk --max-time 5 -o /dev/null "$NANO_API/readyz"; then exit 0; fi
  sleep 5
done
echo "nano: the Kubernetes API at $NANO_API did not answer within 10 minutes" >&2
exit 1`

// clusterPKI is a k3s cluster's certificate authorities and the admin's
// client certificate (O=system:masters), all generated by Pulumi.
type clusterPKI struct {
	serverCA, clientCA, requestHeaderCA              *tls.SelfSignedCert
	serverKey, clientKey, requestHeaderKey, adminKey *tls.PrivateKey
	admin                                            *tls.LocallySignedCert
}

func newClusterPKI(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) (*clusterPKI, error) {
	key := func(suffix string) (*tls.PrivateKey, error) {
		return tls.NewPrivateKey(ctx, name+"-"+suffix, &tls.PrivateKeyArgs{
			Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256"),
		}, parent)
	}
	ca := func(suffix string, k *tls.PrivateKey) (*tls.SelfSignedCert, error) {
		return tls.NewSelfSignedCert(ctx, name+"-"+suffix, &tls.SelfSignedCertArgs{
			PrivateKeyPem: k.PrivateKeyPem, IsCaCertificate: pulumi.Bool(true),
			ValidityPeriodHours: pulumi.Int(caValidityHours),
			AllowedUses:         pulumi.ToStringArray([]string{"cert_signing", "crl_signing", "digital_signature", "key_encipherment"}),
			Subject:             &tls.SelfSignedCertSubjectArgs{CommonName: pulumi.String("k3s-" + suffix)},
		}, parent)
	}
	p := &clusterPKI{}
	var err error
	for _, c := range []struct {
		suffix string
		key    **tls.PrivateKey
		cert   **tls.SelfSignedCert
	}{{"server-ca", &p.serverKey, &p.serverCA}, {"client-ca", &p.clientKey, &p.clientCA}, {"request-header-ca", &p.requestHeaderKey, &p.requestHeaderCA}} {
		if *c.key, err = key(c.suffix + "-key"); err != nil {
			return nil, err
		}
		if *c.cert, err = ca(c.suffix, *c.key); err != nil {
			return nil, err
		}
	}
	if p.adminKey, err = key("admin-key"); err != nil {
		return nil, err
	}
	csr, err := tls.NewCertRequest(ctx, name+"-admin-csr", &tls.CertRequestArgs{
		PrivateKeyPem: p.adminKey.PrivateKeyPem,
		Subject:       &tls.CertRequestSubjectArgs{CommonName: pulumi.String("nano-admin"), Organization: pulumi.String("system:masters")},
	}, parent)
	if err != nil {
		return nil, err
	}
	p.admin, err = tls.NewLocallySignedCert(ctx, name+"-admin-cert", &tls.LocallySignedCertArgs{
		CertRequestPem: csr.CertRequestPem, CaPrivateKeyPem: p.clientKey.PrivateKeyPem, CaCertPem: p.clientCA.CertPem,
		ValidityPeriodHours: pulumi.Int(certValidityHours), EarlyRenewalHours: pulumi.Int(certRenewHours),
		AllowedUses: pulumi.ToStringArray([]string{"digital_signature", "key_encipherment", "client_auth"}),
	}, parent)
	return p, err
}
