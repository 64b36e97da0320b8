package tier

import (
	"fmt"
	"slices"
	"time"
)

// Name identifies a tier.
type Name string

// The tiers, smallest first.
const (
	Hobby      Name = "hobby"
	Startup    Name = "startup"
	Growth     Name = "growth"
	Team       Name = "team"
	Business   Name = "business"
	Pro        Name = "pro"
	Enterprise Name = "enterprise"
)

// Provider identifies a cloud a tier can run on.
type Provider string

// The providers named by the seed.
const (
	Hetzner Provider = "hetzner"
	Civo    Provider = "civo"
	Vultr   Provider = "vultr"
	GCP     Provider = "gcp"
	AWS     Provider = "aws"
	// Kubernetes is an existing cluster of the user's (Bring Your Own
	// Kubernetes): nano deploys only its Platform there, on the user's
	// nodes. Every Kubernetes tier runs on it; the catalog's Providers list
	// the clouds nano builds clusters on.
	Kubernetes Provider = "kubernetes"
)

// Kind is how a tier is deployed; each kind is one component.
type Kind string

// The deployment kinds and the components that build them.
const (
	Compose    Kind = "compose"     // ComposeHost: one VPS, Docker Compose
	SinglePool Kind = "single-pool" // SinglePoolCluster: one node pool
	HA         Kind = "ha"          // HACluster: three nodes, replicated databases
	MultiPool  Kind = "multi-pool"  // MultiPoolCluster: app, ClickHouse and ingest pools
	Managed    Kind = "managed"     // ManagedEnterprise: ClickHouse Cloud, Cloud SQL/RDS
)

// Machine is a machine size in vCPUs and GiB of memory.
type Machine struct {
	CPU      int
	MemoryGB int
}

func (m Machine) String() string { return fmt.Sprintf("%d CPU / %d GB", m.CPU, m.MemoryGB) }

// Scheduling is how a node pool's machines are bought.
type Scheduling string

// Node pool scheduling classes.
const (
	OnDemand Scheduling = "on-demand"
	Spot     Scheduling = "spot"
)

// PoolRole says which workloads a node pool runs.
type PoolRole string

// Node pool roles. A single-pool or HA cluster has one General pool.
const (
	General    PoolRole = "general"
	App        PoolRole = "app"
	ClickHouse PoolRole = "clickhouse"
	Ingest     PoolRole = "ingest" // the seed's "Vector" pool
)

// Pool is a node pool: Nodes machines of one size.
type Pool struct {
	Role       PoolRole
	Nodes      int
	Machine    Machine
	Scheduling Scheduling
	// AtLeast marks a pool whose node count is a floor ("12+" in the seed).
	AtLeast bool
}

// ClickHouseSpec is a tier's ClickHouse topology.
type ClickHouseSpec struct {
	// Cloud is true when ClickHouse runs on ClickHouse Cloud (Enterprise).
	Cloud bool
	// Operator is true when the Altinity operator manages ClickHouse.
	Operator bool
	Shards   int
	Replicas int // replicas per shard
	// KeeperNodes is the ClickHouse Keeper quorum size; 0 means none.
	KeeperNodes int
	// WarmS3 is true when an S3-compatible warm disk extends retention.
	WarmS3 bool
}

// Pods is the number of ClickHouse server pods (or containers).
func (c ClickHouseSpec) Pods() int { return c.Shards * c.Replicas }

// PostgresSpec is a tier's PostgreSQL topology.
type PostgresSpec struct {
	// Managed is true when PostgreSQL is Cloud SQL or RDS (Enterprise).
	Managed bool
	// Operator is true when CloudNativePG manages PostgreSQL.
	Operator  bool
	Instances int
	// BackupRetentionDays keeps base backups and WAL this long: in the
	// deployment's bucket (CloudNativePG on tiers with object storage) or
	// the cloud's own backups (managed). 0: no backups beyond the replicas.
	BackupRetentionDays int
}

// HA reports whether PostgreSQL has a standby to fail over to.
func (p PostgresSpec) HA() bool { return p.Managed || p.Instances > 1 }

// Retention is how long events are kept and where.
type Retention struct {
	Days int
	// WarmThenRolloff: data stays on the hot disk for Days, then is deleted.
	WarmThenRolloff bool
	// DropOldestBelowPct is the operator's policy of deleting history when
	// ClickHouse's disk fills: below this percentage free the api deletes
	// the oldest day of events, logged and alerted. 0 (every tier's
	// default): never; a full disk stops ingest instead
	// (nano:diskDropOldestBelowPct).
	DropOldestBelowPct int
	// AuditDays is how long the api keeps the audit trail
	// (nano:auditRetentionDays); 0: the api's default.
	AuditDays int
}

