package events

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Engine is the ClickHouse server and layout the schema is created for.
type Engine struct {
	// Version is the server's major, minor (and patch) version.
	Version [3]int
	// Database holds nano's tables.
	Database string
	// Cluster names the ClickHouse cluster of a replicated deployment; ""
	// on a single node.
	Cluster string
	// StoragePolicy, with WarmAfterDays, moves parts to the "warm" volume
	// (tiers with a warm bucket); "" keeps everything on the default disk.
	StoragePolicy string
	WarmAfterDays int
	// RetentionDays deletes events older than that (0: keep).
	RetentionDays int
	// DDLTimeout bounds how long an ON CLUSTER statement waits for every
	// host to run it (10 s); a host that has not by then runs it from the
	// cluster's DDL queue when it is back (see Migrate).
	DDLTimeout time.Duration
}

var reIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks the names that go into DDL.
func (e Engine) Validate() error {
	var bad []string
	if !reIdent.MatchString(e.Database) {
		bad = append(bad, fmt.Sprintf("database %q is not an identifier", e.Database))
	}
	if e.Cluster != "" && !reIdent.MatchString(e.Cluster) {
		bad = append(bad, fmt.Sprintf("cluster %q is not an identifier", e.Cluster))
	}
	if e.StoragePolicy != "" && !reIdent.MatchString(e.StoragePolicy) {
		bad = append(bad, fmt.Sprintf("storage policy %q is not an identifier", e.StoragePolicy))
	}
	if e.RetentionDays < 0 || e.WarmAfterDays < 0 || (e.StoragePolicy != "" && e.RetentionDays > 0 && e.WarmAfterDays >= e.RetentionDays) {
		bad = append(bad, fmt.Sprintf("warm after %d days and retention %d days do not fit", e.WarmAfterDays, e.RetentionDays))
	}
	if len(bad) > 0 {
		return fmt.Errorf("events schema: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Modern reports whether the server has what nano's production DDL uses:
// LowCardinality, codecs, token bloom-filter indexes, TTL to volumes and
// insert deduplication tokens (ClickHouse 22.2 and later).
func (e Engine) Modern() bool {
	return e.Version[0] > 22 || (e.Version[0] == 22 && e.Version[1] >= 2)
}

// Replicated reports whether tables are replicated across a cluster.
func (e Engine) Replicated() bool { return e.Cluster != "" }

// Table is what writers insert into and readers select from: the events
// table itself on a single node, a Distributed table over the shards'
// replicated tables on a cluster.
func (e Engine) Table() string { return e.Database + ".events" }

// EnrichmentTable is the table of the enrichment dataset with id in
// database: the api's enrichment sync loads it, searches' | lookup stages
// read it once the dataset's name is resolved for their tenant
// (metadb.Datasets). Tables are named by id, never by a name a tenant
// chose, so two tenants' datasets of one name never share a table.
func EnrichmentTable(database string, id int64) string {
	return database + ".enrich_" + strconv.FormatInt(id, 10)
}

// LegacyEnrichmentTable is where a dataset was loaded before tables were
// named by id (the sync drops it once the dataset is loaded anew).
func LegacyEnrichmentTable(database, name string) string { return database + ".enrich_" + name }

// InsertTable is what writers insert into: the events table on a single
// node; on a cluster a Distributed table over the same shards that places
// each row by a hash of its content (ShardingKey), so a retried batch goes
// to the same shards in the same blocks and each shard's replicated table
// drops the repeat. (The events table spreads rows at random: it was made
// for reads, and a Distributed table's key cannot be changed.)
func (e Engine) InsertTable() string {
	if e.Replicated() {
		return e.Database + ".events_ingest"
	}
	return e.Table()
}

// ShardingKey places an event on a shard: deterministic in its content.
const ShardingKey = "cityHash64(tenant, feed, ts, ts_nanos, raw)"

// InsertSettings are the settings of an insert into InsertTable with the
// batch's deduplication token. On a cluster the insert is synchronous
// (insert_distributed_sync; distributed_foreground_insert is its newer
// name): ClickHouse answers only once every shard's replicated table has
// committed its rows, never from the local queue of an asynchronous
// distributed insert, so an acknowledged event is committed.
func (e Engine) InsertSettings(token string) clickhouse.Settings {
	s := clickhouse.Settings{}
	if e.Replicated() {
		s["insert_distributed_sync"] = 1
	}
	if e.Modern() && token != "" {
		s["insert_deduplication_token"] = token
	}
	return s
}

// LocalTable holds the rows (the same table as Table on a single node).
func (e Engine) LocalTable() string {
	if e.Replicated() {
		return e.Database + ".events_local"
	}
	return e.Table()
}

// OnCluster is the ON CLUSTER clause of a statement that must run on every
// host ("" on a single node); other packages' schema objects use it.
func (e Engine) OnCluster() string {
	if e.Replicated() {
		return " ON CLUSTER " + e.Cluster
	}
	return ""
}

// DetectVersion asks the server its version.
func DetectVersion(ctx context.Context, conn driver.Conn) ([3]int, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return [3]int{}, fmt.Errorf("cannot read the ClickHouse version: %w", err)
	}
	return ParseVersion(v)
}

// ParseVersion parses "major.minor.patch[.build]".
func ParseVersion(v string) ([3]int, error) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return out, fmt.Errorf("cannot parse ClickHouse version %q", v)
	}
	for i := 0; i < 3 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return out, fmt.Errorf("cannot parse ClickHouse version %q", v)
		}
		out[i] = n
	}
	return out, nil
}

