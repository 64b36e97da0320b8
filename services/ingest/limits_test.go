package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// Hostile time and volume: one client's events must not cost the other
// clients and tenants their ingest (docs/operate/limits-and-quotas.md).

// daysApart is n events of tag, one a day going back from first.
func daysApart(tag string, first time.Time, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"timestamp":%q,"message":"%s %d","service":"spread"}`+"\n", first.AddDate(0, 0, -i).Format(time.RFC3339Nano), tag, i)
	}
	return b.Bytes()
}

// A client sends requests spread over hundreds of days while another
// client ingests. The ClickHouse the tiers deploy refuses an insert block
// of more than 100 days (max_partitions_per_insert_block, shown on the
// 26.7 engine by the writer's TestPartitionLimitOnModernEngine); 18.16
// has no such setting, so this server gets the same rule from a
// materialized view that throws on a block of more than 100 days (it runs
// on every insert into the events table, as ClickHouse's check does).
// The other client sees only 200s and everything it was acknowledged is
// stored; the spreading client gets 400 naming the event past the 30-day
// bound for days inside the retention, and 200 with its events stored at
// their arrival (their own time kept) for times outside the window (1990,
// 2100).
func TestSpreadRequestDoesNotStopOtherClients(t *testing.T) {
	harness.Servers(t)
	s := startWith(t, "ingest_spread", map[string]string{
		contract.RetentionDays: "365", contract.IngestMaxEventAgeDays: "", contract.IngestFlushInterval: "100ms",
	})
	ctx := context.Background()
	if err := s.conn.Exec(ctx, "CREATE MATERIALIZED VIEW ingest_spread.partition_limit ENGINE = Null AS "+
		"SELECT throwIf(uniqExact(toYYYYMMDD(ts)) > 100) AS refused FROM ingest_spread.events"); err != nil {
		t.Fatal(err)
	}
	auth := map[string]string{"Authorization": "Bearer " + ingestToken}

	// The other client: 40 requests of 25 events, one every 50 ms.
	var wg sync.WaitGroup
	var victimCodes []int
	acked := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 40 {
			code := postCode(s.ingest+"/v1/events", auth, ndjsonService(fmt.Sprintf("victim-%d", i), "victim", 25))
			victimCodes = append(victimCodes, code)
			if code == http.StatusOK {
				acked += 25
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// The attacker, meanwhile: 200 days inside the retention, and 300
	// days of 1990 and of 2100.
	now := time.Now().UTC()
	var inside, outside []int
	var insideMsg string
	var clamped float64
	for i := range 6 {
		code, _, out := post(t, s.ingest+"/v1/events", auth, daysApart(fmt.Sprintf("inside-%d", i), now.Add(-time.Hour), 200))
		inside = append(inside, code)
		insideMsg, _ = out["error"].(string)
		first := time.Date(1990, 6, 1, 12, 0, 0, 0, time.UTC)
		if i%2 == 1 {
			first = time.Date(2100, 6, 1, 12, 0, 0, 0, time.UTC)
		}
		code, _, out = post(t, s.ingest+"/v1/events", auth, daysApart(fmt.Sprintf("outside-%d", i), first, 300))
		outside = append(outside, code)
		c, _ := out["clamped"].(float64)
		clamped += c
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()

	for i, c := range victimCodes {
		if c != http.StatusOK {
			t.Errorf("the other client's request %d: %d, want 200", i, c)
		}
	}
	if n := s.count(t, "service = 'victim'"); n != uint64(acked) || acked != 40*25 {
		t.Errorf("the other client was acknowledged %d events, ClickHouse has %d; want all 1000", acked, n)
	}
	for _, c := range inside {
		if c != http.StatusBadRequest {
			t.Errorf("200 days inside the retention: %d, want 400", c)
		}
	}
	if !strings.Contains(insideMsg, "event 31 ") || !strings.Contains(insideMsg, "30 distinct days") {
		t.Errorf("the 400 does not name the event past the bound: %q", insideMsg)
	}
	for _, c := range outside {
		if c != http.StatusOK {
			t.Errorf("300 days of 1990 or 2100: %d, want 200 (stored at their arrival)", c)
		}
	}
	if clamped != 6*300 {
		t.Errorf("%v events reported clamped, want 1800", clamped)
	}
	// Stored now, their own time kept; nothing of 1990 or 2100 in the
	// table's days, nothing of the refused requests.
	if n := s.count(t, "message LIKE 'outside-%' AND ts >= now() - 600 AND ts <= now() + 60 AND match(attr_values[indexOf(attr_keys, 'nano.original_time')], '^(1989|1990|2099|2100)-')"); n != 1800 {
		t.Errorf("%d of the 1800 out-of-window events stored at their arrival with nano.original_time, want all", n)
	}
	if n := s.count(t, "message LIKE 'inside-%' OR toYear(ts) < 2000 OR toYear(ts) > 2090"); n != 0 {
		t.Errorf("%d events of refused requests or out-of-window days stored", n)
	}
	t.Logf("other client: %d requests (%v), %d events acknowledged; attacker: inside the retention %v (%s), outside %v", len(victimCodes), victimCodes, acked, inside, insideMsg, outside)
}

// postCode posts body and returns the status (0: no answer); for
// goroutines, which must not end the test.
func postCode(url string, headers map[string]string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func ndjsonService(tag, service string, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"message":"%s %d","service":%q}`+"\n", tag, i, service)
	}
	return b.Bytes()
}

