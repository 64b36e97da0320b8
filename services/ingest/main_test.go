package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/diskguard"
	"github.com/nanosiem/nano/tests/harness"
)

var (
	ch *harness.ClickHouse
	pg *harness.Postgres
)

func TestMain(m *testing.M) {
	harness.MainWithBoth(m, &pg, &ch)
}

const (
	ingestToken = "ingest-token-0123456789abcdef"
	hecToken    = "3d6a8f0e-1c2b-4d5e-9f00-aabbccddeeff"
	channelID   = "0B1F7A1E-5C3D-4A2B-8E9F-001122334455"
)

// service runs the ingest service against the test ClickHouse on loopback
// ports and returns its base URLs.
type service struct {
	ingest, hec, metrics string
	otlp                 string // host:port of OTLP/gRPC
	conn                 driver.Conn
	table                string
	syslog               syslogAddrs
}

func start(t *testing.T, db string) *service { return startWith(t, db, nil) }

// startWith is start with more environment variables. Events of any age
// are stored at their own time (NANO_INGEST_MAX_EVENT_AGE_DAYS 0: the
// tests' fixed times) unless extra sets it ("" is the default: the
// retention).
func startWith(t *testing.T, db string, extra map[string]string) *service {
	harness.Servers(t)
	return startProbing(t, db, extra, nil)
}

