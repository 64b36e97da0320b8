package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/fielderr"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	"github.com/nanosiem/nano/stacks/model/cidrs"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Images are the container images of nano's services.
type Images struct {
	API, Search, Ingest, Web string
}

// Settings are a stack's validated deployment settings.
type Settings struct {
	// Deployment names the deployment (resource names, nano-deployment label).
	Deployment string
	// Tier is the tier's catalog entry with the stack's overrides applied.
	Tier     tier.Spec
	Provider tier.Provider
	Region   string
	Domain   string
	Images   Images
	// SSHAllowedCIDRs may reach SSH; empty closes SSH.
	SSHAllowedCIDRs []string
	// SSHPublicKey is the admin key; empty means generate one.
	SSHPublicKey string
	// KubeAPIAllowedCIDRs may reach a self-managed cluster's API.
	KubeAPIAllowedCIDRs []string
	// MachineType is the provider's type for the tier's main machine or pool.
	MachineType string
	// DailyVolumeGB sizes Enterprise pools; Band is the band it falls in.
	DailyVolumeGB int
	Band          tier.VolumeBand
	// Warm is the configured warm-tier bucket; nil on tiers without one and
	// when nano creates the bucket in the deployment's cloud.
	Warm *WarmBucket
	// Backup is the bucket backups go to on the tiers without a warm
	// bucket (nano:backupBucketUrl: Compose tiers, Growth); nil: no backups
	// there. Tiers with a warm bucket back up under it.
	Backup *WarmBucket
	// ProtectData marks the data-bearing resources and the tier guard
	// protected (nano:protectData, default true).
	ProtectData bool
	// PostgresArchive is CloudNativePG's archive on the tiers whose
	// clusters back PostgreSQL up (zero elsewhere).
	PostgresArchive PostgresArchive
	// ClickHouseCloud is the Enterprise tier's ClickHouse Cloud service.
	ClickHouseCloud *ClickHouseCloud
	// Cluster is the user's cluster (provider kubernetes); nil elsewhere.
	Cluster *ExistingCluster
	// AlertmanagerConfig is nano:alertmanagerConfig, Alertmanager's YAML
	// (secret: wrap it with pulumi.ToSecret before use); "" when unset,
	// and then the deployment routes alerts nowhere (amconfig.Effective).
	AlertmanagerConfig string
	// SignIn is the identity provider people sign in through; nil: API
	// tokens only.
	SignIn *SignIn
}

// ExistingCluster is a Kubernetes cluster of the user's that nano deploys
// its Platform into (provider kubernetes).
type ExistingCluster struct {
	// Kubeconfig is secret: wrap it with pulumi.ToSecret before use.
	Kubeconfig string
	// OperatorsPreinstalled: the cluster runs the operators; nano installs
	// no Helm release.
	OperatorsPreinstalled bool
	// StorageClass of nano's volumes ("" is the cluster's default) and
	// IngressClass of the user's ingress controller ("" installs Traefik).
	StorageClass, IngressClass string
	// PostgresURI is the managed PostgreSQL of Enterprise (secret).
	PostgresURI string
}

// WarmBucket is an S3-compatible bucket for ClickHouse's warm tier.
type WarmBucket struct {
	// URL is the bucket's https URL, ending in "/".
	URL    string
	Region string
	// AccessKeyID and SecretAccessKey are secret: wrap them with
	// pulumi.ToSecret before use.
	AccessKeyID, SecretAccessKey string
}

// DefaultPostgresServerName is the name CloudNativePG archives a cluster
// under unless restored (its default: the Cluster's name).
const DefaultPostgresServerName = "nano-pg"

// PostgresArchive is where a cluster's CloudNativePG archives WAL and base
// backups (<deployment>/postgres/<ServerName>/) and, for a restore, the
// archive a new cluster recovers from.
type PostgresArchive struct {
	ServerName string
	// RecoverFrom is the server name a new cluster recovers from ("": it
	// is initialised empty); RecoverTo the RFC 3339 time the recovery
	// stops at ("": the end of the archive).
	RecoverFrom, RecoverTo string
}

