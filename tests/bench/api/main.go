// Command api benchmarks nano's api service: it starts PostgreSQL and
// ClickHouse (the test harness's) and three api processes with their
// default election settings, drives CRUD requests (create, read, list,
// update, delete of detection rules and dashboards) at a fixed rate from
// an open-loop generator and reports p50/p99 latency; then it kills the
// scheduler's leader with SIGKILL several times and reports how long until
// another replica ran tasks.
//
//	go run ./tests/bench/api [-rate 200] [-duration 20s] [-kills 5]
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
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
)

func main() {
	rate := flag.Int("rate", 200, "requests per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	kills := flag.Int("kills", 5, "leader kills to time")
	flag.Parse()
	if err := bench(*rate, *duration, *kills); err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

type replica struct {
	id, base string
	cmd      *exec.Cmd
}

func start(bin, id, pgURL, chAddr string) (*replica, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), contract.PostgresURL+"="+pgURL, contract.ClickHouseAddr+"="+chAddr, contract.ClickHouseDatabase+"=default",
		contract.ListenAddr+"="+addr, contract.APIReplicaID+"="+id)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &replica{id: id, base: "http://" + addr, cmd: cmd}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(r.base + contract.ReadyPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r, nil
			}
		}
	}
	return nil, fmt.Errorf("replica %s did not get ready", id)
}

func bench(rate int, duration time.Duration, kills int) error {
	ctx := context.Background()
	pg, err := harness.StartPostgres()
	if err != nil {
		return err
	}
	defer pg.Stop()
	ch, err := harness.StartClickHouse()
	if err != nil {
		return err
	}
	defer ch.Stop()
	pgURL, err := pg.CreateDatabase(ctx, "bench_api")
	if err != nil {
		return err
	}
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return err
	}
	defer db.Close()
	token, err := adminToken(ctx, db)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-api")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "api")
	if out, err := exec.Command("go", "build", "-o", bin, "./services/api").CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build the api: %v\n%s", err, out)
	}
	c := &cluster{bin: bin, pgURL: pgURL, chAddr: ch.Addr, replicas: map[string]*replica{}}
	defer c.stop()
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := c.start(id); err != nil {
			return err
		}
	}
	if err := crud(c, token, rate, duration); err != nil {
		return err
	}
	return failover(ctx, c, db, kills)
}

// adminToken migrates the metadata schema and issues an admin token of
// tenant acme.
func adminToken(ctx context.Context, db *pgxpool.Pool) (string, error) {
	if err := metadb.Migrate(ctx, db); err != nil {
		return "", err
	}
	if err := metadb.EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		return "", err
	}
	token, _, err := authtoken.Issue(ctx, db, "acme", nil, "bench", []string{authtoken.ScopeAdmin}, nil)
	return token, err
}

// cluster is the bench's api replicas, by id.
type cluster struct {
	bin, pgURL, chAddr string
	replicas           map[string]*replica
}

// start starts (or restarts) replica id.
func (c *cluster) start(id string) error {
	r, err := start(c.bin, id, c.pgURL, c.chAddr)
	if err != nil {
		return err
	}
	c.replicas[id] = r
	return nil
}

func (c *cluster) stop() {
	for _, r := range c.replicas {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// crud sends CRUD requests at a fixed rate, spread over the replicas (as a
// load balancer would), and prints their latencies.
func crud(c *cluster, token string, rate int, duration time.Duration) error {
	bases := []string{c.replicas["r1"].base, c.replicas["r2"].base, c.replicas["r3"].base}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	do := func(method, url string, body any) (int, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	var mu sync.Mutex
	var lat []float64
	failures := 0
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	startAt := time.Now()
	for i := 0; time.Since(startAt) < duration; i++ {
		time.Sleep(time.Until(startAt.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t := time.Now()
			code, err := crudRequest(do, bases[i%3], i)
			ms := float64(time.Since(t).Microseconds()) / 1000
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code >= 500 || code == 0 {
				failures++
				return
			}
			lat = append(lat, ms)
		}(i)
	}
	wg.Wait()
	if len(lat) == 0 {
		return fmt.Errorf("all %d CRUD requests failed", failures)
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("CRUD at %d requests/s for %s over 3 replicas: %d requests, %d failed; p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 <= 50 ms: %s)\n",
		rate, duration, len(lat)+failures, failures, pct(0.5), pct(0.99), lat[len(lat)-1], verdict(pct(0.99) <= 50))
	return nil
}

// crudRequest is request i of the mix: create and list rules, create,
// list and update dashboards.
func crudRequest(do func(method, url string, body any) (int, error), base string, i int) (int, error) {
	switch i % 5 {
	case 0:
		return do("POST", base+"/v1/rules", map[string]any{"name": fmt.Sprint("rule-", i), "query": "level:error service:api",
			"schedule": "0 3 * * *", "window_seconds": 600, "threshold_op": ">", "threshold": 10})
	case 1:
		return do("GET", base+"/v1/rules?limit=50", nil)
	case 2:
		return do("POST", base+"/v1/dashboards", map[string]any{"name": fmt.Sprint("dash-", i), "definition": map[string]any{"panels": []any{}}})
	case 3:
		return do("GET", base+"/v1/alerts?limit=50", nil)
	default:
		return do("PUT", base+"/v1/dashboards/1", map[string]any{"name": "dash-2", "definition": map[string]any{"panels": []any{i}}})
	}
}

// failover kills the scheduler's leader kills times with SIGKILL and
// prints how long until another replica ran a task.
func failover(ctx context.Context, c *cluster, db *pgxpool.Pool, kills int) error {
	var times []float64
	for range kills {
		holder, err := leaderOf(ctx, c, db)
		if err != nil {
			return err
		}
		victim := c.replicas[holder]
		killed := time.Now()
		victim.cmd.Process.Signal(syscall.SIGKILL)
		victim.cmd.Wait()
		var took time.Duration
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var started time.Time
			if err := db.QueryRow(ctx, `SELECT started_at FROM task_runs WHERE holder <> $1 AND started_at > $2 ORDER BY id LIMIT 1`, holder, killed).Scan(&started); err == nil {
				took = started.Sub(killed)
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no failover within 30 s")
			}
		}
		times = append(times, float64(took.Milliseconds()))
		if err := c.start(holder); err != nil {
			return err
		}
	}
	if len(times) == 0 {
		return nil
	}
	sort.Float64s(times)
	fmt.Printf("failover after SIGKILL of the leader (%d kills, retry 500ms, heartbeat 500ms, grace 1s): min %.0f ms, median %.0f ms, max %.0f ms (target <= 5 s: %s)\n",
		kills, times[0], times[len(times)/2], times[len(times)-1], verdict(times[len(times)-1] <= 5000))
	return nil
}

// leaderOf is the replica that ran the heartbeat task in the last 2 s.
func leaderOf(ctx context.Context, c *cluster, db *pgxpool.Pool) (string, error) {
	var holder string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := db.QueryRow(ctx, `SELECT holder FROM task_runs WHERE task = 'heartbeat' AND started_at > now() - interval '2 seconds' ORDER BY id DESC LIMIT 1`).Scan(&holder)
		if err == nil && c.replicas[holder] != nil {
			return holder, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no leader runs tasks")
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
