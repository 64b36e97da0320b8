package kubeobjects

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// The warm tier on real parts: the storage configuration the clusters'
// ClickHouse gets (storageXML, its endpoint, region and keys from the
// environment as the warm Secret provides them) loaded by ClickHouse 26.7
// in-process, the events table as the api creates it with the workloads'
// policy and warm-after days, against a real S3 server. Parts older than
// the warm-after days move by their TTL to the warm volume, whose objects
// land under the deployment's prefix in the bucket; newer ones stay hot;
// every row reads back the same.
func TestWarmDiskMovesAgedPartsToS3(t *testing.T) {
	harness.Servers(t)
	ctx := t.Context()
	s3, bucket := harness.StartS3For(t, ctx, "nano-warm")
	dir := t.TempDir()
	// The pods' cache path, here under the engine's cache directory (the
	// in-process engine, like a server's SQL-made disks, wants it there).
	xml := strings.Replace(specFor(t, tier.Team).storageXML(), "/var/lib/clickhouse/disks/warm_cache/", filepath.Join(dir, "data", "cache", "warm_cache")+"/", 1)
	config := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(config, []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(warmEndpointEnv, bucket+"d1/")
	t.Setenv(warmRegionEnv, "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	db, err := chdb.OpenWith(filepath.Join(dir, "data"), "--config-file="+config)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := func(sql string) string {
		t.Helper()
		out, err := db.Query(sql, "TSV")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return strings.TrimSpace(out)
	}
	if got := run("SELECT groupArray(disk_name) FROM (SELECT arrayJoin(disks) AS disk_name FROM system.storage_policies WHERE policy_name = '" + storagePolicy + "' ORDER BY volume_priority)"); got != "['default','warm_cache']" {
		t.Fatalf("policy %s's disks: %s", storagePolicy, got)
	}
	v, _ := events.ParseVersion(run("SELECT version()"))
	// What the workloads tell the api (NANO_CLICKHOUSE_STORAGE_POLICY,
	// NANO_CLICKHOUSE_WARM_AFTER_DAYS).
	e := events.Engine{Version: v, Database: "nano", StoragePolicy: storagePolicy, WarmAfterDays: hotDays, RetentionDays: 365}
	run("CREATE DATABASE nano")
	for _, m := range events.Migrations {
		for _, sql := range m.Statements(e) {
			run(sql)
		}
	}
	insert := func(daysAgo, n int) {
		run(fmt.Sprintf(`INSERT INTO nano.events (%s) SELECT
			toDateTime(today() - %d) + number %% 86400, number, 'acme', 'http', 'info', 'api', 'web-1',
			concat('request ', toString(number)), [], [], '{}' FROM numbers(%d)`, strings.Join(events.Columns, ", "), daysAgo, n))
	}
	insert(hotDays+5, 50000)
	insert(1, 20000)
	digest := func() string {
		return run("SELECT toDate(ts) AS d, count(), groupBitXor(cityHash64(" + strings.Join(events.Columns, ", ") + ")) FROM nano.events GROUP BY d ORDER BY d")
	}
	before := digest()
	disks := func() string {
		return run("SELECT groupArray(concat(partition, ':', disk_name)) FROM (SELECT DISTINCT partition, disk_name FROM system.parts WHERE database = 'nano' AND table = 'events' AND active ORDER BY partition)")
	}
	old := time.Now().UTC().AddDate(0, 0, -(hotDays + 5)).Format("20060102")
	recent := time.Now().UTC().AddDate(0, 0, -1).Format("20060102")
	want := fmt.Sprintf("['%s:warm_cache','%s:default']", old, recent)
	// The TTL moves parts in the background; MATERIALIZE TTL makes it now.
	run("ALTER TABLE nano.events MATERIALIZE TTL SETTINGS mutations_sync = 2")
	deadline := time.Now().Add(30 * time.Second)
	for disks() != want {
		if time.Now().After(deadline) {
			t.Fatalf("parts on disks %s, want %s", disks(), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := digest(); got != before {
		t.Fatalf("after the move the rows read:\n%s\nbefore:\n%s", got, before)
	}
	// The moved part's data is in the bucket, under the deployment's prefix.
	var objects int
	filepath.Walk(filepath.Join(s3.Dir, "nano-warm", "d1"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			objects++
		}
		return nil
	})
	if objects == 0 {
		t.Fatal("no objects under nano-warm/d1/ after the move")
	}
	t.Logf("parts %s; %d objects under the deployment's prefix", disks(), objects)
}