// ClickHouseCloud is a ClickHouse Cloud service reached over a private
// endpoint.
type ClickHouseCloud struct {
	// EndpointService is the AWS VPC endpoint service name or the GCP
	// Private Service Connect service attachment.
	EndpointService string
	// Host is the service's private hostname.
	Host string
	User string
	// Password is secret: wrap it with pulumi.ToSecret before use.
	Password string
}

// Getter returns the value of a `nano:` config key, "" when unset.
type Getter func(key string) string

// Limits of the overrides.
const (
	minRetentionDays = 1
	maxRetentionDays = 3650
	maxReplicas      = 50
	maxDailyVolumeGB = 1_000_000
)

var (
	reDomain  = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	reImage   = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
	reMachine = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	reCHUser  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
	// Private endpoint services of ClickHouse Cloud per provider.
	reEndpointService = map[tier.Provider]*regexp.Regexp{
		tier.AWS: regexp.MustCompile(`^com\.amazonaws\.vpce\.[a-z0-9-]+\.vpce-svc-[0-9a-f]{8,17}$`),
		tier.GCP: regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/regions/[a-z0-9-]+/serviceAttachments/[a-z0-9-]+$`),
	}
	// Region shapes per provider; Hetzner's locations are listed exactly.
	regionShapes = map[tier.Provider]*regexp.Regexp{
		tier.Civo:  regexp.MustCompile(`^[A-Za-z]{3}[0-9]$`),
		tier.Vultr: regexp.MustCompile(`^[a-z]{3}$`),
		tier.GCP:   regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]$`),
		tier.AWS:   regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`),
	}
)

// reDeployment is the deployment-name rule: a name becomes part of resource
// names, labels and the provisioning endpoint's directories.
var reDeployment = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$`)

// DeploymentNameRule says in words what ValidDeploymentName accepts.
const DeploymentNameRule = "must be 2-32 lowercase letters, digits or '-', starting with a letter"

// ValidDeploymentName reports whether name is a valid deployment name (the
// program's nano:deployment and the provisioning endpoint's names).
func ValidDeploymentName(name string) bool { return reDeployment.MatchString(name) }

// HetznerLocation is where nano places a Hetzner location's servers and
// primary IPs (a primary IP is bound to a datacenter) and the network zone
// of its private networks.
type HetznerLocation struct{ Datacenter, NetworkZone string }

// HetznerLocations are the Hetzner locations nano deploys to.
var HetznerLocations = map[string]HetznerLocation{
	"fsn1": {"fsn1-dc14", "eu-central"},
	"nbg1": {"nbg1-dc3", "eu-central"},
	"hel1": {"hel1-dc2", "eu-central"},
	"ash":  {"ash-dc1", "us-east"},
	"hil":  {"hil-dc1", "us-west"},
	"sin":  {"sin-dc1", "ap-southeast"},
}

// Load reads and validates every key. It returns all problems at once, each
// prefixed with its full key (e.g. "nano:provider: ...").
func Load(stack string, get Getter) (Settings, error) {
	l := &loader{get: get}
	s := Settings{
		Region: strings.TrimSpace(get(KeyRegion)),
		Domain: strings.ToLower(strings.TrimSpace(get(KeyDomain))),
	}
	tierOK, providerOK := l.tierAndProvider(&s)
	l.identity(&s, stack)
	s.Images = Images{API: l.image(KeyAPIImage), Search: l.image(KeySearchImage), Ingest: l.image(KeyIngestImage), Web: l.image(KeyWebImage)}
	l.access(&s)
	if providerOK && len(s.KubeAPIAllowedCIDRs) > 0 {
		if _, err := KubeAPICIDRsFor(s.Provider, s.KubeAPIAllowedCIDRs); err != nil {
			l.errs = append(l.errs, err)
		}
	}
	replicas, hot, days := l.integer(KeyAppReplicas), l.integer(KeyHotStorageGB), l.integer(KeyRetentionDays)
	quota := tier.TenantQuota{EPS: l.integer(KeyTenantEPS), GBPerDay: l.integer(KeyTenantGBPerDay)}
	dropPct := l.integer(KeyDropOldestPct)
	s.DailyVolumeGB = l.integer(KeyDailyVolumeGB)
	s.ProtectData = l.boolean(KeyProtectData, true)
	s.AlertmanagerConfig = l.alertmanager()
	s.MachineType = strings.TrimSpace(get(KeyMachineType))
	if s.MachineType != "" && !reMachine.MatchString(s.MachineType) {
		l.bad(KeyMachineType, "%q is not a machine type name", s.MachineType)
	}
	if tierOK {
		l.overrides(&s, replicas, hot, days)
		l.enterpriseBand(&s)
		l.ingestPolicy(&s, quota, dropPct)
		l.signIn(&s)
		s.Warm = warmBucket(s.Tier, get, l.bad)
		s.Backup = backupBucket(s.Tier, get, l.bad)
		s.PostgresArchive = postgresArchive(s.Tier, s.Backup != nil, get, l.bad)
		s.ClickHouseCloud = clickHouseCloud(s.Tier, s.Provider, get, l.bad)
		s.Cluster = existingCluster(s, get, l.bad)
		if providerOK && s.MachineType != "" {
			l.machineOverride(s)
		}
		if providerOK && s.MachineType == "" && s.Provider != tier.Kubernetes {
			if m, ok := mainMachine(s); ok {
				t, err := tier.MachineType(s.Provider, m)
				if err != nil {
					l.bad(KeyMachineType, "%v; set %s:%s", err, Namespace, KeyMachineType)
				}
				s.MachineType = t
			}
		}
	}
	if err := errors.Join(l.errs...); err != nil {
		return Settings{}, fmt.Errorf("invalid configuration for stack %q:\n%w", stack, err)
	}
	return s, nil
}