// startProbing is startWith reading ClickHouse's free disk share with
// probe (nil: from the ClickHouse ingest writes to).
func startProbing(t *testing.T, db string, extra map[string]string, probe diskguard.Probe) *service {
	harness.Servers(t)
	t.Helper()
	env := map[string]string{
		contract.ClickHouseAddr: ch.Addr, contract.ClickHouseDatabase: db,
		contract.IngestToken: ingestToken, contract.HECToken: hecToken, contract.RetentionDays: "90",
		contract.IngestMaxEventAgeDays: "0",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	migrateEvents(t, cfg)
	ls := listeners{diskProbe: probe}
	for _, l := range []*net.Listener{&ls.ingest, &ls.hec, &ls.metrics, &ls.otlp} {
		if *l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	syslogAddrs := listenSyslog(t, cfg, &ls)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &ls) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	s := &service{ingest: "http://" + ls.ingest.Addr().String(), hec: "http://" + ls.hec.Addr().String(),
		metrics: "http://" + ls.metrics.Addr().String(), otlp: ls.otlp.Addr().String(), table: db + ".events", syslog: syslogAddrs}
	// Ready once the schema is migrated.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.metrics + contract.ReadyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ingest not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.conn, err = clickhouse.Open(&clickhouse.Options{Addr: cfg.ClickHouseAddrs[:1], Auth: clickhouse.Auth{Database: "default", Username: "default"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s
}

// migrateEvents creates the events schema of cfg as the api does (ingest
// only waits for it), connecting as the server's owner.
func migrateEvents(t *testing.T, cfg config) {
	harness.Servers(t)
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: cfg.ClickHouseAddrs, Auth: clickhouse.Auth{Database: "default", Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e := cfg.Engine
	if e.Version, err = events.DetectVersion(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
}

func (s *service) count(t *testing.T, where string) uint64 {
	t.Helper()
	var n uint64
	if err := s.conn.QueryRow(context.Background(), "SELECT count() FROM "+s.table+" WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func post(t *testing.T, url string, headers map[string]string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	z.Close()
	return b.Bytes()
}

// The bearer port: NDJSON (gzip), arrays, objects; committed before the
// answer; bad input refused as a whole with the record named; bad tokens
// refused.
func TestBearerPort(t *testing.T) {
	s := start(t, "ing_bearer")
	auth := map[string]string{"Authorization": "Bearer " + ingestToken}
	ndjson := `{"timestamp":"2026-11-23T10:00:00.123456789Z","level":"ERROR","service":"api","message":"boom","http":{"status":500}}
{"ts":1763892000.5,"msg":"second","host":"web-2"}
{"message":"third, no time"}`
	h := map[string]string{"Authorization": auth["Authorization"], "Content-Encoding": "gzip"}
	code, _, body := post(t, s.ingest+"/v1/events", h, gz(t, ndjson))
	if code != 200 || body["accepted"] != float64(3) {
		t.Fatalf("ndjson: %d %v", code, body)
	}
	// Acknowledged means committed: the rows are there now.
	if n := s.count(t, "tenant = 'default' AND feed = 'http'"); n != 3 {
		t.Errorf("%d rows after the 200, want 3", n)
	}
	if n := s.count(t, "severity = 'error' AND service = 'api' AND ts_nanos = 123456789 AND has(attr_keys, 'http.status')"); n != 1 {
		t.Error("the first event's fields were not mapped")
	}
	if n := s.count(t, "host = 'web-2' AND ts = toDateTime(1763892000) AND ts_nanos = 500000000"); n != 1 {
		t.Error("the epoch-seconds time was not kept to the nanosecond")
	}
	code, _, body = post(t, s.ingest+"/v1/events", auth, []byte(`[{"message":"a"},{"message":"b"}]`))
	if code != 200 || body["accepted"] != float64(2) {
		t.Errorf("array: %d %v", code, body)
	}
	before := s.count(t, "1")
	code, _, body = post(t, s.ingest+"/v1/events", auth, []byte("{\"message\":\"ok\"}\n{not json}\n"))
	if code != 400 || !strings.Contains(fmt.Sprint(body["error"]), "record 2") {
		t.Errorf("bad ndjson: %d %v", code, body)
	}
	code, _, body = post(t, s.ingest+"/v1/events", auth, []byte(`{"time":"yesterday","message":"x"}`))
	if code != 400 || !strings.Contains(fmt.Sprint(body["error"]), `field "time"`) {
		t.Errorf("bad time: %d %v", code, body)
	}
	if after := s.count(t, "1"); after != before {
		t.Errorf("a refused request wrote %d rows", after-before)
	}
	code, hdr, _ := post(t, s.ingest+"/v1/events", nil, []byte(`{"message":"x"}`))
	if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %v", code, hdr)
	}
	if code, _, _ := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + hecToken + "x"}, []byte(`{}`)); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _, _ := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": auth["Authorization"], "Content-Encoding": "br"}, []byte(`{}`)); code != 415 {
		t.Errorf("brotli: %d, want 415", code)
	}
	big := bytes.Repeat([]byte(`{"message":"padding padding padding"}`+"\n"), 11<<20/38)
	if code, _, _ := post(t, s.ingest+"/v1/events", auth, big); code != 413 {
		t.Errorf("11 MB body: %d, want 413", code)
	}
	bomb := gz(t, strings.Repeat(" ", 65<<20))
	if code, _, _ := post(t, s.ingest+"/v1/events", h, bomb); code != 413 {
		t.Errorf("gzip bomb: %d, want 413", code)
	}
	resp, err := http.Get(s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`nano_ingest_accepted_events_total{protocol="http"} 5`, `nano_ingest_rejected_events_total{protocol="http",reason="unauthorized"} 2`,
		`nano_ingest_rejected_events_total{protocol="http",reason="too_large"} 2`, "nano_ingest_flush_seconds_bucket", "nano_ingest_queue_events 0"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// The HEC port as Splunk clients and Vector's splunk_hec_logs sink use it:
// concatenated events with metadata and indexed fields, raw lines,
// channels with indexer acknowledgement that turn true only after the
// commit, health, and Splunk's error codes.
func TestHECPort(t *testing.T) {
	s := start(t, "ing_hec")
	auth := map[string]string{"Authorization": "Splunk " + hecToken}
	events := `{"time":1763892000.25,"host":"fw-1","source":"/var/log/fw.log","sourcetype":"fw","index":"main","event":"DENY tcp 10.0.0.1:5555 -> 10.0.0.2:22","fields":{"rule":"22-deny"}}` +
		`{"event":{"message":"login failed","level":"warning","user":"bob"},"sourcetype":"_json"}`
	code, _, body := post(t, s.hec+"/services/collector/event", auth, []byte(events))
	if code != 200 || body["text"] != "Success" || body["code"] != float64(0) {
		t.Fatalf("event: %d %v", code, body)
	}
	if n := s.count(t, "feed = 'hec' AND host = 'fw-1' AND has(attr_keys, 'rule') AND has(attr_values, '/var/log/fw.log') AND ts_nanos = 250000000"); n != 1 {
		t.Error("the HEC event's metadata and fields were not kept")
	}
	if n := s.count(t, "message = 'login failed' AND severity = 'warn' AND has(attr_keys, 'user')"); n != 1 {
		t.Error("the JSON event object was not mapped")
	}
	code, _, body = post(t, s.hec+"/services/collector/raw?host=edge&sourcetype=syslog", auth, []byte("line one\nline two\n\n"))
	if code != 200 || body["code"] != float64(0) || s.count(t, "host = 'edge'") != 2 {
		t.Errorf("raw: %d %v", code, body)
	}

	// Indexer acknowledgement (Vector sends gzip and a channel).
	ack := map[string]string{"Authorization": auth["Authorization"], "X-Splunk-Request-Channel": channelID, "Content-Encoding": "gzip"}
	code, _, body = post(t, s.hec+"/services/collector/event", ack, gz(t, `{"event":"acked 1"}{"event":"acked 2"}`))
	if code != 200 || body["ackId"] != float64(0) {
		t.Fatalf("event with channel: %d %v", code, body)
	}
	ackHdr := map[string]string{"Authorization": auth["Authorization"], "X-Splunk-Request-Channel": channelID}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body = post(t, s.hec+"/services/collector/ack", ackHdr, []byte(`{"acks":[0,7]}`))
		acks, _ := body["acks"].(map[string]any)
		if code != 200 || acks["7"] != false {
			t.Fatalf("ack: %d %v", code, body)
		}
		if acks["0"] == true {
			// True only once the events are in ClickHouse.
			if n := s.count(t, "message LIKE 'acked %'"); n != 2 {
				t.Errorf("ack 0 true with %d of 2 events committed", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ack 0 never turned true")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, body = post(t, s.hec+"/services/collector/ack", ackHdr, []byte(`{"acks":[0]}`)); body["acks"].(map[string]any)["0"] != false {
		t.Error("an acknowledged id was reported again")
	}

	for _, c := range []struct {
		name    string
		path    string
		headers map[string]string
		body    string
		status  int
		code    float64
	}{
		{"no token", "/services/collector/event", nil, `{"event":"x"}`, 401, 2},
		{"bearer scheme", "/services/collector/event", map[string]string{"Authorization": "Bearer " + hecToken}, `{"event":"x"}`, 401, 3},
		{"unknown token", "/services/collector/event", map[string]string{"Authorization": "Splunk 00000000-0000-0000-0000-000000000000"}, `{"event":"x"}`, 403, 4},
		{"no data", "/services/collector/event", auth, ``, 400, 5},
		{"bad json", "/services/collector/event", auth, `{"event":`, 400, 6},
		{"no event field", "/services/collector/event", auth, `{"host":"x"}`, 400, 12},
		{"blank event", "/services/collector/event", auth, `{"event":""}`, 400, 13},
		{"bad fields", "/services/collector/event", auth, `{"event":"x","fields":[1]}`, 400, 15},
		{"ack without channel", "/services/collector/ack", auth, `{"acks":[0]}`, 400, 10},
		{"bad channel", "/services/collector/event", map[string]string{"Authorization": auth["Authorization"], "X-Splunk-Request-Channel": "not-a-guid"}, `{"event":"x"}`, 400, 11},
	} {
		code, _, body := post(t, s.hec+c.path, c.headers, []byte(c.body))
		if code != c.status || body["code"] != c.code {
			t.Errorf("%s: %d %v, want %d code %v", c.name, code, body, c.status, c.code)
		}
	}
	if _, _, body := post(t, s.hec+"/services/collector/event", auth, []byte(`{"event":"ok"}{"event":`)); body["invalid-event-number"] != float64(1) {
		t.Errorf("the bad event's number is not reported: %v", body)
	}
	resp, err := http.Get(s.hec + "/services/collector/health")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || health["code"] != float64(17) {
		t.Errorf("health: %d %v", resp.StatusCode, health)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	harness.Servers(t)
	dir := t.TempDir()
	_, err := loadConfig(func(k string) string {
		return map[string]string{
			contract.ClickHouseAddr: "clickhouse", contract.ClickHouseDatabase: "nano-db", contract.HECToken: "short",
			contract.IngestTokenFile: dir + "/missing", contract.IngestRateEPS: "-5", contract.HECAddr: "8088",
			contract.IngestMaxAttributes: "0", contract.IngestMaxDecodedBytes: "1000",
		}[k]
	})
	for _, want := range []string{
		`NANO_CLICKHOUSE_ADDR: "clickhouse" is not host:port`, `database "nano-db" is not an identifier`,
		"NANO_HEC_TOKEN: shorter than 16 characters", "NANO_INGEST_TOKEN_FILE: cannot read", `NANO_INGEST_RATE_EPS: "-5"`,
		`NANO_HEC_ADDR: "8088" is not host:port`, `NANO_INGEST_MAX_ATTRIBUTES: "0" is not a whole number from 1 to 100000`,
		"NANO_INGEST_MAX_DECODED_BYTES: 1000 is less than NANO_INGEST_MAX_BODY_BYTES",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not say %q", err, want)
		}
	}
	_, err = loadConfig(func(k string) string {
		return map[string]string{contract.ClickHouseAddr: "ch:9000", contract.IngestToken: ingestToken,
			contract.IngestMaxDecodedBytes: strconv.Itoa(64 << 20), contract.IngestInflightBytes: strconv.Itoa(12 << 20)}[k]
	})
	if want := "NANO_INGEST_INFLIGHT_BYTES: 12582912 is less than 155189248"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v\ndoes not say %q", err, want)
	}
	_, err = loadConfig(func(k string) string { return map[string]string{contract.ClickHouseAddr: "ch:9000"}[k] })
	if err == nil || !strings.Contains(err.Error(), "NANO_INGEST_TOKEN: set it") {
		t.Errorf("no token accepted: %v", err)
	}
}
