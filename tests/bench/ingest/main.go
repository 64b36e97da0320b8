// Command ingest benchmarks nano's ingest service end to end: it starts a
// ClickHouse server (the test harness's) and the ingest binary, drives the
// bearer port from a separate load-generator process over loopback with
// ~750-byte events (acknowledged after commit), and, in the same run,
// measures ClickHouse's own rate for the same events inserted directly
// (INSERT ... FORMAT JSONEachRow over HTTP). It prints events/s, MiB/s,
// p50/p99 request latency, the service's peak RSS and the ratio; then the
// end-to-end rate again with the most signal rules a tenant may hold
// (materialized views on the events table), another tenant's and the
// sending tenant's, beside the rate without them.
//
// With -cluster it then runs the same load against a replicated ClickHouse
// (2 shards x 2 replicas) and prints the ratio to the single-node run.
//
//	go run ./tests/bench/ingest [-duration 15s] [-rounds 3] [-clients 16] [-batch 1000] [-cluster]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/tests/harness"
)

const token = "bench-token-0123456789abcdef"

func main() {
	loadgen := flag.String("loadgen", "", "internal: run as the load generator against this URL")
	duration := flag.Duration("duration", 15*time.Second, "how long to send, per phase and round")
	rounds := flag.Int("rounds", 3, "rounds of end to end then direct")
	clients := flag.Int("clients", 16, "concurrent connections")
	batch := flag.Int("batch", 1000, "events per request")
	cluster := flag.Bool("cluster", false, "also run against a 2 shards x 2 replicas cluster")
	flag.Parse()
	if *loadgen != "" {
		gen := generate
		if strings.HasPrefix(*loadgen, syslogScheme) {
			*loadgen, gen = strings.TrimPrefix(*loadgen, syslogScheme), generateSyslog
		}
		if err := gen(*loadgen, *duration, *clients, *batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := bench(*duration, *rounds, *clients, *batch, *cluster); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

// event returns one ~750-byte NDJSON record.
func event(i int) string {
	msg := fmt.Sprintf("GET /api/v1/orders/%d?expand=items,customer,shipping HTTP/1.1 200 %d bytes in %d ms from 10.%d.%d.%d user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 referer=https://shop.example.com/checkout/confirm trace=%016x span=%08x",
		i, 1000+i%5000, i%900, i%256, (i/256)%256, i%200, uint64(i)*2654435761, i*40503)
	return fmt.Sprintf(`{"timestamp":"%s","level":"%s","service":"checkout","host":"web-%d","message":"%s","http":{"method":"GET","status":%d,"path":"/api/v1/orders"},"user":{"id":"u-%d","tier":"gold"},"region":"eu-central-1","pad":"%s"}`,
		time.Now().UTC().Format(time.RFC3339Nano), []string{"info", "warn", "error"}[i%3], i%12, msg, 200+i%5, i%10000, strings.Repeat("x", 207))
}

type loadResult struct {
	Events    int64   `json:"events"`
	Bytes     int64   `json:"bytes"`
	Requests  int     `json:"requests"`
	Failures  int     `json:"failures"`
	Seconds   float64 `json:"seconds"`
	P50Millis float64 `json:"p50_ms"`
	P99Millis float64 `json:"p99_ms"`
}

// generate sends batches from clients goroutines for d and prints a
// loadResult as JSON.
func generate(url string, d time.Duration, clients, batch int) error {
	bodies := make([][]byte, 8)
	for b := range bodies {
		var buf bytes.Buffer
		for i := 0; i < batch; i++ {
			buf.WriteString(event(b*batch + i))
			buf.WriteByte('\n')
		}
		bodies[b] = buf.Bytes()
	}
	contentType := "application/x-ndjson"
	if isOTLP(url) {
		bodies, contentType = otlpBodies(len(bodies), batch), "application/x-protobuf"
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var events, byteCount, seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	failures := 0
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var body []byte
			for i := c; time.Now().Before(deadline); i++ {
				// Every request's events differ from every other's, as real
				// logs do: its number goes into the first event's padding.
				// (Servers before 22.2 deduplicate replicated inserts by
				// content, so a repeated body would be dropped as a retry.)
				body = append(body[:0], bodies[i%len(bodies)]...)
				pad := padAt(body)
				copy(body[pad:], fmt.Sprintf("%016d", seq.Add(1)))
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", contentType)
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				el := time.Since(t0)
				mu.Lock()
				if ok {
					lat = append(lat, el)
				} else {
					failures++
				}
				mu.Unlock()
				if ok {
					events.Add(int64(batch))
					byteCount.Add(int64(len(body)))
				} else {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}(c)
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	return json.NewEncoder(os.Stdout).Encode(loadResult{
		Events: events.Load(), Bytes: byteCount.Load(), Requests: len(lat), Failures: failures,
		Seconds: time.Since(start).Seconds(), P50Millis: pct(0.50), P99Millis: pct(0.99),
	})
}

func bench(d time.Duration, rounds, clients, batch int, cluster bool) error {
	ch, err := harness.StartClickHouse()
	if err != nil {
		return err
	}
	defer ch.Stop()
	dir, err := os.MkdirTemp("", "nano-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, "./services/ingest").CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build ingest (run from the repository root): %v\n%s", err, out)
	}
	if err := migrate([]string{ch.Addr}, ""); err != nil {
		return err
	}
	syslogAddr := freeAddr()
	svc, addr, err := startIngest(bin, contract.ClickHouseAddr+"="+ch.Addr,
		contract.SyslogAddr+"="+syslogAddr, contract.SyslogTCPSources+"="+syslogSource)
	if err != nil {
		return err
	}
	defer func() { _ = svc.Process.Kill(); _ = svc.Wait() }()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	conn, err := ch.Open()
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(context.Background(), "CREATE TABLE IF NOT EXISTS bench.direct AS bench.events"); err != nil {
		return err
	}
	tot, err := bearerRounds(ch, conn, svc.Process.Pid, self, addr, d, rounds, clients, batch)
	if err != nil {
		return err
	}
	rss, _ := peakRSS(svc.Process.Pid)
	eps := tot.print(clients, batch, rounds, d, rss)
	if uint64(tot.events) > tot.stored {
		return fmt.Errorf("%d events acknowledged but only %d stored", tot.events, tot.stored)
	}
	if err := benchOTLP(conn, svc.Process.Pid, self, addr, d, rounds, clients, batch, eps); err != nil {
		return err
	}
	if err := benchSyslog(conn, svc.Process.Pid, self, syslogAddr, d, rounds, clients, batch, eps); err != nil {
		return err
	}
	if err := benchSignalRules(conn, self, addr, d, rounds, clients, batch, eps); err != nil {
		return err
	}
	if cluster {
		_ = svc.Process.Kill()
		ch.Stop()
		return benchCluster(bin, self, d, rounds, clients, batch, single{eps: eps, p50: median(tot.p50), p99: median(tot.p99)})
	}
	return nil
}

// bearerTotals sum the bearer rounds: the service's events and bytes,
// ClickHouse's direct inserts, the CPU each used, the rounds' latencies,
// and what ClickHouse stored.
type bearerTotals struct {
	events, bytes, direct, failures int64
	seconds, directSeconds          float64
	svcCPU, chCPU, genCPU, chDirect float64
	p50, p99                        []float64
	stored                          uint64
}

// perK is CPU milliseconds per 1000 events.
func perK(sec float64, n int64) float64 { return sec * 1e6 / float64(max(n, 1)) }

// median of xs, which it sorts.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// bearerRounds alternates rounds: ClickHouse's own rate varies between
// runs (its merges), so each round measures both the service end to end
// and ClickHouse direct, back to back, each phase into an empty table (so
// neither merges into what an earlier phase left: that cost grows with
// the rounds, not with the service).
func bearerRounds(ch *harness.ClickHouse, conn driver.Conn, svcPID int, self, addr string, d time.Duration, rounds, clients, batch int) (bearerTotals, error) {
	var tot bearerTotals
	for round := 1; round <= rounds; round++ {
		if err := emptyTable(conn, "bench.events"); err != nil {
			return tot, err
		}
		svcCPU0, chCPU0 := cpuSeconds(svcPID), cpuSeconds(ch.PID())
		r, genCPU, err := runLoad(self, addr, d, clients, batch)
		if err != nil {
			return tot, err
		}
		svcCPU, chCPU := cpuSeconds(svcPID)-svcCPU0, cpuSeconds(ch.PID())-chCPU0
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM bench.events").Scan(&n); err != nil {
			return tot, err
		}
		tot.stored += n
		if err := emptyTable(conn, "bench.direct"); err != nil {
			return tot, err
		}
		chDirect0 := cpuSeconds(ch.PID())
		direct, directEvents, err := directRate(ch, batch, clients, d)
		if err != nil {
			return tot, err
		}
		chDirect := cpuSeconds(ch.PID()) - chDirect0
		eps := float64(r.Events) / r.Seconds
		fmt.Printf("round %d: end to end %.0f events/s (p50 %.0f ms, p99 %.0f ms; CPU per 1000: service %.1f ms, ClickHouse %.1f ms); direct %.0f events/s (ClickHouse %.1f ms per 1000); ratio %.2f\n",
			round, eps, r.P50Millis, r.P99Millis, perK(svcCPU, r.Events), perK(chCPU, r.Events), direct, perK(chDirect, directEvents), eps/direct)
		tot.events += r.Events
		tot.bytes += r.Bytes
		tot.failures += int64(r.Failures)
		tot.seconds += r.Seconds
		tot.direct += directEvents
		tot.directSeconds += float64(directEvents) / direct
		tot.svcCPU += svcCPU
		tot.chCPU += chCPU
		tot.genCPU += genCPU
		tot.chDirect += chDirect
		tot.p50, tot.p99 = append(tot.p50, r.P50Millis), append(tot.p99, r.P99Millis)
	}
	return tot, nil
}

// print reports the bearer rounds beside ClickHouse direct and returns the
// service's events/s (the peer of the other protocols' phases).
func (tot bearerTotals) print(clients, batch, rounds int, d time.Duration, rss int64) float64 {
	eps := float64(tot.events) / tot.seconds
	direct := float64(tot.direct) / tot.directSeconds
	cores := float64(runtime.NumCPU())
	fmt.Printf("ingest end to end (bearer NDJSON, ack after commit, %d clients x %d events/request, %d-byte events avg; %d rounds of %s):\n",
		clients, batch, tot.bytes/max(tot.events, 1), rounds, d)
	fmt.Printf("  events/s       %.0f (%.0f per machine core on %d cores; %.0f per core the service used)\n",
		eps, eps/cores, int(cores), float64(tot.events)/tot.svcCPU)
	fmt.Printf("  MiB/s          %.1f\n", float64(tot.bytes)/tot.seconds/(1<<20))
	fmt.Printf("  latency        p50 %.1f ms, p99 %.1f ms (median of rounds; %d failed requests)\n", median(tot.p50), median(tot.p99), tot.failures)
	fmt.Printf("  peak RSS       %.0f MiB\n", float64(rss)/(1<<20))
	fmt.Printf("  acknowledged   %d events; ClickHouse stored %d (counted after each round)\n", tot.events, tot.stored)
	fmt.Printf("  CPU per 1000   service %.1f ms, ClickHouse %.1f ms, load generator %.1f ms\n",
		perK(tot.svcCPU, tot.events), perK(tot.chCPU, tot.events), perK(tot.genCPU, tot.events))
	fmt.Printf("ClickHouse direct (INSERT ... FORMAT JSONEachRow over HTTP, same events):\n")
	fmt.Printf("  events/s       %.0f\n", direct)
	fmt.Printf("  CPU per 1000   ClickHouse %.1f ms\n", perK(tot.chDirect, tot.direct))
	fmt.Printf("ratio end to end / direct: %.2f\n", eps/direct)
	return eps
}

// migrate creates database bench's events schema as the api does (ingest
// only waits for it), on the servers at addrs (a cluster's with cluster).
func migrate(addrs []string, cluster string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: addrs, Auth: clickhouse.Auth{Database: "default", Username: "default"}})
	if err != nil {
		return err
	}
	defer conn.Close()
	e := events.Engine{Database: "bench", Cluster: cluster}
	if e.Version, err = events.DetectVersion(ctx, conn); err != nil {
		return err
	}
	return events.Migrate(ctx, conn, e)
}

// startIngest starts the ingest binary on free loopback ports, writing to
// database bench with the ClickHouse settings env, and waits until it is
// ready; it returns the process and the bearer port's address.
func startIngest(bin string, env ...string) (*exec.Cmd, string, error) {
	addr, metrics := freeAddr(), freeAddr()
	svc := exec.Command(bin)
	svc.Env = append(append(os.Environ(), env...), contract.ClickHouseDatabase+"=bench",
		contract.IngestToken+"="+token, contract.ListenAddr+"="+addr, contract.HECAddr+"="+freeAddr(),
		contract.SyslogTLSAddr+"="+freeAddr(),
		contract.MetricsAddr+"="+metrics)
	svc.Stderr = io.Discard
	if err := svc.Start(); err != nil {
		return nil, "", err
	}
	if err := waitReady("http://" + metrics + contract.ReadyPath); err != nil {
		_ = svc.Process.Kill()
		_ = svc.Wait()
		return nil, "", err
	}
	return svc, addr, nil
}

// runLoad runs the load generator (this program with -loadgen) once
// against the bearer port at addr; it returns its result and CPU seconds.
func runLoad(self, addr string, d time.Duration, clients, batch int) (loadResult, float64, error) {
	return runLoadURL(self, "http://"+addr+"/v1/events", d, clients, batch)
}

// runLoadURL is runLoad against url (the bearer path or OTLP/HTTP's).
func runLoadURL(self, url string, d time.Duration, clients, batch int) (loadResult, float64, error) {
	var r loadResult
	gen := exec.Command(self, "-loadgen", url, "-duration", d.String(),
		"-clients", strconv.Itoa(clients), "-batch", strconv.Itoa(batch))
	gen.Stderr = os.Stderr
	out, err := gen.Output()
	if err != nil {
		return r, 0, fmt.Errorf("load generator: %w", err)
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, 0, fmt.Errorf("load generator output %q: %w", out, err)
	}
	return r, (gen.ProcessState.UserTime() + gen.ProcessState.SystemTime()).Seconds(), nil
}

// directRate inserts the same events straight into ClickHouse's HTTP
// interface from clients goroutines for d and returns events/s and events.
func directRate(ch *harness.ClickHouse, batch, clients int, d time.Duration) (float64, int64, error) {
	// The rows exactly as the service stores them (decoded by the same
	// code), in JSONEachRow.
	var ndjson bytes.Buffer
	for i := 0; i < batch; i++ {
		ndjson.WriteString(event(i))
		ndjson.WriteByte('\n')
	}
	evs, err := decode.JSON(ndjson.Bytes(), decode.DefaultLimits, time.Now())
	if err != nil {
		return 0, 0, err
	}
	var body bytes.Buffer
	for i := range evs {
		evs[i].Tenant, evs[i].Feed = "default", "http"
		row := evs[i].Row()
		obj := map[string]any{}
		for j, c := range events.Columns {
			obj[c] = row[j]
		}
		obj["ts"] = evs[i].Time.UTC().Format("2006-01-02 15:04:05")
		b, _ := json.Marshal(obj)
		body.Write(b)
		body.WriteByte('\n')
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/?query=%s", ch.HTTPPort, strings.ReplaceAll("INSERT INTO bench.direct FORMAT JSONEachRow", " ", "%20"))
	var n atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body.Bytes()))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					firstErr.CompareAndSwap(nil, fmt.Errorf("direct insert: %s: %s", resp.Status, msg))
					return
				}
				n.Add(int64(batch))
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), nil
}