// alertmanager reads nano:alertmanagerConfig and checks it with
// Alertmanager's own loader (a placeholder for a secret that cannot be
// read offline is not checked).
func (l *loader) alertmanager() string {
	v := l.get(KeyAlertmanager)
	if v == OfflineSecret {
		return ""
	}
	if err := amconfig.Check(v); err != nil {
		l.bad(KeyAlertmanager, "%v", err)
	}
	return v
}

// loader collects every problem of a Load, each prefixed with its full key.
type loader struct {
	get  Getter
	errs []error
}

func (l *loader) bad(key, format string, args ...any) {
	// A field error: the provisioning endpoint names the key in its answer.
	l.errs = append(l.errs, fielderr.New(Namespace+":"+key, "%s", fmt.Sprintf(format, args...)))
}

// tierAndProvider reads the two keys that decide everything else.
func (l *loader) tierAndProvider(s *Settings) (tierOK, providerOK bool) {
	tierName := strings.ToLower(strings.TrimSpace(l.get(KeyTier)))
	spec, tierOK := tier.Lookup(tier.Name(tierName))
	switch {
	case tierName == "":
		l.bad(KeyTier, "required; set one of %s", list(tier.Names()))
	case !tierOK:
		l.bad(KeyTier, "unknown tier %q; allowed: %s", tierName, list(tier.Names()))
	}
	provider := tier.Provider(strings.ToLower(strings.TrimSpace(l.get(KeyProvider))))
	switch {
	case provider == "":
		l.bad(KeyProvider, "required; set one of %s", list(tier.Providers()))
	case !slices.Contains(tier.Providers(), provider):
		l.bad(KeyProvider, "unknown provider %q; allowed: %s", provider, list(tier.Providers()))
	case tierOK && !spec.AllowsProvider(provider):
		l.bad(KeyProvider, "tier %q does not run on %q; allowed for %s: %s", spec.Name, provider, spec.Name, list(spec.ProvidersWithTargets()))
	}
	s.Tier, s.Provider = spec, provider
	providerOK = tierOK && spec.AllowsProvider(provider)
	if providerOK {
		if msg := checkRegion(provider, s.Region); msg != "" {
			l.bad(KeyRegion, "%s", msg)
		}
	}
	return tierOK, providerOK
}

// identity reads the deployment's name and domain.
func (l *loader) identity(s *Settings, stack string) {
	s.Deployment = strings.TrimSpace(l.get(KeyDeployment))
	if s.Deployment == "" {
		s.Deployment = strings.ToLower(stack)
	}
	if !ValidDeploymentName(s.Deployment) {
		l.bad(KeyDeployment, "%q %s (defaults to the stack name)", s.Deployment, DeploymentNameRule)
	}
	if s.Domain != "" && !reDomain.MatchString(s.Domain) {
		l.bad(KeyDomain, "%q is not a DNS name like logs.example.com", s.Domain)
	}
}