// TenantQuota is every tenant's ingest quota: events per second (on each
// ingest replica) and GB of events per UTC day (across replicas); 0 is
// unlimited.
type TenantQuota struct{ EPS, GBPerDay int }

// VolumeBand sizes Enterprise node pools by daily log volume.
type VolumeBand struct {
	Label string
	// MinGBPerDay < volume <= MaxGBPerDay; MaxGBPerDay 0 means unbounded.
	MinGBPerDay int
	MaxGBPerDay int
	App         Pool
	Ingest      Pool
}

// Spec is everything the seed says of one tier.
type Spec struct {
	Name Name
	// GBPerDay and EPS are the tier's ingest budget; 0 means custom/unlimited.
	GBPerDay int
	EPS      int
	// Replicas is the number of replicas of each app service (api, search,
	// web, ingest; the seed's "API, Search, Web" and "Frontend").
	Replicas  int
	HA        bool
	Providers []Provider
	Kind      Kind

	// Pools are the Kubernetes node pools; a Compose tier has one General
	// pool of a single machine. Enterprise sizes its pools from VolumeBands.
	Pools []Pool
	// HotStorageGB is the total hot (local disk) storage of the tier.
	HotStorageGB int
	ClickHouse   ClickHouseSpec
	Postgres     PostgresSpec
	Retention    Retention
	VolumeBands  []VolumeBand
	// Quota overrides the tenants' ingest quota (nano:ingestTenantEps,
	// nano:ingestTenantGBPerDay); zero fields take the tier's budget
	// (TenantQuota).
	Quota TenantQuota
}

// TenantQuota is every tenant's ingest quota: the stack's override, else
// the tier's budget (EPS, GBPerDay: one tenant may use all of it, never
// more); 0 (Enterprise's custom budget without an override) is unlimited.
func (s Spec) TenantQuota() TenantQuota {
	q := TenantQuota{EPS: s.EPS, GBPerDay: s.GBPerDay}
	if s.Quota.EPS > 0 {
		q.EPS = s.Quota.EPS
	}
	if s.Quota.GBPerDay > 0 {
		q.GBPerDay = s.Quota.GBPerDay
	}
	return q
}

// Pool returns the tier's pool of the given role.
func (s Spec) Pool(role PoolRole) (Pool, bool) {
	for _, p := range s.Pools {
		if p.Role == role {
			return p, true
		}
	}
	return Pool{}, false
}

// HotStoragePerPodGB is the disk of one ClickHouse pod (the Compose host's
// volume): the tier's hot storage shared evenly over its ClickHouse pods
// (Pro: 1000 / 4 = 250), or HotNeedPerPodGB where the tier's own volume and
// retention need more (the seed's figure is then too small).
func (s Spec) HotStoragePerPodGB() int {
	if s.ClickHouse.Cloud || s.ClickHouse.Pods() == 0 {
		return 0
	}
	return max(s.CatalogHotPerPodGB(), s.HotNeedPerPodGB())
}

// CatalogHotPerPodGB is the seed's (or nano:hotStorageGB's) share per pod.
func (s Spec) CatalogHotPerPodGB() int {
	if s.ClickHouse.Pods() == 0 {
		return 0
	}
	return s.HotStorageGB / s.ClickHouse.Pods()
}

// Storage sizing: the seed's compression (8-10x raw to stored; nano sizes
// with 8), headroom for merges (they rewrite parts) and never running full,
// the days tiers with a warm bucket keep on the hot disk, and what the
// Compose host's volume also holds (PostgreSQL, Prometheus).
const (
	Compression        = 8
	StorageHeadroomPct = 25
	WarmAfterDays      = 30
	ComposeOverheadGB  = 10
)

// HotDays is how many days of events stay on the hot disk.
func (s Spec) HotDays() int {
	if s.ClickHouse.WarmS3 {
		return min(WarmAfterDays, s.Retention.Days)
	}
	return s.Retention.Days
}

// HotNeedPerPodGB is what one ClickHouse pod's disk must hold at the tier's
// daily volume: GB/day x hot days / compression, its shard's share (each
// replica holds a full copy of its shard), plus headroom, plus the Compose
// host's other data; 0 where the tier has no fixed volume.
func (s Spec) HotNeedPerPodGB() int {
	if s.ClickHouse.Cloud || s.GBPerDay == 0 || s.ClickHouse.Shards == 0 {
		return 0
	}
	stored := s.GBPerDay * s.HotDays() * (100 + StorageHeadroomPct)
	gb := (stored + Compression*s.ClickHouse.Shards*100 - 1) / (Compression * s.ClickHouse.Shards * 100)
	if s.Kind == Compose {
		gb += ComposeOverheadGB
	}
	return gb
}