// emptyTable truncates table once ClickHouse has no merges running.
func emptyTable(conn driver.Conn, table string) error {
	if err := quiesce(conn); err != nil {
		return err
	}
	return conn.Exec(context.Background(), "TRUNCATE TABLE "+table)
}

// quiesce waits until ClickHouse has no merges running, so one phase's
// background work does not slow the next.
func quiesce(conn driver.Conn) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.merges").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClickHouse still merging %d parts after 2 minutes", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cpuSeconds is the user+system CPU time a process has used so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which may contain spaces: state is
	// the first, utime the 12th and stime the 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("ingest not ready at %s", url)
}

// peakRSS reads the process's high-water resident set (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// benchSignalRules measures the bearer path again with the most signal
// rules one tenant may hold (quota.DefaultMaxSignalRules, the api's
// NANO_API_MAX_SIGNAL_RULES): each is a materialized view that ClickHouse
// runs on every insert into the events table, whoever the events are
// for. Two phases: the rules of another tenant (what every tenant pays
// for one tenant's rules) and of the sending tenant (its views also
// count). bearer is the rate without rules, from the same run.
func benchSignalRules(conn driver.Conn, self, addr string, d time.Duration, rounds, clients, batch int, bearer float64) error {
	ctx := context.Background()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		return err
	}
	det := &detect.Detector{Conn: conn, Engine: events.Engine{Version: v, Database: "bench"}}
	n := quota.DefaultMaxSignalRules
	fmt.Printf("ingest end to end with %d signal rules (the default %s; each a materialized view on every insert), same load:\n", n, contract.APIMaxSignalRules)
	for phase, tenant := range []string{"attacker", contract.DefaultTenant} {
		for i := range n {
			// Rules as analysts write them: a field, a term, a range.
			q := []string{`level:error service:checkout`, `http.status>=500`, `"timeout" OR "refused"`, `user.tier:gold host:web-%d`}[i%4]
			if strings.Contains(q, "%d") {
				q = fmt.Sprintf(q, i%12)
			}
			r := detect.Rule{ID: int64(1000*(phase+1) + i), Tenant: tenant, Name: fmt.Sprint("bench ", i), Query: q, Signal: true}
			if err := det.EnsureSignal(ctx, r); err != nil {
				return fmt.Errorf("signal rule %d: %w", i, err)
			}
		}
		var evs int64
		var secs float64
		for round := 1; round <= rounds; round++ {
			if err := emptyTable(conn, "bench.events"); err != nil {
				return err
			}
			r, _, err := runLoad(self, addr, d, clients, batch)
			if err != nil {
				return err
			}
			if r.Failures > 0 {
				return fmt.Errorf("%d failed requests with %d signal rules", r.Failures, n)
			}
			evs += r.Events
			secs += r.Seconds
		}
		eps := float64(evs) / secs
		whose := "another tenant's"
		if tenant == contract.DefaultTenant {
			whose = "the sending tenant's"
		}
		fmt.Printf("  %-22s %.0f events/s (%.2f of the %.0f events/s without rules, same run)\n", whose+":", eps, eps/bearer, bearer)
		if err := dropSignals(ctx, conn); err != nil {
			return err
		}
	}
	return nil
}

// dropSignals removes the bench's signal views and tables.
func dropSignals(ctx context.Context, conn driver.Conn) error {
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = 'bench' AND startsWith(name, 'signal_') ORDER BY endsWith(name, '_mv') DESC")
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		names = append(names, name)
	}
	rows.Close()
	for _, name := range names {
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS bench."+name); err != nil {
			return err
		}
	}
	return nil
}