// image reads an image key: pinned by tag or digest, never latest.
func (l *loader) image(key string) string {
	v := strings.TrimSpace(l.get(key))
	if v == "" {
		v = defaultOf(key)
	}
	switch {
	case !reImage.MatchString(v):
		l.bad(key, "%q is not an image reference like registry/name:tag or registry/name@sha256:<digest>", v)
	case !strings.Contains(v, ":") && !strings.Contains(v, "@"):
		l.bad(key, "%q has no tag or digest; pin a version", v)
	case strings.HasSuffix(v, ":latest"):
		l.bad(key, "%q uses the latest tag; pin a version or digest", v)
	}
	return v
}

// access reads who may reach SSH and the Kubernetes API, and the admin key.
func (l *loader) access(s *Settings) {
	s.SSHAllowedCIDRs = cidrList(l.get(KeySSHAllowedCIDRs), false, func(format string, args ...any) { l.bad(KeySSHAllowedCIDRs, format, args...) })
	apiCIDRs := l.get(KeyKubeAPICIDRs)
	if strings.TrimSpace(apiCIDRs) == "" {
		apiCIDRs = defaultOf(KeyKubeAPICIDRs)
	}
	s.KubeAPIAllowedCIDRs = cidrList(apiCIDRs, true, func(format string, args ...any) { l.bad(KeyKubeAPICIDRs, format, args...) })
	s.SSHPublicKey = strings.TrimSpace(l.get(KeySSHPublicKey))
	if k := s.SSHPublicKey; k != "" && !validSSHKey(k) {
		l.bad(KeySSHPublicKey, "not an OpenSSH public key (expected \"ssh-ed25519 AAAA...\" or \"ssh-rsa AAAA...\")")
	}
}

// integer reads a whole, non-negative number; empty is 0 (the tier's value).
// boolean reads a true/false key; empty is def.
func (l *loader) boolean(key string, def bool) bool {
	v := strings.TrimSpace(l.get(key))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.bad(key, "%q is not true or false", v)
		return def
	}
	return b
}

func (l *loader) integer(key string) int {
	v := strings.TrimSpace(l.get(key))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.bad(key, "%q is not a whole number", v)
		return 0
	}
	if n < 0 {
		l.bad(key, "%d is negative; use 0 for the tier's value", n)
		return 0
	}
	return n
}

// overrides applies the replica, hot storage and retention overrides the
// tier allows.
func (l *loader) overrides(s *Settings, replicas, hot, days int) {
	spec := s.Tier
	if replicas > 0 {
		switch {
		case spec.HA && replicas < 2:
			l.bad(KeyAppReplicas, "tier %q is highly available and needs at least 2 replicas; got %d", spec.Name, replicas)
		case spec.Kind == tier.Compose && replicas != 1:
			l.bad(KeyAppReplicas, "tier %q runs one of everything on one host; only 1 is allowed, got %d", spec.Name, replicas)
		case replicas > maxReplicas:
			l.bad(KeyAppReplicas, "%d is more than %d", replicas, maxReplicas)
		default:
			s.Tier.Replicas = replicas
		}
	}
	if hot > 0 {
		switch {
		case spec.ClickHouse.Cloud:
			l.bad(KeyHotStorageGB, "tier %q keeps events on ClickHouse Cloud; hot storage is not configurable", spec.Name)
		case hot < spec.HotStorageGB:
			l.bad(KeyHotStorageGB, "%d GB is less than tier %q's %d GB", hot, spec.Name, spec.HotStorageGB)
		default:
			s.Tier.HotStorageGB = hot
		}
	}
	if days > 0 {
		if days < minRetentionDays || days > maxRetentionDays {
			l.bad(KeyRetentionDays, "%d is outside %d-%d", days, minRetentionDays, maxRetentionDays)
		} else {
			s.Tier.Retention.Days = days
		}
	}
}

// Bounds of the ingest quota and disk policy overrides.
const (
	maxTenantEPS    = 10_000_000
	maxDropOldestPc = 50
)