// AllowsProvider reports whether the tier runs on p.
func (s Spec) AllowsProvider(p Provider) bool {
	return slices.Contains(s.Providers, p) || (p == Kubernetes && s.Kind != Compose)
}

// ProvidersWithTargets are the tier's clouds plus the existing-cluster
// target where the tier runs on Kubernetes.
func (s Spec) ProvidersWithTargets() []Provider {
	if s.Kind == Compose {
		return s.Providers
	}
	return append(slices.Clone(s.Providers), Kubernetes)
}

// BandFor returns the Enterprise volume band that covers gbPerDay.
func (s Spec) BandFor(gbPerDay int) (VolumeBand, error) {
	if len(s.VolumeBands) == 0 {
		return VolumeBand{}, fmt.Errorf("tier %q is not sized by daily volume", s.Name)
	}
	if gbPerDay <= 0 {
		return VolumeBand{}, fmt.Errorf("daily volume must be a positive number of GB, got %d", gbPerDay)
	}
	for _, b := range s.VolumeBands {
		if gbPerDay > b.MinGBPerDay && (b.MaxGBPerDay == 0 || gbPerDay <= b.MaxGBPerDay) {
			return b, nil
		}
	}
	return VolumeBand{}, fmt.Errorf("no volume band covers %d GB/day", gbPerDay)
}

// ScrapeInterval is how often Prometheus scrapes every service (seed: 10-15 s).
const ScrapeInterval = 15 * time.Second

// GB per TB in the seed's arithmetic (1 TB hot = 4 x 250 GB).
const gbPerTB = 1000

// BackupDays is how long PostgreSQL's backups are kept on tiers with
// object storage.
const BackupDays = 14

var (
	cpu2mem8   = Machine{CPU: 2, MemoryGB: 8}
	cpu4mem8   = Machine{CPU: 4, MemoryGB: 8}
	cpu4mem16  = Machine{CPU: 4, MemoryGB: 16}
	cpu8mem32  = Machine{CPU: 8, MemoryGB: 32}
	cpu16mem64 = Machine{CPU: 16, MemoryGB: 64}

	haProviders  = []Provider{Civo, Vultr, GCP, AWS}
	bigProviders = []Provider{GCP, AWS}

	singleNodeClickHouse = ClickHouseSpec{Shards: 1, Replicas: 1}
	singlePostgres       = PostgresSpec{Instances: 1}
	ninetyDaysRolloff    = Retention{Days: 90, WarmThenRolloff: true}
	yearWarm             = Retention{Days: 365}
)

