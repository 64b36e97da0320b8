package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
)

// OTelCollectorEnv names the OpenTelemetry Collector binary tests/setup
// builds from the collector's modules (tests/otelcol).
const OTelCollectorEnv = "NANO_OTELCOL"

// collectorConfig is the collector's configuration: one filelog receiver
// and pipeline per exporter (otlp_http, otlp_grpc, and otlp_http with a
// wrong token), each reading its file of JSON lines into OTLP records
// (time, level, msg → body, host → host.name, a fixed service.name),
// batched in requests of at most 100 records, retried without an end.
func collectorConfig(dir, httpURL, grpcAddr, token string) string {
	receiver := func(name string) string {
		return fmt.Sprintf(`  filelog/%[1]s:
    include: [%[2]s]
    start_at: beginning
    poll_interval: 50ms
    resource:
      service.name: shop-%[1]s
    operators:
      - type: json_parser
        timestamp: {parse_from: attributes.time, layout_type: gotime, layout: "2006-01-02T15:04:05.999999999Z07:00"}
        severity: {parse_from: attributes.level}
      - type: move
        from: attributes.msg
        to: body
      - type: move
        from: attributes.host
        to: resource["host.name"]
`, name, filepath.Join(dir, name+".log"))
	}
	retry := `    retry_on_failure: {enabled: true, initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0}
    sending_queue: {enabled: true, num_consumers: 4, queue_size: 100000}
`
	return "receivers:\n" + receiver("http") + receiver("grpc") + receiver("bad") + `processors:
  batch: {send_batch_size: 100, send_batch_max_size: 100, timeout: 100ms}
exporters:
  otlp_http:
    endpoint: ` + httpURL + `
    compression: gzip
    headers: {Authorization: "Bearer ` + token + `"}
` + retry + `  otlp_http/bad:
    endpoint: ` + httpURL + `
    headers: {Authorization: "Bearer not-the-token-0123456789"}
` + retry + `  otlp_grpc:
    endpoint: ` + grpcAddr + `
    tls: {insecure: true}
    headers: {authorization: "Bearer ` + token + `"}
` + retry + `service:
  telemetry:
    metrics: {level: none}
    logs: {level: info}
  pipelines:
    logs/http: {receivers: [filelog/http], processors: [batch], exporters: [otlp_http]}
    logs/grpc: {receivers: [filelog/grpc], processors: [batch], exporters: [otlp_grpc]}
    logs/bad: {receivers: [filelog/bad], processors: [batch], exporters: [otlp_http/bad]}
`
}