// ingestPolicy applies the tenants' ingest quota and the disk policy.
// Enterprise's tenants are held to its daily volume unless overridden.
func (l *loader) ingestPolicy(s *Settings, q tier.TenantQuota, dropPct int) {
	if q.EPS > maxTenantEPS {
		l.bad(KeyTenantEPS, "%d is more than %d", q.EPS, maxTenantEPS)
		q.EPS = 0
	}
	if q.GBPerDay > maxDailyVolumeGB {
		l.bad(KeyTenantGBPerDay, "%d is more than %d", q.GBPerDay, maxDailyVolumeGB)
		q.GBPerDay = 0
	}
	if q.GBPerDay == 0 && s.Tier.GBPerDay == 0 {
		q.GBPerDay = s.DailyVolumeGB
	}
	s.Tier.Quota = q
	if dropPct > maxDropOldestPc {
		l.bad(KeyDropOldestPct, "%d%% is more than %d%%: a policy that deletes history must be a last resort", dropPct, maxDropOldestPc)
		dropPct = 0
	}
	s.Tier.Retention.DropOldestBelowPct = dropPct
}

// enterpriseBand picks Enterprise's volume band from nano:dailyVolumeGB,
// which no other tier takes.
func (l *loader) enterpriseBand(s *Settings) {
	spec := s.Tier
	if spec.Kind != tier.Managed {
		if s.DailyVolumeGB != 0 {
			l.bad(KeyDailyVolumeGB, "only the enterprise tier is sized by daily volume; tier %q has a fixed size", spec.Name)
		}
		return
	}
	switch {
	case s.DailyVolumeGB == 0:
		l.bad(KeyDailyVolumeGB, "required for tier %q: expected GB/day (bands: %s)", spec.Name, bands(spec))
	case s.DailyVolumeGB > maxDailyVolumeGB:
		l.bad(KeyDailyVolumeGB, "%d is more than %d", s.DailyVolumeGB, maxDailyVolumeGB)
	default:
		b, err := spec.BandFor(s.DailyVolumeGB)
		if err != nil {
			l.bad(KeyDailyVolumeGB, "%v", err)
		}
		s.Band = b
	}
}

// RequiredSecrets lists the secret keys the plain config calls for: the
// warm bucket's credentials with a configured bucket, the ClickHouse Cloud
// password on Enterprise. `go run . plan` stands placeholders in for them,
// since it cannot decrypt a stack's secrets.
func RequiredSecrets(get Getter) []string {
	var out []string
	if strings.TrimSpace(get(KeyWarmBucketURL)) != "" {
		out = append(out, KeyWarmAccessKeyID, KeyWarmSecretKey)
	}
	if strings.TrimSpace(get(KeyBackupURL)) != "" {
		out = append(out, KeyBackupKeyID, KeyBackupSecretKey)
	}
	enterprise := tier.Name(strings.ToLower(strings.TrimSpace(get(KeyTier)))) == tier.Enterprise
	if enterprise {
		out = append(out, KeyCHCloudPassword)
	}
	if tier.Provider(strings.ToLower(strings.TrimSpace(get(KeyProvider)))) == tier.Kubernetes {
		out = append(out, KeyKubeconfig)
		if enterprise {
			out = append(out, KeyPostgresURI)
		}
	}
	return append(out, signInSecret(get)...)
}

// OfflineSecret stands in for a secret that is set but cannot be read where
// the settings are validated: `go run . plan` cannot decrypt a stack's
// secrets, and the provisioning endpoint keeps a deployment's secrets only
// in its stack. Validation of a secret's shape skips it.
const OfflineSecret = "planned-offline"

// WithOfflineSecrets returns get with OfflineSecret in place of every
// required secret that is empty, and the keys it filled.
func WithOfflineSecrets(get Getter) (Getter, []string) {
	var filled []string
	for _, k := range RequiredSecrets(get) {
		if get(k) == "" {
			filled = append(filled, k)
		}
	}
	return func(key string) string {
		if slices.Contains(filled, key) {
			return OfflineSecret
		}
		return get(key)
	}, filled
}

// bucketKeys are the four keys of a configured bucket.
type bucketKeys struct{ url, region, keyID, secret string }

var (
	warmKeys   = bucketKeys{KeyWarmBucketURL, KeyWarmRegion, KeyWarmAccessKeyID, KeyWarmSecretKey}
	backupKeys = bucketKeys{KeyBackupURL, KeyBackupRegion, KeyBackupKeyID, KeyBackupSecretKey}
)