var catalog = []Spec{
	{
		Name: Hobby, GBPerDay: 2, EPS: 30, Replicas: 1, Providers: []Provider{Hetzner}, Kind: Compose,
		Pools:        []Pool{{Role: General, Nodes: 1, Machine: cpu2mem8, Scheduling: OnDemand}},
		HotStorageGB: 50, ClickHouse: singleNodeClickHouse, Postgres: singlePostgres, Retention: ninetyDaysRolloff,
	},
	{
		Name: Startup, GBPerDay: 5, EPS: 75, Replicas: 1, Providers: []Provider{Hetzner}, Kind: Compose,
		Pools:        []Pool{{Role: General, Nodes: 1, Machine: cpu4mem16, Scheduling: OnDemand}},
		HotStorageGB: 50, ClickHouse: singleNodeClickHouse, Postgres: singlePostgres, Retention: ninetyDaysRolloff,
	},
	{
		Name: Growth, GBPerDay: 10, EPS: 155, Replicas: 1, Providers: []Provider{Hetzner}, Kind: SinglePool,
		Pools:        []Pool{{Role: General, Nodes: 1, Machine: cpu4mem8, Scheduling: OnDemand}},
		HotStorageGB: 100,
		ClickHouse:   ClickHouseSpec{Operator: true, Shards: 1, Replicas: 2, KeeperNodes: 3},
		Postgres:     PostgresSpec{Operator: true, Instances: 1},
		Retention:    ninetyDaysRolloff,
	},
	{
		Name: Team, GBPerDay: 15, EPS: 230, Replicas: 2, HA: true, Providers: haProviders, Kind: HA,
		Pools:        []Pool{{Role: General, Nodes: 3, Machine: cpu4mem8, Scheduling: OnDemand}},
		HotStorageGB: 120,
		ClickHouse:   ClickHouseSpec{Operator: true, Shards: 1, Replicas: 2, KeeperNodes: 3, WarmS3: true},
		Postgres:     PostgresSpec{Operator: true, Instances: 2, BackupRetentionDays: BackupDays},
		Retention:    yearWarm,
	},
	{
		Name: Business, GBPerDay: 25, EPS: 385, Replicas: 2, HA: true, Providers: haProviders, Kind: HA,
		Pools:        []Pool{{Role: General, Nodes: 3, Machine: cpu4mem8, Scheduling: OnDemand}},
		HotStorageGB: 300,
		ClickHouse:   ClickHouseSpec{Operator: true, Shards: 1, Replicas: 2, KeeperNodes: 3, WarmS3: true},
		Postgres:     PostgresSpec{Operator: true, Instances: 2, BackupRetentionDays: BackupDays},
		Retention:    yearWarm,
	},
	{
		Name: Pro, GBPerDay: 100, EPS: 1550, Replicas: 3, HA: true, Providers: bigProviders, Kind: MultiPool,
		Pools: []Pool{
			{Role: App, Nodes: 3, Machine: cpu2mem8, Scheduling: Spot},
			{Role: ClickHouse, Nodes: 4, Machine: cpu4mem16, Scheduling: OnDemand},
			{Role: Ingest, Nodes: 3, Machine: cpu2mem8, Scheduling: Spot},
		},
		HotStorageGB: 1 * gbPerTB,
		ClickHouse:   ClickHouseSpec{Operator: true, Shards: 2, Replicas: 2, KeeperNodes: 3, WarmS3: true},
		Postgres:     PostgresSpec{Operator: true, Instances: 3, BackupRetentionDays: BackupDays},
		Retention:    yearWarm,
	},
	{
		Name: Enterprise, Replicas: 4, HA: true, Providers: bigProviders, Kind: Managed,
		ClickHouse: ClickHouseSpec{Cloud: true},
		Postgres:   PostgresSpec{Managed: true, BackupRetentionDays: BackupDays},
		// The seed gives Enterprise no retention; nano keeps a year, as on
		// Team and up (nano:retentionDays changes it), instead of forever.
		Retention: yearWarm,
		VolumeBands: []VolumeBand{
			{Label: "Up to 100 GB/day", MinGBPerDay: 0, MaxGBPerDay: 100,
				App:    Pool{Role: App, Nodes: 3, Machine: cpu4mem16, Scheduling: OnDemand},
				Ingest: Pool{Role: Ingest, Nodes: 3, Machine: cpu4mem16, Scheduling: OnDemand}},
			{Label: "100 GB - 1 TB/day", MinGBPerDay: 100, MaxGBPerDay: 1 * gbPerTB,
				App:    Pool{Role: App, Nodes: 3, Machine: cpu4mem16, Scheduling: OnDemand},
				Ingest: Pool{Role: Ingest, Nodes: 4, Machine: cpu8mem32, Scheduling: OnDemand}},
			{Label: "1-10 TB/day", MinGBPerDay: 1 * gbPerTB, MaxGBPerDay: 10 * gbPerTB,
				App:    Pool{Role: App, Nodes: 3, Machine: cpu8mem32, Scheduling: OnDemand},
				Ingest: Pool{Role: Ingest, Nodes: 6, Machine: cpu16mem64, Scheduling: OnDemand}},
			{Label: "10-50+ TB/day", MinGBPerDay: 10 * gbPerTB,
				App:    Pool{Role: App, Nodes: 6, Machine: cpu8mem32, Scheduling: OnDemand},
				Ingest: Pool{Role: Ingest, Nodes: 12, Machine: cpu16mem64, Scheduling: OnDemand, AtLeast: true}},
		},
	},
}

// All returns every tier, smallest first. The slice is a copy.
func All() []Spec { return slices.Clone(catalog) }

// Names returns every tier name, smallest first.
func Names() []Name {
	out := make([]Name, len(catalog))
	for i, s := range catalog {
		out[i] = s.Name
	}
	return out
}

// Lookup returns the tier called name.
func Lookup(name Name) (Spec, bool) {
	for _, s := range catalog {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Rank is a tier's place in the catalog, smallest first (-1: no such
// tier): a deployment moves to a tier of a higher rank, never a lower one.
func Rank(name Name) int {
	return slices.IndexFunc(catalog, func(s Spec) bool { return s.Name == name })
}

// OperatorClickHouseCluster is the cluster the Kubernetes tiers' ClickHouse
// installation runs as.
const OperatorClickHouseCluster = "events"

// ClickHouseCluster is the cluster nano's services name on the tier: ""
// on a Compose host's single server and on ClickHouse Cloud.
func (s Spec) ClickHouseCluster() string {
	if s.Kind == Compose || s.ClickHouse.Cloud {
		return ""
	}
	return OperatorClickHouseCluster
}

// Providers returns every provider some tier runs on, in catalog order,
// and last the existing-cluster target.
func Providers() []Provider {
	var out []Provider
	for _, s := range catalog {
		for _, p := range s.Providers {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return append(out, Kubernetes)
}
