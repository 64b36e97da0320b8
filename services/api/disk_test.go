package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// ClickHouse's disk nearly full (the 26.7 engine's default disk with 5%
// free, read with the SQL the api reads on the tiers' servers) and three
// days of events on the 18.16 server: with the default configuration the
// api's disk task deletes nothing (ingest refuses new events instead;
// services/ingest's TestNearlyFullDiskStopsIngestAndAlerts) and only
// reports the disk. With the operator's explicit policy
// (NANO_DISK_DROP_OLDEST_BELOW_PCT=10) it deletes the oldest day, one per
// pass, logs it as an error naming the day, and the platform's
// NanoEventsDeletedForDisk alert fires on the real Prometheus.
func TestDiskTaskDeletesHistoryOnlyByPolicy(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	disk, share, err := chdb.OpenNearlyFull(t.TempDir(), 0.05)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	probe := func(context.Context) (float64, error) {
		out, err := disk.Query(events.Engine{Database: "nano"}.DiskFreeSQL(), "TSV")
		if err != nil {
			return 0, err
		}
		var free float64
		var n int
		if _, err := fmt.Sscan(out, &free, &n); err != nil || n != 1 {
			return 0, fmt.Errorf("system.disks said %q", out)
		}
		return free, nil
	}

	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: "api_disk"}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(e.InsertSettings(""))), events.InsertSQL(e.InsertTable()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for age := range 3 {
		ev := events.Event{Time: now.AddDate(0, 0, -age), Tenant: "acme", Message: "evidence", Raw: fmt.Sprint(age)}
		if err := b.Append(ev.Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	days := func() uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT uniqExact(toYYYYMMDD(ts)) FROM api_disk.events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	env := map[string]string{contract.PostgresURL: "postgres://x", contract.ClickHouseAddr: "ch:9000"}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	reg := prometheus.NewRegistry()
	m := newDiskMetrics(reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go srv.Serve(ln)
	defer srv.Close()
	prom, err := harness.StartPrometheus(contract.AlertRules(false), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()

	// The default: nothing deleted, however full.
	for range 3 {
		if err := diskPolicy(ctx, probe, conn, e, cfg.DropOldestBelow, m, log); err != nil {
			t.Fatal(err)
		}
	}
	if n := days(); n != 3 || testutil.ToFloat64(m.dropped) != 0 {
		t.Fatalf("by default the disk task left %d of 3 days (dropped %v) on a disk %.3f free", n, testutil.ToFloat64(m.dropped), testutil.ToFloat64(m.free))
	}
	if f := testutil.ToFloat64(m.free); f < share-0.02 || f > share+0.02 {
		t.Errorf("%s is %v, want about %.3f", contract.DiskFreeMetric, f, share)
	}
	// Prometheus has seen the counter at 0 before any deletion.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := prom.Query(ctx, contract.DiskDaysDroppedMetric)
		if err == nil && len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has not scraped %s: %v %v", contract.DiskDaysDroppedMetric, got, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := prom.WaitFiring(ctx, "NanoEventsDeletedForDisk", 3*time.Second); err == nil {
		t.Error("NanoEventsDeletedForDisk fired with nothing deleted")
	}

	// The operator's policy: below 10% free, the oldest day goes.
	env[contract.DiskDropOldestBelowPct] = "10"
	if cfg, err = loadConfig(func(k string) string { return env[k] }); err != nil || cfg.DropOldestBelow != 0.10 {
		t.Fatalf("%s=10: %v %v", contract.DiskDropOldestBelowPct, cfg.DropOldestBelow, err)
	}
	if err := diskPolicy(ctx, probe, conn, e, cfg.DropOldestBelow, m, log); err != nil {
		t.Fatal(err)
	}
	oldest := now.AddDate(0, 0, -2).Format("20060102")
	if n := days(); n != 2 || testutil.ToFloat64(m.dropped) != 1 {
		t.Errorf("with the policy: %d days left, %v dropped; want the oldest of 3 gone", n, testutil.ToFloat64(m.dropped))
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "day="+oldest) {
		t.Errorf("the deletion is not logged as an error naming day %s:\n%s", oldest, logs.String())
	}
	alert, err := prom.WaitFiring(ctx, "NanoEventsDeletedForDisk", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if alert.Labels["severity"] != "critical" {
		t.Errorf("the alert's labels %v", alert.Labels)
	}
	env[contract.DiskDropOldestBelowPct] = "51"
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), contract.DiskDropOldestBelowPct+":") {
		t.Errorf("a policy of 51%%: %v, want an error naming %s", err, contract.DiskDropOldestBelowPct)
	}
	t.Logf("log: %s", strings.TrimSpace(logs.String()))
}