// readBucket reads a bucket's keys; nil when its URL is unset (and then
// the others must be too).
func readBucket(k bucketKeys, get Getter, bad func(key, format string, args ...any)) *WarmBucket {
	w := &WarmBucket{
		URL: strings.TrimSpace(get(k.url)), Region: strings.TrimSpace(get(k.region)),
		AccessKeyID: strings.TrimSpace(get(k.keyID)), SecretAccessKey: strings.TrimSpace(get(k.secret)),
	}
	if w.URL == "" {
		for _, kv := range []struct{ key, v string }{{k.region, w.Region}, {k.keyID, w.AccessKeyID}, {k.secret, w.SecretAccessKey}} {
			if kv.v != "" {
				bad(kv.key, "set without %s:%s; nano only uses it with a configured bucket", Namespace, k.url)
			}
		}
		return nil
	}
	return w
}

// checkBucket validates a configured bucket's URL, region and keys.
func checkBucket(w *WarmBucket, k bucketKeys, bad func(key, format string, args ...any)) {
	u, err := url.Parse(w.URL)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.User != nil:
		bad(k.url, "%q is not an https URL like https://s3.eu-central-2.wasabisys.com/my-bucket/", w.URL)
	case strings.Trim(u.Path, "/") == "":
		bad(k.url, "%q names no bucket; add it as the path, e.g. https://%s/my-bucket/", w.URL, u.Host)
	case strings.ContainsAny(w.URL, "'\\"):
		bad(k.url, "%q: no quotes or backslashes", w.URL)
	default:
		w.URL = strings.TrimSuffix(w.URL, "/") + "/"
	}
	if w.Region != "" && !reMachine.MatchString(w.Region) {
		bad(k.region, "%q is not a region name like eu-central-2", w.Region)
	}
	for _, kv := range []struct{ key, v string }{{k.keyID, w.AccessKeyID}, {k.secret, w.SecretAccessKey}} {
		if kv.v == "" {
			bad(kv.key, "required with %s:%s; set it with: pulumi config set --secret %s:%s <value>", Namespace, k.url, Namespace, kv.key)
		}
	}
}

// warmBucket validates the warm bucket keys; nil means none is configured.
func warmBucket(spec tier.Spec, get Getter, bad func(key, format string, args ...any)) *WarmBucket {
	w := readBucket(warmKeys, get, bad)
	if w == nil {
		return nil
	}
	if !spec.ClickHouse.WarmS3 {
		bad(KeyWarmBucketURL, "tier %q has no warm tier; only %s keep data in a bucket", spec.Name, list(warmTiers()))
		return nil
	}
	checkBucket(w, warmKeys, bad)
	return w
}

// backupBucket validates the backup bucket keys (Compose tiers and Growth);
// nil means none is configured.
func backupBucket(spec tier.Spec, get Getter, bad func(key, format string, args ...any)) *WarmBucket {
	w := readBucket(backupKeys, get, bad)
	switch {
	case w == nil:
		return nil
	case spec.ClickHouse.Cloud:
		bad(KeyBackupURL, "tier %q runs on ClickHouse Cloud, which backs itself up (see docs/operate/backups.md)", spec.Name)
		return nil
	case spec.ClickHouse.WarmS3:
		bad(KeyBackupURL, "tier %q backs ClickHouse up under its warm bucket (<deployment>/clickhouse-backups/); unset this key", spec.Name)
		return nil
	case spec.Kind != tier.Compose && spec.Kind != tier.SinglePool:
		bad(KeyBackupURL, "tier %q has no use for a backup bucket", spec.Name)
		return nil
	}
	checkBucket(w, backupKeys, bad)
	return w
}