// The OpenTelemetry Collector (built from its modules) reads log files and
// exports them over OTLP/HTTP and OTLP/gRPC while ingest is killed with
// SIGKILL and restarted: every line written is stored (the collector
// retries what was not acknowledged; ingest acknowledges after the
// commit), with its fields mapped, and no line is stored twice more often
// than the requests in flight at the kill allow (docs/reference/otlp.md). The
// pipeline with a wrong token stores nothing (refused with 401, which the
// exporter does not retry).
func TestOTelCollectorThroughSIGKILL(t *testing.T) {
	harness.Servers(t)
	otelcol := os.Getenv(OTelCollectorEnv)
	if otelcol == "" {
		t.Fatalf("%s is not set: run eval \"$(bash tests/setup)\" (it builds the OpenTelemetry Collector)", OTelCollectorEnv)
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	ingestAddr, metricsAddr, otlpAddr := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	const db = "ing_otelcol"
	env := append(os.Environ(),
		contract.ClickHouseAddr+"="+ch.Addr, contract.ClickHouseDatabase+"="+db, contract.IngestToken+"="+ingestToken,
		contract.IngestFlushInterval+"=1s", contract.ListenAddr+"="+ingestAddr, contract.HECAddr+"="+harness.FreeAddr(t),
		contract.MetricsAddr+"="+metricsAddr, contract.OTLPAddr+"="+otlpAddr, contract.IngestMaxEventAgeDays+"=0")
	migrateEvents(t, config{ClickHouseAddrs: []string{ch.Addr}, Engine: events.Engine{Database: db}})
	var logs bytes.Buffer
	var logMu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) })
	startService := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if resp, err := http.Get("http://" + metricsAddr + contract.ReadyPath); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				logMu.Lock()
				defer logMu.Unlock()
				t.Fatalf("ingest did not get ready:\n%s", logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	svc := startService()

	cfgFile := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(cfgFile, []byte(collectorConfig(dir, "http://"+ingestAddr, otlpAddr, ingestToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]*os.File{}
	for _, name := range []string{"http", "grpc", "bad"} {
		f, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[name] = f
	}
	var colLog bytes.Buffer
	col := exec.Command(otelcol, "--config", cfgFile)
	col.Stdout = writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return colLog.Write(p) })
	col.Stderr = col.Stdout
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	colDone := make(chan error, 1)
	go func() { colDone <- col.Wait() }()
	defer func() {
		_ = col.Process.Signal(syscall.SIGTERM)
		<-colDone
		if t.Failed() {
			logMu.Lock()
			t.Logf("collector log:\n%s", colLog.String())
			logMu.Unlock()
		}
	}()

	// Lines arrive for about 6 s: 40 rounds of 100 lines per file, 150 ms
	// apart; ingest (whose batches wait up to 1 s to fill) is killed 500 ms
	// after round 12, while that round's requests wait for their commit,
	// and restarted 1.5 s later.
	const rounds, perRound = 40, 100
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const total = rounds * perRound
	stored := func(name string) (rows, unique uint64) {
		q := "SELECT count(), uniqExact(message) FROM " + db + ".events WHERE service = 'shop-" + name + "'"
		if err := conn.QueryRow(context.Background(), q).Scan(&rows, &unique); err != nil {
			t.Fatal(err)
		}
		return rows, unique
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var killedAt int
	for r := range rounds {
		for name, f := range files {
			var b strings.Builder
			for i := range perRound {
				seq := r*perRound + i
				fmt.Fprintf(&b, `{"time":%q,"level":"warn","msg":"%s-%d","host":"web-3","seq":%d}`+"\n",
					at.Add(time.Duration(seq)*time.Millisecond).Format(time.RFC3339Nano), name, seq, seq)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				t.Fatal(err)
			}
		}
		if r == 12 {
			// Once the collector's first lines are stored, round 12's lines
			// are read, sent and waiting for their commit (a batch waits up
			// to 1 s to fill): kill ingest then.
			for wait := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				_, h := stored("http")
				_, g := stored("grpc")
				if h > 0 && g > 0 {
					break
				}
				if time.Now().After(wait) {
					t.Fatal("the collector stored nothing in 60 s")
				}
			}
			time.Sleep(400 * time.Millisecond)
			if err := svc.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = svc.Wait()
			killedAt = r
		}
		if r == 22 {
			svc = startService()
		}
		time.Sleep(150 * time.Millisecond)
	}
	defer func() { _ = svc.Process.Signal(syscall.SIGTERM); _ = svc.Wait() }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		_, h := stored("http")
		_, g := stored("grpc")
		if h == total && g == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d of %d lines over OTLP/HTTP and %d over OTLP/gRPC stored (the collector retries until acknowledged: a line missing was acknowledged and lost)", h, total, g)
		}
		select {
		case err := <-colDone:
			colDone <- err
			t.Fatalf("the collector stopped (%v) with %d of %d lines over OTLP/HTTP and %d over OTLP/gRPC stored", err, h, total, g)
		default:
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Duplicates are bounded by the requests in flight when ingest died:
	// each exporter's 4 consumers, 100 records each.
	const bound = 4 * 100
	for _, name := range []string{"http", "grpc"} {
		rows, unique := stored(name)
		if rows-unique > bound {
			t.Errorf("%s: %d records stored twice, more than the %d in flight at the kill", name, rows-unique, bound)
		}
		t.Logf("OTLP/%s: %d lines written, %d stored once or more, %d rows (%d duplicates); ingest killed after round %d of %d", name, total, unique, rows, rows-unique, killedAt, rounds)
	}
	// Fields mapped: a line's time, level, host, service, body and its
	// other fields as attributes.
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".events WHERE message = 'grpc-7' AND service = 'shop-grpc'"+
		" AND host = 'web-3' AND severity = 'warn' AND ts = toDateTime(1795428000) AND ts_nanos = 7000000"+
		" AND attr_values[indexOf(attr_keys, 'seq')] = '7' AND has(attr_keys, 'log.file.name')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		var row string
		_ = conn.QueryRow(context.Background(), "SELECT concat(toString(ts), ' ', toString(ts_nanos), ' ', severity, ' ', service, ' ', host, ' ', arrayStringConcat(attr_keys, ','), ' ', raw) FROM "+db+".events WHERE message = 'grpc-7' LIMIT 1").Scan(&row)
		t.Errorf("the collector's record was not mapped: %s", row)
	}
	// The wrong token: refused, nothing stored, the collector told why.
	if rows, _ := stored("bad"); rows != 0 {
		t.Errorf("%d records stored with a wrong token", rows)
	}
	logMu.Lock()
	said := colLog.String()
	logMu.Unlock()
	if !strings.Contains(said, "401") {
		t.Errorf("the collector's log does not show the 401 of the wrong token")
	}
	// The exporters did retry while ingest was down.
	if !strings.Contains(said, "Will retry") {
		t.Errorf("the collector's log shows no retry: ingest's death went unnoticed")
	}
}