// ttl is the table's TTL clause ("" on old servers or with nothing to
// expire).
func (e Engine) ttl() string {
	if !e.Modern() {
		return ""
	}
	var parts []string
	if e.StoragePolicy != "" && e.WarmAfterDays > 0 {
		parts = append(parts, fmt.Sprintf("ts + toIntervalDay(%d) TO VOLUME 'warm'", e.WarmAfterDays))
	}
	if e.RetentionDays > 0 {
		parts = append(parts, fmt.Sprintf("ts + toIntervalDay(%d)", e.RetentionDays))
	}
	return strings.Join(parts, ", ")
}

// columnTypes are the events table's columns (Columns order) and their
// types with codecs on this engine.
func (e Engine) columnTypes() [][2]string {
	str, lc := "String", "String"
	codec := func(string) string { return "" }
	if e.Modern() {
		lc = "LowCardinality(String)"
		codec = func(c string) string { return " CODEC(" + c + ")" }
	}
	return [][2]string{
		{"ts", "DateTime" + codec("Delta, ZSTD(1)")},
		{"ts_nanos", "UInt32" + codec("ZSTD(1)")},
		{"tenant", lc}, {"feed", lc}, {"severity", lc}, {"service", lc},
		{"host", str + codec("ZSTD(1)")},
		{"message", str + codec("ZSTD(3)")},
		{"attr_keys", "Array(" + lc + ")"},
		{"attr_values", "Array(String)" + codec("ZSTD(3)")},
		{"raw", str + codec("ZSTD(3)")},
	}
}

// eventsDDL is the CREATE TABLE of the rows.
func (e Engine) eventsDDL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s%s\n(\n", e.LocalTable(), e.OnCluster())
	cols := e.columnTypes()
	for i, c := range cols {
		sep := ","
		if i == len(cols)-1 && !e.Modern() {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s %s%s\n", c[0], c[1], sep)
	}
	if e.Modern() {
		b.WriteString("    INDEX message_tokens message TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4\n")
	}
	engine := e.ReplicatedEngine("MergeTree", "events_local")
	fmt.Fprintf(&b, ")\nENGINE = %s\nPARTITION BY toYYYYMMDD(ts)\nORDER BY (tenant, ts, ts_nanos)\n", engine)
	if t := e.ttl(); t != "" {
		fmt.Fprintf(&b, "TTL %s\n", t)
	}
	if e.Modern() {
		// Retried inserts carry a deduplication token; replicated tables
		// keep a window of tokens by default, single nodes need one.
		var settings []string
		if !e.Replicated() {
			settings = append(settings, "non_replicated_deduplication_window = 1000")
		}
		if e.StoragePolicy != "" {
			settings = append(settings, fmt.Sprintf("storage_policy = '%s'", e.StoragePolicy))
		}
		if len(settings) > 0 {
			fmt.Fprintf(&b, "SETTINGS %s\n", strings.Join(settings, ", "))
		}
	}
	return b.String()
}

// distributedDDL is the Distributed table over a cluster's shards.
func (e Engine) distributedDDL() string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s\nENGINE = Distributed(%s, %s, events_local, rand())\n",
		e.Table(), e.OnCluster(), e.LocalTable(), e.Cluster, e.Database)
}

// insertDDL is InsertTable's Distributed table on a cluster.
func (e Engine) insertDDL() string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s\nENGINE = Distributed(%s, %s, events_local, %s)\n",
		e.InsertTable(), e.OnCluster(), e.LocalTable(), e.Cluster, e.Database, ShardingKey)
}

// ReplicatedEngine is the table engine of a table holding rows of kind
// ("MergeTree", "SummingMergeTree", ...): replicated within each shard on a
// cluster, under a ZooKeeper path unique to the table's name (name
// without the database).
func (e Engine) ReplicatedEngine(kind, name string) string {
	if !e.Replicated() {
		return kind + "()"
	}
	return fmt.Sprintf("Replicated%s('/clickhouse/tables/{shard}/%s/%s', '{replica}')", kind, e.Database, name)
}

// DDLContext is ctx with the settings of this engine's schema statements:
// on a cluster, how long ON CLUSTER waits for every host (DDLTimeout).
func (e Engine) DDLContext(ctx context.Context) context.Context {
	if !e.Replicated() {
		return ctx
	}
	secs := int(e.DDLTimeout / time.Second)
	if secs <= 0 {
		secs = 10
	}
	// distributed_ddl_task_timeout is signed. Servers before 20.1 read
	// numeric settings as varints in their own type (signed ones
	// zigzag-encoded), and clickhouse-go sends them unsigned: 3 would
	// arrive as -2, a wait without end.
	if e.Version[0] < 20 {
		secs *= 2
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"distributed_ddl_task_timeout": secs}))
}
