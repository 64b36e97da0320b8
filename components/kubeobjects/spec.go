package kubeobjects

import (
	"errors"
	"fmt"

	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Operator versions: pinned to the CRDs in ../shared/crds (see
// testdata/crds, which a test keeps equal to them).
const (
	ClickHouseOperatorChart   = "altinity-clickhouse-operator"
	ClickHouseOperatorVersion = "0.25.6"
	ClickHouseOperatorRepo    = "https://docs.altinity.com/clickhouse-operator/"
	CNPGChart                 = "cloudnative-pg"
	CNPGChartVersion          = "0.26.1"
	CNPGRepo                  = "https://cloudnative-pg.github.io/charts"
	// cert-manager issues the HTTPS certificate of api and search (with a
	// domain); its ClusterIssuer is validated against this version's CRD.
	CertManagerChart   = "cert-manager"
	CertManagerVersion = "v1.19.1"
	CertManagerRepo    = "https://charts.jetstack.io"
	// Traefik is the ingress controller installed where the cluster has
	// none (EKS, GKE, Vultr); k3s and Civo ship it.
	TraefikChart   = "traefik"
	TraefikVersion = "37.4.0"
	TraefikRepo    = "https://traefik.github.io/charts"
)

// metrics-server serves the resource metrics API that ingest's autoscaler
// reads, where the cluster has none of its own (EKS; GKE ships one).
const (
	MetricsServerChart   = "metrics-server"
	MetricsServerVersion = "3.13.0"
	MetricsServerRepo    = "https://kubernetes-sigs.github.io/metrics-server"
)

// IngressClassTraefik is the class of the Traefik the platform installs.
const IngressClassTraefik = "traefik"

// Endpoint is a database outside the cluster (Enterprise).
type Endpoint struct {
	Host string
	Port int
}

// Spec is what the platform needs to know.
type Spec struct {
	Deployment string
	Tier       tier.Spec
	Images     settings.Images
	// StorageClass of the PVCs; "" means the cluster's default.
	StorageClass string
	// Domain, when set, is the HTTPS host of api and search (Ingress).
	Domain string
	// IngressClass names the cluster's own ingress controller; "" means it
	// has none and the platform installs Traefik (with a domain).
	IngressClass string
	// ClickHouse is the ClickHouse Cloud endpoint (Enterprise only).
	ClickHouse *Endpoint
	// Postgres is the Cloud SQL / RDS endpoint (Enterprise only).
	Postgres *Endpoint
	// Backup is where CloudNativePG keeps PostgreSQL's backups, on tiers
	// whose catalog entry has backup days or with BackupBucket (required
	// there, only there).
	Backup *Backup
	// PostgresArchive names CloudNativePG's archive (ServerName: "" is
	// settings.DefaultPostgresServerName) and, to restore, the one a new
	// cluster recovers from; only where Backups().
	PostgresArchive settings.PostgresArchive
	// BackupBucket: a tier without a warm disk (Growth) has a bucket for
	// backups (nano:backupBucketUrl): ClickHouse and PostgreSQL back up to
	// it, through SecretWarm as the warm tiers do.
	BackupBucket bool
	// IngestPool, when set, is the pool ingest runs on sized by daily
	// volume (Enterprise's band): ingest's replicas, resources and
	// autoscaling follow it (ingestScale) instead of the tier's replicas.
	IngestPool *tier.Pool
	// NoMetricsAPI: the cluster serves no resource metrics (EKS), so with
	// an autoscaled ingest the platform installs metrics-server.
	NoMetricsAPI bool
	// AlertmanagerConfigHash is ConfigHash of Alertmanager's configuration
	// (the Secret SecretAlertmanager, which the Platform component writes).
	AlertmanagerConfigHash string
	// SignIn is the identity provider people sign in through (nil: API
	// tokens only); it needs Domain, the UI's host. Its client secret is
	// never rendered here: the Platform puts it in SecretOIDC.
	SignIn *settings.SignIn
}

// Backup is an S3-compatible object store prefix for PostgreSQL's base
// backups and WAL (Barman Cloud). Its credentials are the warm bucket's
// (SecretWarm). The values are strings, or string outputs when the
// Platform component fills them from a bucket the stack is creating.
type Backup struct {
	// DestinationPath is "s3://bucket/prefix/".
	DestinationPath any
	// EndpointURL is the S3 API's URL (https://host).
	EndpointURL any
	// ExpiredByBucket: the store's lifecycle rules expire old backups and
	// its keys cannot delete (nano's backup bucket), so CloudNativePG
	// keeps no retention policy of its own.
	ExpiredByBucket bool
}

// Validate reports every problem of the spec.
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("platform: "+format, args...)) }
	if s.Deployment == "" {
		bad("deployment name is required")
	}
	switch s.Tier.Kind {
	case tier.SinglePool, tier.HA, tier.MultiPool, tier.Managed:
	default:
		bad("tier %q (%s) does not run on Kubernetes", s.Tier.Name, s.Tier.Kind)
	}
	if s.Tier.Replicas < 1 || (s.Tier.HA && s.Tier.Replicas < 2) {
		bad("tier %q needs at least %d replicas, got %d", s.Tier.Name, map[bool]int{true: 2, false: 1}[s.Tier.HA], s.Tier.Replicas)
	}
	if s.Images.API == "" || s.Images.Search == "" || s.Images.Ingest == "" || s.Images.Web == "" {
		bad("api, search, ingest and web images are required")
	}
	if s.SignIn != nil && s.Domain == "" {
		bad("single sign-on needs a domain: the provider redirects people to https://<domain>/api/v1/auth/callback")
	}
	if s.Tier.ClickHouse.Cloud != (s.ClickHouse != nil) {
		bad("a ClickHouse Cloud endpoint is required on tier %q and only there", tier.Enterprise)
	}
	if s.Tier.Postgres.Managed != (s.Postgres != nil) {
		bad("a managed PostgreSQL endpoint is required on tier %q and only there", tier.Enterprise)
	}
	if wantBackup := s.Backups(); wantBackup != (s.Backup != nil) {
		bad("a PostgreSQL backup store is required on tiers with in-cluster PostgreSQL backups and only there (tier %q: %v)", s.Tier.Name, wantBackup)
	} else if wantBackup && (s.Backup.DestinationPath == nil || s.Backup.DestinationPath == "" || s.Backup.EndpointURL == nil || s.Backup.EndpointURL == "") {
		bad("the PostgreSQL backup store needs a destination path and an endpoint URL")
	}
	if s.Backups() && !s.HasBucket() {
		bad("tier %q backs PostgreSQL up to the warm bucket but has none", s.Tier.Name)
	}
	if s.PostgresArchive.RecoverFrom != "" && !s.Backups() {
		bad("PostgreSQL recovers from an archive only where CloudNativePG backs up")
	}
	if s.BackupBucket && (s.Tier.ClickHouse.WarmS3 || s.Tier.ClickHouse.Cloud || !s.Tier.Postgres.Operator) {
		bad("tier %q takes no backup bucket: its backups go to the warm bucket or its cloud's", s.Tier.Name)
	}
	if !s.Tier.ClickHouse.Cloud {
		if s.Tier.ClickHouse.Pods() < 1 || s.Tier.HotStoragePerPodGB() < 1 {
			bad("tier %q has no ClickHouse pods or storage", s.Tier.Name)
		}
		if s.Tier.ClickHouse.Replicas > 1 && s.Tier.ClickHouse.KeeperNodes < 3 {
			bad("replicated ClickHouse needs a Keeper quorum of 3, got %d", s.Tier.ClickHouse.KeeperNodes)
		}
	}
	return errors.Join(errs...)
}

