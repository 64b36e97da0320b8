package events

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// The production DDL, insert path, deduplication and TTL changes on the
// modern engine (ClickHouse 26.7 in-process): what a current server runs.
// The engine is configured as a cluster's server would be (ZooKeeper,
// macros, remote_servers), so the replicated layout's DDL runs too.
func TestSchemaOnModernEngine(t *testing.T) {
	harness.Servers(t)
	zk, err := harness.StartZooKeeper()
	if err != nil {
		t.Fatal(err)
	}
	defer zk.Stop()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(modernClusterConfig, zk.Port)), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := chdb.OpenWith(filepath.Join(dir, "data"), "--config-file="+cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Query("SELECT version()", "TSV")
	if err != nil {
		t.Fatal(err)
	}
	version, err := ParseVersion(strings.TrimSpace(v))
	if err != nil {
		t.Fatal(err)
	}
	e := Engine{Version: version, Database: "nano", RetentionDays: 90}
	if !e.Modern() {
		t.Fatalf("engine %v is not modern", version)
	}
	run := func(sql string) string {
		t.Helper()
		out, err := db.Query(sql, "TSV")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return strings.TrimSpace(out)
	}
	run("CREATE DATABASE IF NOT EXISTS nano")
	for _, m := range Migrations {
		for _, sql := range m.Statements(e) {
			run(sql)
			run(sql) // idempotent
		}
	}
	if got := run("SELECT name FROM system.data_skipping_indices WHERE table = 'events'"); got != "message_tokens" {
		t.Errorf("token index %q", got)
	}

	// The insert path: the production column list, rows as the writer
	// builds them, a deduplication token; the same block again with the
	// same token is dropped (a retried batch is stored once).
	at := time.Date(2026, 11, 23, 10, 4, 5, 123456789, time.UTC)
	var rows strings.Builder
	for i := 0; i < 3; i++ {
		ev := Event{Time: at.Add(time.Duration(i) * time.Second), Tenant: "acme", Feed: "http", Severity: "error", Service: "api",
			Host: "web-1", Message: fmt.Sprintf("request %d failed", i), Attributes: Attrs{{"http.status", "500"}}, Raw: "{}"}
		rows.WriteString(jsonRow(t, ev))
	}
	insert := func(token string) {
		run(InsertSQL(e.Table()) + " SETTINGS insert_deduplication_token = '" + token + "' FORMAT JSONEachRow\n" + rows.String())
	}
	insert("batch-1")
	insert("batch-1")
	if got := run("SELECT count() FROM nano.events"); got != "3" {
		t.Errorf("%s rows after a retried batch, want 3", got)
	}
	insert("batch-2")
	if got := run("SELECT count() FROM nano.events"); got != "6" {
		t.Errorf("%s rows after a second batch, want 6", got)
	}
	if got := run("SELECT count() FROM nano.events WHERE hasToken(message, 'failed') AND endsWith(message, '1 failed') AND ts_nanos = 123456789 AND attr_values[indexOf(attr_keys, 'http.status')] = '500'"); got != "2" {
		t.Errorf("token search found %s rows, want 2", got)
	}

	// TTL: the table has the configured retention; a change is applied
	// and then nothing more is to do.
	full := run("SELECT engine_full FROM system.tables WHERE database = 'nano' AND name = 'events'")
	if sql := TTLChange(e, full); sql != "" {
		t.Errorf("a fresh table needs %q", sql)
	}
	e.RetentionDays = 30
	sql := TTLChange(e, full)
	if !strings.Contains(sql, "MODIFY TTL ts + toIntervalDay(30)") {
		t.Fatalf("retention change: %q", sql)
	}
	run(sql)
	if again := TTLChange(e, run("SELECT engine_full FROM system.tables WHERE database = 'nano' AND name = 'events'")); again != "" {
		t.Errorf("after the change still %q", again)
	}

	// The replicated layout (Growth to Pro) with its warm tier: the DDL runs
	// as each server runs it from the DDL queue, without ON CLUSTER (the
	// in-process engine has no DDL worker). What it cannot do: inserts
	// into its replicated tables do not return (no replication executor
	// in-process), so the replicated data path is tested on the 18.16
	// cluster (TestSchemaOnCluster) and here only the DDL.
	ce := Engine{Version: version, Database: "nano_cluster", Cluster: "nano", RetentionDays: 365}
	run("CREATE DATABASE nano_cluster")
	for _, m := range Migrations {
		for _, sql := range m.Statements(ce) {
			local := strings.ReplaceAll(sql, ce.OnCluster(), "")
			run(local)
			run(local)
		}
	}
	if got := run("SELECT groupArray(name || ':' || engine) FROM (SELECT name, engine FROM system.tables WHERE database = 'nano_cluster' AND name LIKE 'events%' ORDER BY name)"); got != "['events:Distributed','events_ingest:Distributed','events_local:ReplicatedMergeTree']" {
		t.Errorf("cluster layout tables %s", got)
	}
	if got := run("SELECT engine_full FROM system.tables WHERE database = 'nano_cluster' AND name = 'events_ingest'"); !strings.Contains(got, "cityHash64(tenant, feed, ts, ts_nanos, raw)") {
		t.Errorf("the insert table is not placed by content: %s", got)
	}
	// Dropped before the engine closes: it does not shut down cleanly with
	// a replicated table open.
	run("DROP DATABASE nano_cluster SYNC")
}

// modernClusterConfig makes the in-process engine a cluster server:
// ZooKeeper (port), macros and a one-server cluster "nano".
const modernClusterConfig = `<clickhouse>
    <zookeeper><node><host>127.0.0.1</host><port>%d</port></node></zookeeper>
    <macros><shard>1</shard><replica>chdb</replica></macros>
    <remote_servers><nano><shard><internal_replication>true</internal_replication>
        <replica><host>127.0.0.1</host><port>9000</port></replica>
    </shard></nano></remote_servers>
</clickhouse>`

// jsonRow renders an event's Row as one JSONEachRow line.
func jsonRow(t *testing.T, e Event) string {
	row := e.Row()
	obj := map[string]any{}
	for i, c := range Columns {
		obj[c] = row[i]
	}
	obj["ts"] = row[0].(time.Time).Format("2006-01-02 15:04:05")
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// The disk query on the modern engine (18.16 has no system.disks): the
// free share in (0, 1] of one disk; a cluster's form (every replica's
// disks through clusterAllReplicas) parses.
func TestDiskFreeSQLOnModernEngine(t *testing.T) {
	harness.Servers(t)
	db, err := chdb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out, err := db.Query(Engine{Database: "nano"}.DiskFreeSQL(), "TSV")
	if err != nil {
		t.Fatal(err)
	}
	var free float64
	var disks int
	if _, err := fmt.Sscan(out, &free, &disks); err != nil || disks != 1 || free <= 0 || free > 1 {
		t.Errorf("system.disks said %q (%v)", out, err)
	}
	cluster := Engine{Database: "nano", Cluster: "nano"}.DiskFreeSQL()
	if !strings.Contains(cluster, "clusterAllReplicas('nano', system.disks)") {
		t.Errorf("the cluster's disk query %q", cluster)
	}
	if _, err := db.Query("EXPLAIN AST "+cluster, "TSV"); err != nil {
		t.Errorf("the cluster's disk query does not parse: %v", err)
	}
	if (Engine{Version: [3]int{18, 16, 1}}).HasDiskView() || !(Engine{Version: [3]int{19, 15, 0}}).HasDiskView() {
		t.Error("system.disks is from 19.15")
	}
}
