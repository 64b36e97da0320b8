package components

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	stacklabels "github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/settings"
)

// PlatformType is the type token of Platform.
const PlatformType = "nano:index:Platform"

// PlatformArgs configure the platform on a cluster.
type PlatformArgs struct {
	// Spec is the platform's plain configuration (tier, images, endpoints).
	Spec kubeobjects.Spec
	// Provider is the Kubernetes provider of the cluster to install on.
	Provider *kubernetes.Provider
	// Warm is the deployment's bucket: the warm tier's (tiers with warm
	// S3), or the backup bucket of a tier without (Spec.BackupBucket).
	Warm *WarmBucket
	// ClickHousePassword is the ClickHouse Cloud password and PostgresURI the
	// managed database's libpq URI (Enterprise). In-cluster tiers generate
	// their own.
	ClickHousePassword pulumi.StringInput
	PostgresURI        pulumi.StringInput
	// ClickHouseUser is the ClickHouse Cloud user; in-cluster ClickHouse
	// uses "nano".
	ClickHouseUser string
	// OperatorsPreinstalled: the cluster already runs the operators the
	// objects need (an existing cluster's choice); no Helm release is made.
	OperatorsPreinstalled bool
	// ProtectData marks the objects that hold data (Object.HoldsData)
	// protected: Pulumi refuses to delete or replace them.
	ProtectData bool
	// AlertmanagerConfig is Alertmanager's configuration, secret ("":
	// alerts go nowhere); it is the Secret kubeobjects.SecretAlertmanager.
	AlertmanagerConfig string
}

func (a *PlatformArgs) validate() error {
	if a == nil {
		return errors.New("Platform: args are required")
	}
	errs := []error{a.Spec.Validate()}
	if a.Provider == nil {
		errs = append(errs, errors.New("Platform: a Kubernetes provider is required"))
	}
	if w := a.Warm; a.Spec.HasBucket() && (w == nil || w.Endpoint == nil || w.Region == nil || w.AccessKeyID == nil || w.SecretAccessKey == nil) {
		errs = append(errs, fmt.Errorf("Platform: tier %q needs the warm bucket's endpoint, region, access key id and secret", a.Spec.Tier.Name))
	}
	if a.Spec.SignIn != nil && a.Spec.SignIn.ClientSecret == "" {
		errs = append(errs, errors.New("Platform: single sign-on needs its client secret"))
	}
	if a.Spec.Tier.ClickHouse.Cloud && a.ClickHousePassword == nil {
		errs = append(errs, errors.New("Platform: the ClickHouse Cloud password is required"))
	}
	if a.Spec.Tier.Postgres.Managed && a.PostgresURI == nil {
		errs = append(errs, errors.New("Platform: the managed PostgreSQL URI is required"))
	}
	return errors.Join(errs...)
}

// Platform is nano on a Kubernetes cluster: the Altinity ClickHouse and
// CloudNativePG operators, the platform objects of components/kubeobjects,
// and the secrets they mount. Every cluster component ends by creating one.
type Platform struct {
	pulumi.ResourceState

	// Namespace is where nano runs.
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	// IngestAddress is the IP or hostname the cloud's load balancer gives
	// ingest's public Service ("" until it has one).
	IngestAddress pulumi.StringOutput `pulumi:"ingestAddress"`
	// HTTPSAddress is the ingress controller's address for api and search
	// as the Ingress reports it ("" without a domain or until it has one).
	HTTPSAddress pulumi.StringOutput `pulumi:"httpsAddress"`
	AccessOutputs
}

// kubeObject receives a Kubernetes object registered by type token.
type kubeObject struct {
	pulumi.CustomResourceState
	// Status is the object's status as the cluster reports it.
	Status pulumi.MapOutput `pulumi:"status"`
}

