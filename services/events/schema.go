package events

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

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

// localTable holds the rows (the same table as Table on a single node).
func (e Engine) localTable() string {
	if e.Replicated() {
		return e.Database + ".events_local"
	}
	return e.Table()
}

func (e Engine) onCluster() string {
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
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s%s\n(\n", e.localTable(), e.onCluster())
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
	engine := "MergeTree()"
	if e.Replicated() {
		engine = fmt.Sprintf("ReplicatedMergeTree('/clickhouse/tables/{shard}/%s/events_local', '{replica}')", e.Database)
	}
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
		e.Table(), e.onCluster(), e.localTable(), e.Cluster, e.Database)
}