// dedicatedPools reports whether the cluster has app/ClickHouse/ingest pools
// (Pro) or app/ingest pools (Enterprise), whose nodes carry PoolLabel.
func (s Spec) dedicatedPools() bool {
	_, ok := s.Tier.Pool(tier.App)
	return ok || s.Tier.Kind == tier.Managed
}

// PoolLabel is the node label the cluster components put on every node of a
// dedicated pool; its value is the pool's role. PoolTaint taints the
// ClickHouse pool so that only ClickHouse schedules there.
const (
	PoolLabel = "nano.dev/pool"
	PoolTaint = "nano.dev/pool"
)

// Backups reports whether CloudNativePG backs PostgreSQL up to the bucket
// (Spec.Backup is then required).
func (s Spec) Backups() bool {
	return s.Tier.Postgres.Operator && (s.Tier.Postgres.BackupRetentionDays > 0 || s.BackupBucket)
}

// HasBucket reports whether the deployment has a bucket (SecretWarm): the
// warm tier's, or a backup bucket.
func (s Spec) HasBucket() bool { return s.Tier.ClickHouse.WarmS3 || s.BackupBucket }

// backupDays is how long PostgreSQL's backups are kept: the tier's, or
// on a tier with none but a backup bucket, the catalog's tier.BackupDays.
func (s Spec) backupDays() int {
	if d := s.Tier.Postgres.BackupRetentionDays; d > 0 {
		return d
	}
	return tier.BackupDays
}

// InstallsIngressController reports whether the platform installs Traefik:
// api and search are exposed (a domain) and the cluster has no controller.
func (s Spec) InstallsIngressController() bool { return s.Domain != "" && s.IngressClass == "" }

// ingressClass is the class the Ingress and the ACME solver use.
func (s Spec) ingressClass() string {
	if s.IngressClass == "" {
		return IngressClassTraefik
	}
	return s.IngressClass
}
