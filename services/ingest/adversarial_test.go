package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// The standing adversarial test: hostile clients against the running
// service (loopback, bounded in count and time), and the service keeps
// serving everyone else, within bounded memory, with nothing half-written.

// feedToken creates the metadata database name and issues in it a token
// of a new feed of kind for tenant; it returns the database's URL and the
// token.
func feedToken(t *testing.T, name, tenant, kind string) (url, token string) {
	harness.Servers(t)
	t.Helper()
	ctx := context.Background()
	url, db := metafixture.New(t, pg, name)
	if err := metadb.EnsureTenant(ctx, db, tenant, tenant); err != nil {
		t.Fatal(err)
	}
	var feed int64
	if err := db.QueryRow(ctx, `INSERT INTO feeds (tenant, name, kind) VALUES ($1, $2, $3) RETURNING id`, tenant, kind+"-feed", kind).Scan(&feed); err != nil {
		t.Fatal(err)
	}
	token, err := authtoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO ingest_tokens (tenant, feed_id, hash) VALUES ($1, $2, $3)`, tenant, feed, authtoken.Hash(token)); err != nil {
		t.Fatal(err)
	}
	return url, token
}

func ndjson(tag string, n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"message":"%s %d","service":"adv"}`+"\n", tag, i)
	}
	return b.Bytes()
}

// slowClient declares a body of size bytes and sends one byte every
// interval for at most d; it returns the status the service answered
// (0: none before d plus 10 s).
func slowClient(addr, token string, size int, every, d time.Duration) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: ingest\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", token, size)
	answered := make(chan int, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(d + 10*time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		f := strings.Fields(line)
		if err != nil || len(f) < 2 {
			answered <- 0
			return
		}
		code, _ := strconv.Atoi(f[1])
		answered <- code
	}()
	stop := time.After(d)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case code := <-answered:
			return code
		case <-stop:
			return <-answered
		case <-tick.C:
			if _, err := c.Write([]byte("{")); err != nil {
				return <-answered
			}
		}
	}
}

// A dozen slow uploads on one tenant's token neither starve another
// tenant (it ingests throughout, every request answered 200 within 2 s)
// nor hold their room: each is refused at once (its tenant's share is
// taken) or cut with 408 within seconds. Once they are gone, their own
// tenant ingests again.
func TestSlowUploadsDoNotStarveOthers(t *testing.T) {
	harness.Servers(t)
	meta, other := feedToken(t, "ingest_adv_slow_meta", "other", "http")
	s := startWith(t, "ingest_adv_slow", map[string]string{
		contract.PostgresURL: meta, contract.IngestInflightBytes: strconv.Itoa(4 << 20), contract.IngestFlushInterval: "100ms",
		contract.IngestMaxBodyBytes: strconv.Itoa(1 << 20), contract.IngestMaxDecodedBytes: strconv.Itoa(1 << 20),
	})
	waitToken(t, s, other)
	addr := strings.TrimPrefix(s.ingest, "http://")
	const slow = 12
	var wg sync.WaitGroup
	codes := make([]int, slow)
	ended := make([]time.Duration, slow)
	started := time.Now()
	for i := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = slowClient(addr, ingestToken, 1<<20, 200*time.Millisecond, 10*time.Second)
			ended[i] = time.Since(started)
		}()
	}
	time.Sleep(300 * time.Millisecond) // the slow ones hold their room
	var worst time.Duration
	for i := range 20 {
		t0 := time.Now()
		code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + other}, ndjson(fmt.Sprintf("other-%d", i), 50))
		if code != http.StatusOK {
			t.Fatalf("another tenant's request %d while slow uploads run: %d %v", i, code, out)
		}
		worst = max(worst, time.Since(t0))
		time.Sleep(100 * time.Millisecond)
	}
	if worst > 2*time.Second {
		t.Errorf("another tenant's slowest request took %v", worst)
	}
	wg.Wait()
	cut := slices.Max(ended)
	for i, c := range codes {
		if c != http.StatusRequestTimeout && c != http.StatusServiceUnavailable {
			t.Errorf("slow upload %d: status %d, want 408 (cut) or 503 (refused)", i, c)
		}
	}
	if cut > 8*time.Second {
		t.Errorf("the slow uploads were ended after %v", cut)
	}
	if code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + ingestToken}, ndjson("same", 10)); code != http.StatusOK {
		t.Errorf("the slow uploads' tenant after they ended: %d %v", code, out)
	}
	if n := s.count(t, "service = 'adv'"); n != 20*50+10 {
		t.Errorf("stored %d events, want %d: nothing of the slow uploads, everything acknowledged", n, 20*50+10)
	}
	t.Logf("slow uploads: %v; another tenant's slowest of 20 requests %v; slow ones ended after %v", codes, worst, cut)
}