// NewPlatform installs the platform on the cluster of args.Provider.
func NewPlatform(ctx *pulumi.Context, name string, args *PlatformArgs, opts ...pulumi.ResourceOption) (*Platform, error) {
	args = withBackupStore(args)
	if err := args.validate(); err != nil {
		return nil, err
	}
	// Alertmanager's pods restart when its configuration changes.
	withHash := *args
	withHash.Spec.AlertmanagerConfigHash = kubeobjects.ConfigHash(amconfig.Effective(args.AlertmanagerConfig))
	args = &withHash
	objects, err := kubeobjects.Objects(args.Spec)
	if err != nil {
		return nil, err
	}
	p := &Platform{}
	if err := ctx.RegisterComponentResource(PlatformType, name, p, opts...); err != nil {
		return nil, err
	}
	parent, provider := pulumi.Parent(p), pulumi.Provider(args.Provider)
	s := args.Spec

	var operators []pulumi.Resource
	if !args.OperatorsPreinstalled {
		if operators, err = installOperators(ctx, name, s, parent, provider); err != nil {
			return nil, err
		}
	}

	// The namespace first; everything else lives in it.
	protect := func(o kubeobjects.Object) pulumi.ResourceOption {
		return pulumi.Protect(args.ProtectData && o.HoldsData())
	}
	ns, err := registerObject(ctx, name, objects[0], parent, provider, protect(objects[0]))
	if err != nil {
		return nil, err
	}
	inNamespace := pulumi.DependsOn([]pulumi.Resource{ns})
	rest, ips, hosts, err := p.registerIngestService(ctx, name, objects[1:], parent, provider, inNamespace)
	if err != nil {
		return nil, err
	}
	creds, err := newAccessCredentials(ctx, name, s.Domain, ips, hosts, parent)
	if err != nil {
		return nil, err
	}
	secrets, err := platformSecrets(ctx, name, args, creds, parent, provider, inNamespace)
	if err != nil {
		return nil, err
	}

	// Everything else; custom resources wait for their operator.
	deps := append(append([]pulumi.Resource{ns}, secrets...), operators...)
	p.HTTPSAddress = pulumi.String("").ToStringOutput()
	for _, o := range rest {
		obj, err := registerObject(ctx, name, o, parent, provider, pulumi.DependsOn(deps), protect(o))
		if err != nil {
			return nil, err
		}
		if o.Kind() == "Ingress" {
			p.HTTPSAddress = obj.Status.ApplyT(loadBalancerAddress).(pulumi.StringOutput)
		}
	}

	p.Namespace = pulumi.String(kubeobjects.Namespace).ToStringOutput()
	p.AccessOutputs = creds.outputs()
	if err := ctx.RegisterResourceOutputs(p, p.outputMap(pulumi.Map{"namespace": p.Namespace, "ingestAddress": p.IngestAddress, "httpsAddress": p.HTTPSAddress})); err != nil {
		return nil, err
	}
	return p, nil
}

// withBackupStore points PostgreSQL's backups at the backup (or warm)
// bucket where the spec backs up and names no store of its own; a backup
// bucket expires them itself.
func withBackupStore(args *PlatformArgs) *PlatformArgs {
	if args == nil || !args.Spec.Backups() || args.Spec.Backup != nil || args.Warm == nil || args.Warm.Endpoint == nil {
		return args
	}
	a := *args
	a.Spec.Backup = a.Warm.backupStore()
	a.Spec.Backup.ExpiredByBucket = a.Warm.Backup != nil
	return &a
}

// registerIngestService registers ingest's load balancer before the other
// objects (returned): its address goes into the server certificate of the
// shippers' ports (TLS on 8080, 8088 and 6000), so a shipper verifies the
// address it was given even without a domain. ips and hosts are that
// address as the certificate names it.
func (p *Platform) registerIngestService(ctx *pulumi.Context, name string, objects []kubeobjects.Object, opts ...pulumi.ResourceOption) (rest []kubeobjects.Object, ips, hosts pulumi.StringArrayInput, err error) {
	p.IngestAddress = pulumi.String("").ToStringOutput()
	ips, hosts = pulumi.StringArray{}, pulumi.StringArray{}
	rest = make([]kubeobjects.Object, 0, len(objects))
	for _, o := range objects {
		if o.Kind() != "Service" || o.Name() != kubeobjects.IngestPublicService {
			rest = append(rest, o)
			continue
		}
		obj, err := registerObject(ctx, name, o, opts...)
		if err != nil {
			return nil, nil, nil, err
		}
		p.IngestAddress = obj.Status.ApplyT(loadBalancerAddress).(pulumi.StringOutput)
		ips = p.IngestAddress.ApplyT(func(a string) []string {
			if net.ParseIP(a) != nil {
				return []string{a}
			}
			return []string{}
		}).(pulumi.StringArrayOutput)
		hosts = p.IngestAddress.ApplyT(func(a string) []string {
			if a != "" && net.ParseIP(a) == nil {
				return []string{a}
			}
			return []string{}
		}).(pulumi.StringArrayOutput)
	}
	return rest, ips, hosts, nil
}