// reServerName is a Barman server name as nano gives them.
var reServerName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// postgresArchive validates the archive keys: only where CloudNativePG
// backs up (a tier with backup days, or Growth with a backup bucket).
func postgresArchive(spec tier.Spec, bucket bool, get Getter, bad func(key, format string, args ...any)) PostgresArchive {
	a := PostgresArchive{ServerName: strings.TrimSpace(get(KeyPGServerName)), RecoverFrom: strings.TrimSpace(get(KeyPGRecoverFrom)),
		RecoverTo: strings.TrimSpace(get(KeyPGRecoverTo))}
	if a.ServerName == "" {
		a.ServerName = DefaultPostgresServerName
	}
	if !spec.Postgres.Operator || (spec.Postgres.BackupRetentionDays == 0 && !bucket) {
		changed := map[string]bool{KeyPGServerName: a.ServerName != DefaultPostgresServerName, KeyPGRecoverFrom: a.RecoverFrom != "", KeyPGRecoverTo: a.RecoverTo != ""}
		for _, key := range []string{KeyPGServerName, KeyPGRecoverFrom, KeyPGRecoverTo} {
			if changed[key] {
				bad(key, "tier %q has no CloudNativePG archive (Growth needs %s:%s; Hobby and Startup restore with api restore-postgres)", spec.Name, Namespace, KeyBackupURL)
			}
		}
		return PostgresArchive{}
	}
	for _, kv := range [][2]string{{KeyPGServerName, a.ServerName}, {KeyPGRecoverFrom, a.RecoverFrom}} {
		if kv[1] != "" && !reServerName.MatchString(kv[1]) {
			bad(kv[0], "%q is not a server name (lowercase letters, digits and '-', at most 63)", kv[1])
		}
	}
	switch {
	case a.RecoverFrom != "" && a.RecoverFrom == a.ServerName:
		bad(KeyPGServerName, "must differ from %s:%s (%q): CloudNativePG refuses to archive into an archive that holds WAL; e.g. %s-2", Namespace, KeyPGRecoverFrom, a.RecoverFrom, a.RecoverFrom)
	case a.RecoverTo != "" && a.RecoverFrom == "":
		bad(KeyPGRecoverTo, "set without %s:%s", Namespace, KeyPGRecoverFrom)
	}
	if a.RecoverTo != "" {
		if _, err := time.Parse(time.RFC3339, a.RecoverTo); err != nil {
			bad(KeyPGRecoverTo, "%q is not an RFC 3339 time like 2026-12-03T10:00:00Z", a.RecoverTo)
		}
	}
	return a
}

func warmTiers() []tier.Name {
	var out []tier.Name
	for _, t := range tier.All() {
		if t.ClickHouse.WarmS3 {
			out = append(out, t.Name)
		}
	}
	return out
}

// clickHouseCloud validates the ClickHouse Cloud keys (Enterprise only).
func clickHouseCloud(spec tier.Spec, p tier.Provider, get Getter, bad func(key, format string, args ...any)) *ClickHouseCloud {
	c := &ClickHouseCloud{
		EndpointService: strings.TrimSpace(get(KeyCHCloudService)), Host: strings.ToLower(strings.TrimSpace(get(KeyCHCloudHost))),
		User: strings.TrimSpace(get(KeyCHCloudUser)), Password: get(KeyCHCloudPassword),
	}
	if c.User == "" {
		c.User = "default"
	}
	if !spec.ClickHouse.Cloud {
		for _, k := range []struct{ key, v string }{{KeyCHCloudService, c.EndpointService}, {KeyCHCloudHost, c.Host}, {KeyCHCloudPassword, c.Password}} {
			if k.v != "" {
				bad(k.key, "only tier %q uses ClickHouse Cloud; tier %q runs its own ClickHouse", tier.Enterprise, spec.Name)
			}
		}
		return nil
	}
	re := reEndpointService[p]
	switch {
	case p == tier.Kubernetes:
		if c.EndpointService != "" {
			bad(KeyCHCloudService, "unused with provider %q: your cluster reaches ClickHouse Cloud over your own network and nano creates no private endpoint; remove it", p)
		}
	case c.EndpointService == "":
		bad(KeyCHCloudService, "required for tier %q: the private endpoint service of your ClickHouse Cloud service (ClickHouse Cloud console: Settings, Private endpoints)", spec.Name)
	case re == nil:
		bad(KeyCHCloudService, "ClickHouse Cloud private endpoints are not available on provider %q", p)
	case !re.MatchString(c.EndpointService):
		bad(KeyCHCloudService, "%q is not a %s endpoint service (pattern %s)", c.EndpointService, p, re)
	}
	switch {
	case c.Host == "":
		bad(KeyCHCloudHost, "required for tier %q: the service's private hostname", spec.Name)
	case !reDomain.MatchString(c.Host):
		bad(KeyCHCloudHost, "%q is not a DNS name", c.Host)
	}
	if !reCHUser.MatchString(c.User) {
		bad(KeyCHCloudUser, "%q is not a ClickHouse user name", c.User)
	}
	if c.Password == "" {
		bad(KeyCHCloudPassword, "required for tier %q; set it with: pulumi config set --secret %s:%s <password>", spec.Name, Namespace, KeyCHCloudPassword)
	}
	return c
}

