package settings

// Namespace is the config namespace of every key (the project name).
const Namespace = "nano"

// KeyType is a key's type as Pulumi.yaml declares it.
type KeyType string

// The config types Pulumi.yaml can declare.
const (
	String  KeyType = "string"
	Integer KeyType = "integer"
	Array   KeyType = "array" // of strings
	Boolean KeyType = "boolean"
)

// Key is one config key the program reads. Pulumi.yaml declares each with the
// same type, description and default (keys_test.go checks it).
type Key struct {
	Name        string
	Type        KeyType
	Description string
	// Default is the YAML-rendered default; "" for none. Required keys have none.
	Default  string
	Required bool
	// Secret keys must be set with `pulumi config set --secret`; the program
	// reads them as secrets.
	Secret bool
}

// Config key names.
const (
	KeyTier            = "tier"
	KeyProvider        = "provider"
	KeyRegion          = "region"
	KeyDeployment      = "deployment"
	KeyDomain          = "domain"
	KeyAPIImage        = "apiImage"
	KeySearchImage     = "searchImage"
	KeyIngestImage     = "ingestImage"
	KeyWebImage        = "webImage"
	KeySSHAllowedCIDRs = "sshAllowedCidrs"
	KeySSHPublicKey    = "sshPublicKey"
	KeyKubeAPICIDRs    = "kubeApiAllowedCidrs"
	KeyAppReplicas     = "appReplicas"
	KeyHotStorageGB    = "hotStorageGB"
	KeyRetentionDays   = "retentionDays"
	KeyMachineType     = "machineType"
	KeyDailyVolumeGB   = "dailyVolumeGB"
	KeyWarmBucketURL   = "warmBucketUrl"
	KeyWarmRegion      = "warmBucketRegion"
	KeyWarmAccessKeyID = "warmAccessKeyId"
	KeyWarmSecretKey   = "warmSecretAccessKey"
	KeyBackupURL       = "backupBucketUrl"
	KeyBackupRegion    = "backupBucketRegion"
	KeyBackupKeyID     = "backupAccessKeyId"
	KeyBackupSecretKey = "backupSecretAccessKey"
	KeyPGServerName    = "postgresServerName"
	KeyPGRecoverFrom   = "postgresRecoverFrom"
	KeyPGRecoverTo     = "postgresRecoverTo"
	KeyCHCloudService  = "clickhouseCloudEndpointService"
	KeyCHCloudHost     = "clickhouseCloudHost"
	KeyCHCloudUser     = "clickhouseCloudUser"
	KeyCHCloudPassword = "clickhouseCloudPassword"
	KeyKubeconfig      = "kubeconfig"
	KeyKubeOperators   = "kubeOperators"
	KeyStorageClass    = "storageClass"
	KeyIngressClass    = "ingressClass"
	KeyPostgresURI     = "postgresUri"
	KeyProtectData     = "protectData"
	KeyTenantEPS       = "ingestTenantEps"
	KeyTenantGBPerDay  = "ingestTenantGBPerDay"
	KeyDropOldestPct   = "diskDropOldestBelowPct"
	KeyAlertmanager    = "alertmanagerConfig"
	// Sign-in through an identity provider and the audit trail
	// (docs/security/sign-in.md).
	KeyOIDCIssuer       = "oidcIssuer"
	KeyOIDCClientID     = "oidcClientId"
	KeyOIDCClientSecret = "oidcClientSecret"
	KeyOIDCGroupsClaim  = "oidcGroupsClaim"
	KeyOIDCRoles        = "oidcRoles"
	KeyOIDCScopes       = "oidcScopes"
	KeyAuditDays        = "auditRetentionDays"
)

// Values of nano:kubeOperators.
const (
	OperatorsHelm         = "helm"
	OperatorsPreinstalled = "preinstalled"
)

// Default image references: the release the program was built with.
const (
	DefaultImageRegistry = "ghcr.io/nanosiem"
	DefaultImageVersion  = "0.1.0"
)