// installOperators installs by Helm the operators the platform's objects
// need, pinned to the CRDs the objects are validated against.
func installOperators(ctx *pulumi.Context, name string, s kubeobjects.Spec, opts ...pulumi.ResourceOption) ([]pulumi.Resource, error) {
	var operators []pulumi.Resource
	release := func(suffix, chart, version, repo string, values pulumi.Map) error {
		r, err := helmv3.NewRelease(ctx, name+"-"+suffix, &helmv3.ReleaseArgs{
			Name: pulumi.String(suffix), Chart: pulumi.String(chart), Version: pulumi.String(version),
			RepositoryOpts:  &helmv3.RepositoryOptsArgs{Repo: pulumi.String(repo)},
			Namespace:       pulumi.String(kubeobjects.OperatorsNamespace),
			CreateNamespace: pulumi.Bool(true), Atomic: pulumi.Bool(true), Values: values,
		}, opts...)
		operators = append(operators, r)
		return err
	}
	if !s.Tier.ClickHouse.Cloud {
		if err := release("clickhouse-operator", kubeobjects.ClickHouseOperatorChart, kubeobjects.ClickHouseOperatorVersion,
			kubeobjects.ClickHouseOperatorRepo, nil); err != nil {
			return nil, err
		}
	}
	if !s.Tier.Postgres.Managed {
		if err := release("cnpg", kubeobjects.CNPGChart, kubeobjects.CNPGChartVersion, kubeobjects.CNPGRepo, nil); err != nil {
			return nil, err
		}
	}
	if s.Domain != "" {
		// The HTTPS certificate of api and search (ClusterIssuer below).
		if err := release("cert-manager", kubeobjects.CertManagerChart, kubeobjects.CertManagerVersion, kubeobjects.CertManagerRepo,
			pulumi.Map{"crds": pulumi.Map{"enabled": pulumi.Bool(true)}}); err != nil {
			return nil, err
		}
	}
	if s.IngestPool != nil && s.NoMetricsAPI {
		if err := release("metrics-server", kubeobjects.MetricsServerChart, kubeobjects.MetricsServerVersion, kubeobjects.MetricsServerRepo, nil); err != nil {
			return nil, err
		}
	}
	if s.InstallsIngressController() {
		if err := release("traefik", kubeobjects.TraefikChart, kubeobjects.TraefikVersion, kubeobjects.TraefikRepo, pulumi.Map{
			"ingressClass": pulumi.Map{"enabled": pulumi.Bool(true), "isDefaultClass": pulumi.Bool(false), "name": pulumi.String(kubeobjects.IngressClassTraefik)},
		}); err != nil {
			return nil, err
		}
	}

	return operators, nil
}

// platformSecrets creates, under parent, the Secrets the platform's
// objects mount (and the ClickHouse password when none is given); the
// Secrets also take opts (the cluster's provider, the namespace).
func platformSecrets(ctx *pulumi.Context, name string, args *PlatformArgs, creds *accessCredentials, parent pulumi.ResourceOption, opts ...pulumi.ResourceOption) ([]pulumi.Resource, error) {
	m := &secretMaker{ctx: ctx, name: name, spec: args.Spec, opts: append([]pulumi.ResourceOption{parent}, opts...)}
	if err := m.credentialSecrets(args, creds, parent); err != nil {
		return nil, err
	}
	if err := m.optionalSecrets(args); err != nil {
		return nil, err
	}
	logins, err := serviceLogins(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	for _, l := range logins {
		if err := m.add(l.typ, l.secret, l.data); err != nil {
			return nil, err
		}
	}
	// Receivers' URLs and keys.
	if err := m.add("Opaque", kubeobjects.SecretAlertmanager, pulumi.StringMap{
		kubeobjects.AlertmanagerConfigKey: pulumi.String(amconfig.Effective(args.AlertmanagerConfig)),
	}); err != nil {
		return nil, err
	}
	return m.made, nil
}

// secretMaker makes the platform's Secrets in nano's namespace, keeping
// what it made.
type secretMaker struct {
	ctx  *pulumi.Context
	name string
	spec kubeobjects.Spec
	opts []pulumi.ResourceOption
	made []pulumi.Resource
}

// add makes the Secret secretName of type typ holding data (secret).
func (m *secretMaker) add(typ, secretName string, data pulumi.StringMap) error {
	labels := stacklabels.For(m.spec.Deployment, m.spec.Tier.Name)
	if typ == "kubernetes.io/basic-auth" {
		// CloudNativePG reconciles a managed role when its labelled
		// password Secret changes.
		labels["cnpg.io/reload"] = "true"
	}
	sec, err := corev1.NewSecret(m.ctx, m.name+"-"+secretName, &corev1.SecretArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(secretName), Namespace: pulumi.String(kubeobjects.Namespace),
			Labels: pulumi.ToStringMap(labels),
		},
		Type:       pulumi.String(typ),
		StringData: pulumi.ToSecret(data).(pulumi.StringMapOutput),
	}, m.opts...)
	m.made = append(m.made, sec)
	return err
}

