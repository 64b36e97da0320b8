package main

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/nanosiem/nano/tests/harness"
)

// buildBinary builds the ingest command into dir.
func buildBinary(t *testing.T, dir string) string {
	harness.Servers(t)
	t.Helper()
	bin := filepath.Join(dir, "ingest")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The service is killed with SIGKILL while clients send; the clients retry
// what was not acknowledged against the restarted service. Afterwards every
// acknowledged event is in ClickHouse.
func TestAcknowledgedEventsSurviveSIGKILL(t *testing.T) {
	harness.Servers(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	ingestAddr, metricsAddr := harness.FreeAddr(t), harness.FreeAddr(t)
	env := append(os.Environ(),
		contract.ClickHouseAddr+"="+ch.Addr, contract.ClickHouseDatabase+"=ing_crash", contract.IngestToken+"="+ingestToken,
		contract.IngestFlushInterval+"=100ms", contract.ListenAddr+"="+ingestAddr, contract.HECAddr+"="+harness.FreeAddr(t), contract.MetricsAddr+"="+metricsAddr)
	migrateEvents(t, config{ClickHouseAddrs: []string{ch.Addr}, Engine: events.Engine{Database: "ing_crash"}})
	var logs bytes.Buffer
	var logMu sync.Mutex
	startService := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = env
		w := writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) })
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
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

	const clients, batches, perBatch = 4, 40, 250
	var mu sync.Mutex
	acked := map[string]bool{} // batch ids acknowledged with 200
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				id := fmt.Sprintf("c%d-b%d", c, b)
				var body strings.Builder
				for i := 0; i < perBatch; i++ {
					fmt.Fprintf(&body, `{"message":"%s-e%d","batch":"%s"}`+"\n", id, i, id)
				}
				// Retry until acknowledged: the service may be dead or restarting.
				for ctx.Err() == nil {
					req, _ := http.NewRequest(http.MethodPost, "http://"+ingestAddr+"/v1/events", strings.NewReader(body.String()))
					req.Header.Set("Authorization", "Bearer "+ingestToken)
					resp, err := client.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							mu.Lock()
							acked[id] = true
							mu.Unlock()
							break
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(c)
	}
	// Kill it once a fair share was acknowledged, mid-load.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= clients*batches/4 || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := svc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = svc.Wait()
	mu.Lock()
	atKill := len(acked)
	mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	svc = startService()
	wg.Wait()
	_ = svc.Process.Signal(syscall.SIGTERM)
	_ = svc.Wait()
	if ctx.Err() != nil {
		t.Fatal("clients did not finish in time")
	}

	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(context.Background(), "SELECT attr_values[indexOf(attr_keys, 'batch')] AS b, uniqExact(message) FROM ing_crash.events GROUP BY b")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]uint64{}
	for rows.Next() {
		var b string
		var n uint64
		if err := rows.Scan(&b, &n); err != nil {
			t.Fatal(err)
		}
		stored[b] = n
	}
	rows.Close()
	missing := 0
	for id := range acked {
		if stored[id] != perBatch {
			missing++
			t.Errorf("batch %s was acknowledged but has %d of %d events in ClickHouse", id, stored[id], perBatch)
		}
	}
	if len(acked) != clients*batches {
		t.Errorf("%d of %d batches acknowledged", len(acked), clients*batches)
	}
	t.Logf("killed after %d acknowledged batches; %d batches acknowledged in all, %d missing", atKill, len(acked), missing)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