// Keys lists every key the program reads, in Pulumi.yaml's order.
var Keys = []Key{
	{Name: KeyTier, Type: String, Required: true,
		Description: "Tier to deploy: hobby, startup, growth, team, business, pro or enterprise."},
	{Name: KeyProvider, Type: String, Required: true,
		Description: "Cloud to deploy on: hetzner, civo, vultr, gcp or aws (the tier decides which are allowed), or kubernetes: an existing cluster of yours (growth and up; see nano:kubeconfig)."},
	{Name: KeyRegion, Type: String, Default: `""`,
		Description: "Provider region or location, e.g. fsn1 (hetzner), LON1 (civo), ams (vultr), europe-west3 (gcp), eu-central-1 (aws). Required on every cloud; unused with provider kubernetes."},
	{Name: KeyDeployment, Type: String, Default: `""`,
		Description: "Deployment name used in resource names and the nano-deployment label; empty means the stack name."},
	{Name: KeyDomain, Type: String, Default: `""`,
		Description: "DNS name that points at the deployment's public address; enables publicly trusted TLS. Empty means the public IP with a self-signed certificate."},
	{Name: KeyAPIImage, Type: String, Default: DefaultImageRegistry + "/api:" + DefaultImageVersion,
		Description: "Container image of the api service (tag or digest; never latest)."},
	{Name: KeySearchImage, Type: String, Default: DefaultImageRegistry + "/search:" + DefaultImageVersion,
		Description: "Container image of the search service (tag or digest; never latest)."},
	{Name: KeyIngestImage, Type: String, Default: DefaultImageRegistry + "/ingest:" + DefaultImageVersion,
		Description: "Container image of the ingest service (tag or digest; never latest)."},
	{Name: KeyWebImage, Type: String, Default: DefaultImageRegistry + "/web:" + DefaultImageVersion,
		Description: "Container image of the web service, the analyst UI (tag or digest; never latest)."},
	{Name: KeySSHAllowedCIDRs, Type: Array, Default: "[]",
		Description: "CIDRs allowed to reach SSH (port 22). Empty closes SSH entirely; 0.0.0.0/0 and ::/0 are refused."},
	{Name: KeySSHPublicKey, Type: String, Default: `""`,
		Description: "OpenSSH public key installed for the admin user. Empty generates a key pair and exports the private key as a secret."},
	{Name: KeyKubeAPICIDRs, Type: Array, Default: `["0.0.0.0/0","::/0"]`,
		Description: "CIDRs allowed to reach the Kubernetes API of the clusters nano builds: Growth's 6443 (both families), Civo's firewall, GKE's authorized networks and EKS' public endpoint (IPv4 entries only; a list without one is refused, as EKS reads an empty list as the whole internet). Vultr offers no allow-list: a narrower list is refused there. Every request still needs the cluster's credentials. Narrow it to where pulumi up runs."},
	{Name: KeyAppReplicas, Type: Integer, Default: "0",
		Description: "Override: replicas of api, search, web and ingest. 0 means the tier's (HA tiers need at least 2)."},
	{Name: KeyHotStorageGB, Type: Integer, Default: "0",
		Description: "Override: total hot storage in GB. 0 means the tier's; smaller than the tier's is refused."},
	{Name: KeyRetentionDays, Type: Integer, Default: "0",
		Description: "Override: event retention in days (1-3650). 0 means the tier's."},
	{Name: KeyMachineType, Type: String, Default: `""`,
		Description: "Override: the provider's machine type for the tier's main machine or pool. Empty picks the type that matches the tier's size."},
	{Name: KeyDailyVolumeGB, Type: Integer, Default: "0",
		Description: "Enterprise only: expected log volume in GB/day; sizes the app and ingest pools from the tier catalog's volume bands."},
	{Name: KeyWarmBucketURL, Type: String, Default: `""`,
		Description: "Team and above: S3-compatible bucket URL for ClickHouse's warm tier (Wasabi, S3, GCS or any S3 API), e.g. https://s3.eu-central-2.wasabisys.com/my-bucket/. Empty: nano creates a private bucket in the deployment's cloud. With a URL, set nano:warmAccessKeyId and nano:warmSecretAccessKey."},
	{Name: KeyWarmRegion, Type: String, Default: `""`,
		Description: "Region of nano:warmBucketUrl's bucket when its API needs one (e.g. eu-central-2). Empty lets ClickHouse detect it."},
	{Name: KeyWarmAccessKeyID, Type: String, Default: `""`, Secret: true,
		Description: "Access key id of nano:warmBucketUrl (pulumi config set --secret)."},
	{Name: KeyWarmSecretKey, Type: String, Default: `""`, Secret: true,
		Description: "Secret access key of nano:warmBucketUrl (pulumi config set --secret)."},
	{Name: KeyBackupURL, Type: String, Default: `""`,
		Description: "Hobby, Startup and Growth: S3-compatible bucket URL backups go to (e.g. Hetzner Object Storage: https://fsn1.your-objectstorage.com/my-bucket/): ClickHouse's under <deployment>/clickhouse-backups/, PostgreSQL's under <deployment>/postgres-backups/ on Hobby and Startup (the api's) and <deployment>/postgres/ on Growth (CloudNativePG's). Empty: no backups (nano cannot create a bucket on Hetzner). Team and above back up under the warm bucket instead; Enterprise's ClickHouse Cloud backs itself up."},
	{Name: KeyBackupRegion, Type: String, Default: `""`,
		Description: "Region of nano:backupBucketUrl's bucket when its API needs one (e.g. fsn1). Empty: us-east-1, which S3-compatible stores accept."},
	{Name: KeyBackupKeyID, Type: String, Default: `""`, Secret: true,
		Description: "Access key id of nano:backupBucketUrl (pulumi config set --secret)."},
	{Name: KeyBackupSecretKey, Type: String, Default: `""`, Secret: true,
		Description: "Secret access key of nano:backupBucketUrl (pulumi config set --secret)."},
	{Name: KeyPGServerName, Type: String, Default: DefaultPostgresServerName,
		Description: "Growth (with nano:backupBucketUrl), Team, Business, Pro: the name CloudNativePG archives PostgreSQL under (<deployment>/postgres/<name>/). A restored cluster archives under a new one (see nano:postgresRecoverFrom)."},
	{Name: KeyPGRecoverFrom, Type: String, Default: `""`,
		Description: "Restore: the server name whose archive a new PostgreSQL cluster recovers from (e.g. nano-pg), with a new nano:postgresServerName. CloudNativePG reads it only when it creates the cluster: docs/operate/backups.md says when to delete the old one. Keep it set afterwards."},
	{Name: KeyPGRecoverTo, Type: String, Default: `""`,
		Description: "Restore: the time (RFC 3339, e.g. 2026-12-03T10:00:00Z) the recovery of nano:postgresRecoverFrom stops at. Empty: the end of its archive."},
	{Name: KeyCHCloudService, Type: String, Default: `""`,
		Description: "Enterprise only: the ClickHouse Cloud service's private endpoint service: on aws its VPC endpoint service name (com.amazonaws.vpce.<region>.vpce-svc-...), on gcp its Private Service Connect service attachment (projects/<project>/regions/<region>/serviceAttachments/<name>)."},
	{Name: KeyCHCloudHost, Type: String, Default: `""`,
		Description: "Enterprise only: the ClickHouse Cloud service's private hostname (e.g. abc123.eu-central-1.vpce.aws.clickhouse.cloud); nano's private DNS zone resolves it to the endpoint in the deployment's network."},
	{Name: KeyCHCloudUser, Type: String, Default: "default",
		Description: "Enterprise only: the ClickHouse Cloud user nano connects as."},
	{Name: KeyCHCloudPassword, Type: String, Default: `""`, Secret: true,
		Description: "Enterprise only: the password of nano:clickhouseCloudUser (pulumi config set --secret)."},
	{Name: KeyKubeconfig, Type: String, Default: `""`, Secret: true,
		Description: "Provider kubernetes only, required there: the kubeconfig of your cluster, whose current context nano deploys into (pulumi config set --secret nano:kubeconfig < kubeconfig.yaml)."},
	{Name: KeyKubeOperators, Type: String, Default: OperatorsHelm,
		Description: "Provider kubernetes only: helm installs the operators nano needs (Altinity ClickHouse, CloudNativePG; cert-manager with a domain; Traefik with a domain and no nano:ingressClass) by Helm; preinstalled means your cluster already runs them and nano installs none."},
	{Name: KeyStorageClass, Type: String, Default: `""`,
		Description: "Provider kubernetes only: storage class of nano's volumes. Empty means the cluster's default class."},
	{Name: KeyIngressClass, Type: String, Default: `""`,
		Description: "Provider kubernetes only: ingress class of your cluster's ingress controller for api and search (with nano:domain). Empty installs Traefik, which nano:kubeOperators preinstalled does not allow."},
	{Name: KeyPostgresURI, Type: String, Default: `""`, Secret: true,
		Description: "Enterprise on provider kubernetes only, required there: the libpq URI of your managed PostgreSQL (postgres://user:password@host:5432/nano?sslmode=verify-full) (pulumi config set --secret)."},
	{Name: KeyTenantEPS, Type: Integer, Default: "0",
		Description: "Override: each tenant's ingest quota in events per second (per ingest replica, bursts of 60 s); more gets 429. 0 means the tier's EPS (Enterprise: unlimited)."},
	{Name: KeyTenantGBPerDay, Type: Integer, Default: "0",
		Description: "Override: each tenant's ingest quota in GB of events per UTC day (across replicas); more gets 429 until midnight UTC. 0 means the tier's GB/day (Enterprise: nano:dailyVolumeGB)."},
	{Name: KeyDropOldestPct, Type: Integer, Default: "0",
		Description: "Policy: below this percentage of ClickHouse's disk free, the api deletes the oldest day of events (each logged and alerted) to make room. 0 (default) never deletes history: ingest refuses new events (503) below 10% free and the NanoIngestRefusingDiskFull alert fires."},
	{Name: KeyOIDCIssuer, Type: String, Default: `""`,
		Description: "Single sign-on: the identity provider's OpenID Connect issuer URL (https), e.g. https://login.example.com/realms/acme. Set it with nano:oidcClientId, nano:oidcClientSecret and nano:oidcRoles; register <webUrl>api/v1/auth/callback at the provider (output oidcRedirectUrl). Empty: people sign into the UI with API tokens only. Growth and up need nano:domain for it."},
	{Name: KeyOIDCClientID, Type: String, Default: `""`,
		Description: "Single sign-on: nano's client id at the identity provider (with nano:oidcIssuer)."},
	{Name: KeyOIDCClientSecret, Type: String, Default: `""`, Secret: true,
		Description: "Single sign-on: nano's client secret at the identity provider (pulumi config set --secret)."},
	{Name: KeyOIDCGroupsClaim, Type: String, Default: DefaultGroupsClaim,
		Description: "Single sign-on: the ID token claim that lists the person's groups; a dotted path reaches into an object (realm_access.roles)."},
	{Name: KeyOIDCRoles, Type: Array, Default: "[]",
		Description: "Single sign-on: which groups get which role in which tenant, as \"group=tenant:role\" entries (role viewer, analyst or admin), e.g. [\"soc-admins=acme:admin\",\"soc=acme:analyst\"]. A person in no listed group cannot sign in."},
	{Name: KeyOIDCScopes, Type: Array, Default: "[]",
		Description: "Single sign-on: scopes to request besides openid, email and profile (e.g. [\"groups\"] where the provider sends the groups claim only for it)."},
	{Name: KeyAuditDays, Type: Integer, Default: "0",
		Description: "Override: days the audit trail (who changed what, sign-ins) is kept, 30-3650; whole months older are dropped. 0 means 400."},
	{Name: KeyProtectData, Type: Boolean, Default: "true",
		Description: "Protect what holds the deployment's data (volumes, buckets, databases, ClickHouse and PostgreSQL clusters) and its tier, provider and region: pulumi up refuses to replace or delete them. Set false, then pulumi up, only to destroy the deployment on purpose."},
	{Name: KeyAlertmanager, Type: String, Default: `""`, Secret: true,
		Description: "Where alerts go: Alertmanager's own configuration (YAML: route, receivers such as webhook, Slack, PagerDuty, e-mail; see docs/operate/alerting.md), set with pulumi config set --secret nano:alertmanagerConfig < alertmanager.yml. Checked with Alertmanager's loader at preview. Empty: alerts are routed nowhere (kept in nano only)."},
}