// addFeedToken issues a token of a new feed of tenant in the metadata
// database at url.
func addFeedToken(t *testing.T, url, tenant string) string {
	harness.Servers(t)
	t.Helper()
	ctx := context.Background()
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := metadb.EnsureTenant(ctx, db, tenant, tenant); err != nil {
		t.Fatal(err)
	}
	var feed int64
	if err := db.QueryRow(ctx, `INSERT INTO feeds (tenant, name, kind) VALUES ($1, 'http-feed', 'http') RETURNING id`, tenant).Scan(&feed); err != nil {
		t.Fatal(err)
	}
	token, err := authtoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO ingest_tokens (tenant, feed_id, hash) VALUES ($1, $2, $3)`, tenant, feed, authtoken.Hash(token)); err != nil {
		t.Fatal(err)
	}
	return token
}

// metric reads one sample of the service's metrics ("" when absent).
func (s *service) metric(t *testing.T, sample string) string {
	t.Helper()
	resp, err := http.Get(s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return ""
}

// A tenant over its events-per-second quota gets 429 with a Retry-After
// and its refusals counted by tenant, while another tenant keeps
// ingesting with only 200s; after the Retry-After the first is taken
// again.
func TestTenantOverEventsQuotaGets429(t *testing.T) {
	harness.Servers(t)
	meta, noisy := feedToken(t, "ingest_quota_eps_meta", "noisy", "http")
	quiet := addFeedToken(t, meta, "quiet")
	s := startWith(t, "ingest_quota_eps", map[string]string{
		contract.PostgresURL: meta, contract.IngestTenantEPS: "5", contract.IngestTenantBurstSeconds: "20", contract.IngestFlushInterval: "50ms",
	})
	waitToken(t, s, noisy)
	waitToken(t, s, quiet)
	var noisyCodes, quietCodes []int
	var retryAfter, msg string
	for i := range 8 {
		code, h, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + noisy}, ndjsonService(fmt.Sprintf("noisy-%d", i), "noisy", 40))
		noisyCodes = append(noisyCodes, code)
		if code == http.StatusTooManyRequests {
			retryAfter, msg = h.Get("Retry-After"), fmt.Sprint(out["error"])
		}
		code, _, _ = post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + quiet}, ndjsonService(fmt.Sprintf("quiet-%d", i), "quiet", 5))
		quietCodes = append(quietCodes, code)
	}
	// The bucket holds 100 events (5 a second, 20 s of them): two requests
	// of 40, the third would pass it; it refills by 5 a second, too
	// little for 40 more before the loop ends.
	if want := []int{200, 200, 429, 429, 429, 429, 429, 429}; fmt.Sprint(noisyCodes) != fmt.Sprint(want) {
		t.Errorf("the noisy tenant's requests: %v, want %v", noisyCodes, want)
	}
	if secs, err := strconv.Atoi(retryAfter); err != nil || secs < 1 || secs > 5 {
		t.Errorf("Retry-After %q, want 1-5 seconds", retryAfter)
	}
	if !strings.Contains(msg, `"noisy"`) || !strings.Contains(msg, "5 events per second") {
		t.Errorf("the 429 does not say whose quota: %q", msg)
	}
	for i, c := range quietCodes {
		if c != http.StatusOK {
			t.Errorf("the quiet tenant's request %d: %d, want 200", i, c)
		}
	}
	if n := s.count(t, "tenant = 'quiet'"); n != 8*5 {
		t.Errorf("the quiet tenant has %d events stored, want 40", n)
	}
	if n := s.count(t, "tenant = 'noisy'"); n != 80 {
		t.Errorf("the noisy tenant has %d events stored, want the 80 accepted", n)
	}
	if v := s.metric(t, `nano_ingest_quota_refused_events_total{quota="events_per_second",tenant="noisy"}`); v != "240" {
		t.Errorf("refusals counted %q, want 240", v)
	}
	secs, _ := strconv.Atoi(retryAfter)
	time.Sleep(time.Duration(secs) * time.Second)
	if code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + noisy}, ndjsonService("noisy-later", "noisy", 20)); code != http.StatusOK {
		t.Errorf("the noisy tenant after its Retry-After: %d %v", code, out)
	}
	t.Logf("noisy %v (Retry-After %s: %s); quiet %v", noisyCodes, retryAfter, msg, quietCodes)
}

// A tenant over its bytes-per-day quota gets 429 until midnight UTC, on
// every replica: two replicas share the count through PostgreSQL, so the
// replica the tenant did not use refuses it too once they have synced;
// the other tenant ingests on both. The day's usage is recorded.
func TestTenantOverBytesQuotaGets429OnEveryReplica(t *testing.T) {
	harness.Servers(t)
	meta, noisy := feedToken(t, "ingest_quota_gb_meta", "noisy", "http")
	quiet := addFeedToken(t, meta, "quiet")
	env := map[string]string{contract.PostgresURL: meta, contract.IngestTenantGBPerDay: "0.00002", contract.IngestFlushInterval: "50ms"} // 20 000 bytes
	a := startWith(t, "ingest_quota_gb", env)
	b := startWith(t, "ingest_quota_gb", env)
	for _, s := range []*service{a, b} {
		waitToken(t, s, noisy)
		waitToken(t, s, quiet)
	}
	pad := strings.Repeat("x", 900)
	big := func(tag string) []byte {
		var buf bytes.Buffer
		for i := range 5 {
			fmt.Fprintf(&buf, `{"message":"%s %d","service":"noisy","pad":%q}`+"\n", tag, i, pad)
		}
		return buf.Bytes() // about 4.7 kB as received
	}
	var codes []int
	var retryAfter, msg string
	for i := range 6 {
		code, h, out := post(t, a.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + noisy}, big(fmt.Sprintf("noisy-%d", i)))
		codes = append(codes, code)
		if code == http.StatusTooManyRequests {
			retryAfter, msg = h.Get("Retry-After"), fmt.Sprint(out["error"])
		}
	}
	if want := []int{200, 200, 200, 200, 429, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("the noisy tenant's requests on replica a: %v, want %v", codes, want)
	}
	now := time.Now().UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	if secs, err := strconv.Atoi(retryAfter); err != nil || time.Duration(secs)*time.Second < time.Until(midnight)-time.Minute || time.Duration(secs)*time.Second > time.Until(midnight)+time.Minute {
		t.Errorf("Retry-After %q, want the %v until midnight UTC", retryAfter, time.Until(midnight).Round(time.Second))
	}
	if !strings.Contains(msg, "per day") || !strings.Contains(msg, `"noisy"`) {
		t.Errorf("the 429 does not say whose quota: %q", msg)
	}
	// Replica b learns a's count at their next syncs (every 10 s).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _ := post(t, b.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + noisy}, ndjsonService("noisy-b", "noisy", 1))
		if code == http.StatusTooManyRequests {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b still takes the noisy tenant's events 30 s after replica a refused them (%d)", code)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, s := range []*service{a, b} {
		if code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + quiet}, ndjsonService("quiet", "quiet", 10)); code != http.StatusOK {
			t.Errorf("the quiet tenant: %d %v", code, out)
		}
	}
	db, err := pgxpool.New(context.Background(), meta)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var used int64
	// Four requests of 4 745 bytes on a, and b's one-event probes until it
	// learnt of them.
	if err := db.QueryRow(context.Background(), `SELECT bytes FROM ingest_usage WHERE tenant = 'noisy' AND day = (now() AT TIME ZONE 'UTC')::date`).Scan(&used); err != nil || used < 4*4745 || used > 25000 {
		t.Errorf("the noisy tenant's recorded usage today: %d (%v), want its four accepted requests' bytes", used, err)
	}
	t.Logf("noisy on a: %v (Retry-After %s: %s); recorded %d bytes", codes, retryAfter, msg, used)
}

// ClickHouse's disk nearly full (the 26.7 engine's default disk with 5% of
// it free, as its system.disks reports; ingest reads the same SQL it reads
// on the tiers' servers): every protocol refuses new events with 503 and a
// message that says why, HEC's health says so, nothing is stored, the
// replica's gauge is 1 and the platform's alert fires on the real
// Prometheus with nano's rules. The same disk with a lower threshold
// takes events: the threshold decides, not the reading's failure.
func TestNearlyFullDiskStopsIngestAndAlerts(t *testing.T) {
	harness.Servers(t)
	disk, share, err := chdb.OpenNearlyFull(t.TempDir(), 0.05)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	probe := func(ctx context.Context) (float64, error) {
		out, err := disk.Query(events.Engine{Database: "nano"}.DiskFreeSQL(), "TSV")
		if err != nil {
			return 0, err
		}
		var free float64
		var disks int
		if _, err := fmt.Sscan(out, &free, &disks); err != nil || disks != 1 {
			return 0, fmt.Errorf("system.disks said %q", out)
		}
		return free, nil
	}
	s := startProbing(t, "ingest_disk", map[string]string{contract.IngestDiskCheckInterval: "200ms"}, probe)
	prom, err := harness.StartPrometheus(contract.AlertRules(false), strings.TrimPrefix(s.metrics, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer prom.Stop()

	code, h, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + ingestToken}, ndjsonService("full", "full", 10))
	msg := fmt.Sprint(out["error"])
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "60" || !strings.Contains(msg, "disk is") || !strings.Contains(msg, "below the 10%") {
		t.Errorf("bearer on a nearly full disk: %d (Retry-After %q) %q, want 503 saying the disk is below 10%%", code, h.Get("Retry-After"), msg)
	}
	code, _, out = post(t, s.hec+"/services/collector/event", map[string]string{"Authorization": "Splunk " + hecToken}, []byte(`{"event":"full"}`))
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(out["text"]), "disk") {
		t.Errorf("HEC on a nearly full disk: %d %v, want 503", code, out)
	}
	resp, err := http.Get(s.hec + "/services/collector/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HEC health on a nearly full disk: %d, want 503", resp.StatusCode)
	}
	if n := s.count(t, "1"); n != 0 {
		t.Errorf("%d events stored on a nearly full disk", n)
	}
	if v := s.metric(t, contract.IngestDiskRefusingMetric); v != "1" {
		t.Errorf("%s is %q, want 1", contract.IngestDiskRefusingMetric, v)
	}
	alert, err := prom.WaitFiring(context.Background(), "NanoIngestRefusingDiskFull", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if alert.Labels["severity"] != "critical" {
		t.Errorf("the alert's labels %v", alert.Labels)
	}

	// A whole percent below the disk's share (2 for the usual 5%).
	lower := max(1, int(share*100)/2)
	if float64(lower) >= share*100 {
		t.Fatalf("the filesystem is too full for the lower threshold's control: the engine's disk is %.2f%% free", share*100)
	}
	other := startProbing(t, "ingest_disk", map[string]string{contract.IngestMinDiskFreePct: strconv.Itoa(lower)}, probe)
	if code, _, out := post(t, other.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + ingestToken}, ndjsonService("room", "room", 10)); code != http.StatusOK {
		t.Errorf("the same disk with a %d%% threshold: %d %v, want 200", lower, code, out)
	}
	t.Logf("refused with %q; alert %v", msg, alert.Annotations["summary"])
}