// credentialSecrets are the Secrets every platform has: ClickHouse's
// owner login (its password generated when none is given), ingest's
// tokens, the api's credentials key and first admin token, and the
// shippers' TLS files.
func (m *secretMaker) credentialSecrets(args *PlatformArgs, creds *accessCredentials, parent pulumi.ResourceOption) error {
	chUser := args.ClickHouseUser
	if chUser == "" {
		chUser = "nano"
	}
	var chPassword pulumi.StringInput = args.ClickHousePassword
	if chPassword == nil {
		r, err := random.NewRandomPassword(m.ctx, m.name+"-clickhouse-password", &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, parent)
		if err != nil {
			return err
		}
		chPassword = secret(r.Result)
	}
	if err := m.add("Opaque", kubeobjects.SecretClickHouse, pulumi.StringMap{"username": pulumi.String(chUser), "password": chPassword}); err != nil {
		return err
	}
	if err := m.add("Opaque", kubeobjects.SecretIngest, pulumi.StringMap{"ingest-token": creds.ingestToken, "hec-token": creds.hecToken}); err != nil {
		return err
	}
	// Generated once and kept in the state: a new key would make the
	// credentials sealed with the old one unreadable.
	credKey, err := random.NewRandomBytes(m.ctx, m.name+"-api-credentials-key", &random.RandomBytesArgs{Length: pulumi.Int(32)}, parent)
	if err != nil {
		return err
	}
	if err := m.add("Opaque", kubeobjects.SecretAPICredentials, pulumi.StringMap{"key": secret(credKey.Base64), "admin-token": creds.adminToken}); err != nil {
		return err
	}
	native := creds.tls
	return m.add("Opaque", kubeobjects.SecretNativeTLS, pulumi.StringMap{
		"tls.crt": native.serverCert, "tls.key": native.serverKey, "ca.crt": native.caCert,
	})
}

// optionalSecrets are the bucket's keys, the identity provider's client
// secret and the managed PostgreSQL's URI, where the platform has them.
func (m *secretMaker) optionalSecrets(args *PlatformArgs) error {
	s := args.Spec
	if s.HasBucket() {
		w := args.Warm
		backupID, backupSecret := w.backupKeys()
		if err := m.add("Opaque", kubeobjects.SecretWarm, pulumi.StringMap{
			kubeobjects.WarmKeyEndpoint: w.Endpoint, kubeobjects.WarmKeyRegion: w.Region,
			kubeobjects.WarmKeyAccessKeyID: w.AccessKeyID, kubeobjects.WarmKeySecretAccessKey: w.SecretAccessKey,
			// Backups: the backup bucket's writer where nano made one.
			kubeobjects.WarmKeyBackupAccessKeyID: backupID, kubeobjects.WarmKeyBackupSecretAccessKey: backupSecret,
			kubeobjects.WarmKeyBackupRegion:      w.backupRegion().ToStringOutput().ApplyT(backupRegion).(pulumi.StringOutput),
			kubeobjects.WarmKeyClickHouseBackups: pulumi.Sprintf("%s%s", w.backupEndpoint(), contract.ClickHouseBackupPrefix),
		}); err != nil {
			return err
		}
	}
	if s.SignIn != nil {
		if err := m.add("Opaque", kubeobjects.SecretOIDC, pulumi.StringMap{
			kubeobjects.OIDCKeyClientSecret: secret(pulumi.String(s.SignIn.ClientSecret).ToStringOutput()),
		}); err != nil {
			return err
		}
	}
	if s.Tier.Postgres.Managed {
		return m.add("Opaque", kubeobjects.SecretPostgresManaged, pulumi.StringMap{"uri": args.PostgresURI})
	}
	return nil
}