// Sixteen concurrent gzip bombs (2 MiB compressed each, far over the
// decompressed limit) are refused, while peak memory stays well under
// the 1 GiB container the components give ingest: decompressed bytes are
// counted in the budget as they are read.
func TestGzipBombsStayWithinMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(966367641)) // GOMEMLIMIT of a 1 GiB container
	s := start(t, "ingest_adv_bomb")
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for z.Len() < 2<<20 {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	bomb := z.Bytes()
	// Its twin ends with a small second member, so its trailer
	// understates it: the service must bound it while it inflates.
	w, _ = gzip.NewWriterLevel(&z, gzip.BestCompression)
	w.Write([]byte("{}\n"))
	w.Close()
	twin := z.Bytes()
	// The peak is measured from the live heap: garbage of the package's
	// earlier tests, which the runtime has not yet returned to the system,
	// is not the bombs' doing (it made this flaky on a loaded machine).
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("cannot reset the peak RSS: %v", err)
	}
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bomb
			if i%2 == 1 {
				b = twin
			}
			codes[i], _, _ = post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + ingestToken, "Content-Encoding": "gzip"}, b)
		}()
	}
	wg.Wait()
	peak := peakRSS(t)
	for i, c := range codes {
		if c != http.StatusRequestEntityTooLarge && c != http.StatusServiceUnavailable {
			t.Errorf("bomb %d: %d, want 413 or 503", i, c)
		}
	}
	t.Logf("16 gzip bombs of %d bytes: statuses %v, peak RSS of the test process (service, its ClickHouse client and the 16 clients) %d MiB", len(bomb), codes, peak>>20)
	// Before bombs were refused by their trailer and inflated without
	// regrowing, this peaked at 290 to 530 MiB.
	if peak > 256<<20 {
		t.Errorf("peak RSS %d MiB under 16 concurrent gzip bombs, want under 256 MiB", peak>>20)
	}
	if code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + ingestToken}, ndjson("after-bombs", 5)); code != http.StatusOK {
		t.Errorf("a request after the bombs: %d %v", code, out)
	}
}

// A feed's kind binds its tokens: an http feed's token is refused on HEC
// and a hec feed's on the bearer port, each naming the port to use.
func TestKindsBindTokensToPorts(t *testing.T) {
	harness.Servers(t)
	meta, hec := feedToken(t, "ingest_adv_kinds_meta", "acme", "hec")
	s := startWith(t, "ingest_adv_kinds", map[string]string{contract.PostgresURL: meta})
	waitToken(t, s, hec)
	if code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + hec}, ndjson("kinds", 1)); code != http.StatusForbidden || !strings.Contains(fmt.Sprint(out), "HEC") {
		t.Errorf("a hec feed's token on the bearer port: %d %v", code, out)
	}
	if code, _, out := post(t, s.hec+"/services/collector/event", map[string]string{"Authorization": "Splunk " + hec}, []byte(`{"event":"kinds"}`)); code != http.StatusOK {
		t.Errorf("a hec feed's token on HEC: %d %v", code, out)
	}
	if code, _, out := post(t, s.hec+"/services/collector/event", map[string]string{"Authorization": "Splunk " + ingestToken}, []byte(`{"event":"kinds"}`)); code != http.StatusForbidden || !strings.Contains(fmt.Sprint(out), "bearer port") {
		t.Errorf("the bootstrap bearer token on HEC: %d %v", code, out)
	}
}

// waitToken waits until the service knows token (loaded from the
// database): the bearer port no longer answers 401 for it.
func waitToken(t *testing.T, s *service, token string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _, _ := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + token}, ndjson("probe", 0))
		if code != http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the service never loaded the feed's token")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// peakRSS is the process's peak resident set since the last reset.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// A client that sends a whole request and leaves before the answer: its
// events are committed, and the service counts no 503 and logs no "not
// committed" for them (it waits for the commit's real outcome).
func TestClientLeavingAfterSendingIsNotAFailure(t *testing.T) {
	s := start(t, "ingest_adv_leave")
	body := ndjson("left", 25)
	for range 4 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.ingest, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: ingest\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", ingestToken, len(body), body)
		time.Sleep(50 * time.Millisecond) // the body is in; the commit is pending
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.count(t, "message LIKE 'left %'") < 100 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := s.count(t, "message LIKE 'left %'"); n != 100 {
		t.Fatalf("stored %d of the 100 events of clients that left", n)
	}
	time.Sleep(200 * time.Millisecond) // the handlers have answered
	resp, err := http.Get(s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "nano_ingest_requests_total") && strings.Contains(l, `code="503"`) {
			t.Errorf("a committed request of a client that left counted as 503: %s", l)
		}
	}
	if !strings.Contains(string(metrics), `nano_ingest_requests_total{code="200",protocol="http"} 4`) {
		t.Errorf("the four requests are not counted as 200:\n%s", grepLines(string(metrics), "nano_ingest_requests_total"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