// machineOverride checks nano:machineType against the tier: a type the
// provider has, at least the tier's size (the bill of materials and the
// services' sizing assume it), and only where one machine type is used.
func (l *loader) machineOverride(s Settings) {
	if s.Provider == tier.Kubernetes {
		l.bad(KeyMachineType, "has no effect with provider %q: the cluster's nodes are yours; remove it", tier.Kubernetes)
		return
	}
	need, ok := mainMachine(s)
	if !ok {
		l.bad(KeyMachineType, "has no effect on tier %q, whose pools are sized per role (or by daily volume); remove it", s.Tier.Name)
		return
	}
	size, err := tier.MachineSize(s.Provider, s.MachineType)
	if err != nil {
		l.bad(KeyMachineType, "%v", err)
		return
	}
	if !size.Covers(need) {
		l.bad(KeyMachineType, "%s is %s; tier %q needs at least %s", s.MachineType, size, s.Tier.Name, need)
	}
}

// mainMachine is the machine size MachineType names: the compose host, the
// single/HA pool, or nothing for multi-pool tiers (their pools are typed per
// role by the cluster components).
func mainMachine(s Settings) (tier.Machine, bool) {
	if p, ok := s.Tier.Pool(tier.General); ok {
		return p.Machine, true
	}
	return tier.Machine{}, false
}

func checkRegion(p tier.Provider, region string) string {
	if p == tier.Kubernetes {
		return "" // the cluster is where it is; the key is unused
	}
	if p == tier.Hetzner {
		var locs []string
		for l := range HetznerLocations {
			locs = append(locs, l)
		}
		slices.Sort(locs)
		if _, ok := HetznerLocations[region]; !ok {
			return fmt.Sprintf("%q is not a Hetzner location; allowed: %s", region, strings.Join(locs, ", "))
		}
		return ""
	}
	if region == "" {
		return fmt.Sprintf("required for provider %q", p)
	}
	if re := regionShapes[p]; re != nil && !re.MatchString(region) {
		return fmt.Sprintf("%q is not a %s region name (pattern %s)", region, p, re)
	}
	return ""
}

// cidrs parses the JSON array of CIDRs Pulumi passes for an array key;
// world (prefixes whose union covers all of IPv4 or IPv6, package cidrs)
// is refused unless allowWorld.
func cidrList(raw string, allowWorld bool, bad func(string, ...any)) []string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	var in []string
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		bad("must be a list of CIDRs like [\"203.0.113.0/24\"]: %v", err)
		return nil
	}
	var out []string
	for _, c := range in {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		switch {
		case err != nil:
			bad("%q is not a CIDR like 203.0.113.0/24", c)
		case p.Masked() != p:
			bad("%q has host bits set; did you mean %s?", c, p.Masked())
		default:
			out = append(out, p.String())
		}
	}
	if fam := cidrs.World(out); fam != "" && !allowWorld {
		quoted := make([]string, len(in))
		for i, c := range in {
			quoted[i] = strconv.Quote(c)
		}
		bad("%s opens SSH to the whole internet (all of %s); list your admin networks", strings.Join(quoted, ", "), fam)
		return nil
	}
	return out
}

func validSSHKey(k string) bool {
	f := strings.Fields(k)
	if len(f) < 2 {
		return false
	}
	switch f[0] {
	case "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
		return strings.HasPrefix(f[1], "AAAA")
	}
	return false
}

func defaultOf(key string) string {
	for _, k := range Keys {
		if k.Name == key {
			return k.Default
		}
	}
	return ""
}

func bands(s tier.Spec) string {
	var out []string
	for _, b := range s.VolumeBands {
		out = append(out, b.Label)
	}
	return strings.Join(out, "; ")
}

func list[T ~string](xs []T) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return strings.Join(out, ", ")
}