// serviceLogin is one Secret of ingest's or search's database logins.
type serviceLogin struct {
	typ, secret string
	data        pulumi.StringMap
}

// serviceLogins are ingest's and search's own database logins
// (docs/security/database-roles.md), with passwords generated once per deployment:
// PostgreSQL's as kubernetes.io/basic-auth Secrets (CloudNativePG's
// managed roles read username and password) with the role's URI, and
// ClickHouse's users' (the installation's users read their password; on
// ClickHouse Cloud and Cloud SQL / RDS the operator creates the users and
// roles with these passwords).
func serviceLogins(ctx *pulumi.Context, name string, args *PlatformArgs, parent pulumi.ResourceOption) ([]serviceLogin, error) {
	var out []serviceLogin
	for _, l := range []struct{ role, pgSecret, chSecret string }{
		{contract.IngestDBUser, kubeobjects.SecretPostgresIngest, kubeobjects.SecretClickHouseIngest},
		{contract.SearchDBUser, kubeobjects.SecretPostgresSearch, kubeobjects.SecretClickHouseSearch},
	} {
		password := func(suffix string) (pulumi.StringOutput, error) {
			r, err := random.NewRandomPassword(ctx, name+"-"+strings.ReplaceAll(l.role, "_", "-")+"-"+suffix, &random.RandomPasswordArgs{
				Length: pulumi.Int(32), Special: pulumi.Bool(false),
			}, parent)
			if err != nil {
				return pulumi.StringOutput{}, err
			}
			return secret(r.Result), nil
		}
		pgPassword, err := password("postgres-password")
		if err != nil {
			return nil, err
		}
		chPassword, err := password("clickhouse-password")
		if err != nil {
			return nil, err
		}
		role := l.role
		uri := pgPassword.ApplyT(func(pw string) string { return kubeobjects.InClusterPostgresURI(role, pw) }).(pulumi.StringOutput)
		if args.Spec.Tier.Postgres.Managed {
			uri = pulumi.All(args.PostgresURI, pgPassword).ApplyT(func(v []any) (string, error) {
				if v[0].(string) == settings.OfflineSecret {
					return settings.OfflineSecret, nil // an offline plan's stand-in
				}
				return kubeobjects.PostgresRoleURI(v[0].(string), role, v[1].(string))
			}).(pulumi.StringOutput)
		}
		out = append(out,
			serviceLogin{"kubernetes.io/basic-auth", l.pgSecret, pulumi.StringMap{"username": pulumi.String(l.role), "password": pgPassword, "uri": secret(uri)}},
			serviceLogin{"Opaque", l.chSecret, pulumi.StringMap{"username": pulumi.String(l.role), "password": chPassword}})
	}
	return out, nil
}

// registerObject registers one Kubernetes object with the Kubernetes
// provider under its own type token, as pulumi-kubernetes' typed resources
// do, so the provider validates, diffs and awaits it as usual.
func registerObject(ctx *pulumi.Context, component string, o kubeobjects.Object, opts ...pulumi.ResourceOption) (*kubeObject, error) {
	res := &kubeObject{}
	name := component + "-" + strings.ToLower(o.Kind()) + "-" + o.Name()
	if err := ctx.RegisterResource(o.TypeToken(), name, pulumi.ToMap(o), res, opts...); err != nil {
		return nil, fmt.Errorf("cannot register %s %s: %w", o.Kind(), o.Name(), err)
	}
	return res, nil
}

// loadBalancerAddress reads status.loadBalancer.ingress[0].ip (or hostname,
// as AWS load balancers report) of a Service.
func loadBalancerAddress(status map[string]any) string {
	lb, _ := status["loadBalancer"].(map[string]any)
	ingress, _ := lb["ingress"].([]any)
	if len(ingress) == 0 {
		return ""
	}
	first, _ := ingress[0].(map[string]any)
	if ip, ok := first["ip"].(string); ok && ip != "" {
		return ip
	}
	host, _ := first["hostname"].(string)
	return host
}
