package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

var (
	pg *harness.Postgres
	ch *harness.ClickHouse
)

func TestMain(m *testing.M) { harness.MainWithBoth(m, &pg, &ch) }

func TestConfigNamesEveryBadVariable(t *testing.T) {
	env := map[string]string{contract.APILeaderHeartbeat: "1h", contract.APICredentialsKey: "short", contract.APIMaxBodyBytes: "-1"}
	_, err := loadConfig(func(k string) string { return env[k] })
	for _, name := range []string{contract.APILeaderHeartbeat, contract.APICredentialsKey, contract.APIMaxBodyBytes, contract.PostgresURL, contract.ClickHouseAddr} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("%s not named in %v", name, err)
		}
	}
}

// replicaProcess is one api process the test started.
type replicaProcess struct {
	id   string
	cmd  *exec.Cmd
	base string
}

func startReplica(t *testing.T, bin, id, pgURL string, extraEnv ...string) *replicaProcess {
	harness.Servers(t)
	t.Helper()
	addr := harness.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), contract.PostgresURL+"="+pgURL, contract.ClickHouseAddr+"="+ch.Addr, contract.ClickHouseDatabase+"=default",
		contract.ListenAddr+"="+addr, contract.APIReplicaID+"="+id, contract.APILeaderRetry+"=250ms", contract.APILeaderHeartbeat+"=250ms")
	cmd.Env = append(cmd.Env, extraEnv...)
	logf, _ := os.Create(filepath.Join(t.TempDir(), id+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &replicaProcess{id: id, cmd: cmd, base: "http://" + addr}
}

// Three replicas; the leader is killed with SIGKILL. Another takes over and
// runs tasks; no two leaders' task runs overlap; the survivors answer HTTP
// throughout.
func TestFailoverAfterSIGKILL(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	pgURL, err := pg.CreateDatabase(ctx, "api_failover")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	replicas := map[string]*replicaProcess{}
	for _, id := range []string{"r1", "r2", "r3"} {
		replicas[id] = startReplica(t, bin, id, pgURL)
	}
	db, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	leaderNow := func() (string, int64) {
		var holder string
		var epoch int64
		_ = db.QueryRow(ctx, `SELECT holder, epoch FROM task_runs WHERE task = 'heartbeat' ORDER BY id DESC LIMIT 1`).Scan(&holder, &epoch)
		return holder, epoch
	}
	deadline := time.Now().Add(60 * time.Second)
	var first string
	var epoch int64
	for first == "" {
		if time.Now().After(deadline) {
			t.Fatal("no replica ran the scheduler within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
		first, epoch = leaderNow()
	}
	// The API answers directly and under its public prefix (apiUrl +
	// /v1/..., as an Ingress that does not strip it forwards it): without
	// a token 401, not 404.
	for _, prefix := range []string{"", contract.APIPrefix} {
		resp, err := http.Get(replicas[first].base + prefix + "/v1/alerts")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s/v1/alerts without a token: %d, want 401", prefix, resp.StatusCode)
		}
	}
	// Survivors keep serving while the leader dies.
	stopPolling := make(chan struct{})
	failures := make(chan string, 1000)
	for id, r := range replicas {
		if id == first {
			continue
		}
		go func() {
			for {
				select {
				case <-stopPolling:
					return
				case <-time.After(20 * time.Millisecond):
				}
				resp, err := http.Get(r.base + contract.HealthPath)
				if err != nil || resp.StatusCode != 200 {
					failures <- fmt.Sprintf("%s: %v", r.id, err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	if err := replicas[first].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var next string
	var took time.Duration
	for {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no other replica ran tasks within 30 s of killing %s", first)
		}
		var started time.Time
		err := db.QueryRow(ctx, `SELECT holder, started_at FROM task_runs WHERE holder <> $1 AND started_at > $2 ORDER BY id LIMIT 1`, first, killed).Scan(&next, &started)
		if err == nil {
			took = started.Sub(killed)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(stopPolling)
	t.Logf("killed leader %s (epoch %d); %s ran tasks %v later", first, epoch, next, took.Round(time.Millisecond))
	select {
	case f := <-failures:
		t.Errorf("a surviving replica stopped answering during the failover: %s", f)
	default:
	}
	// No run of an older epoch started after a newer epoch's first run.
	rows, err := db.Query(ctx, `SELECT epoch, holder, started_at, finished_at FROM task_runs ORDER BY started_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var maxEpoch int64
	var maxEnd time.Time
	for rows.Next() {
		var e int64
		var holder string
		var start, end time.Time
		rows.Scan(&e, &holder, &start, &end)
		if e < maxEpoch {
			t.Errorf("a run of epoch %d (%s) started at %v, after epoch %d had begun", e, holder, start, maxEpoch)
		}
		if e > maxEpoch {
			if start.Before(maxEnd) {
				t.Errorf("epoch %d began at %v while a run of epoch %d ran until %v", e, start, maxEpoch, maxEnd)
			}
			maxEpoch = e
		}
		if end.After(maxEnd) {
			maxEnd = end
		}
	}
	if maxEpoch <= epoch {
		t.Errorf("no newer epoch than %d ran", epoch)
	}
}

// NANO_API_ADMIN_TOKEN is stored once: it works after the first start;
// revoked, a restart does not bring it back. A malformed one is refused
// naming the variable.
func TestFirstAdminToken(t *testing.T) {
	harness.Servers(t)
	ctx := context.Background()
	pgURL, err := pg.CreateDatabase(ctx, "api_first_admin")
	if err != nil {
		t.Fatal(err)
	}
	const token = "nano_Zmlyc3QtYWRtaW4tdG9rZW4tb2YtdGhlLXRlc3QtMzI"
	env := map[string]string{contract.PostgresURL: pgURL, contract.ClickHouseAddr: ch.Addr, contract.ClickHouseDatabase: "default",
		contract.APIAdminToken: token, contract.ListenAddr: "127.0.0.1:0"}
	if _, err := loadConfig(func(k string) string { return map[string]string{contract.APIAdminToken: "admin"}[k] }); err == nil || !strings.Contains(err.Error(), contract.APIAdminToken+":") {
		t.Errorf("a malformed admin token: %v", err)
	}
	serve := func() (string, func()) {
		cfg, err := loadConfig(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(rctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), l) }()
		return "http://" + l.Addr().String(), func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	do := func(base, method, path string) (int, []byte) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
	base, stop := serve()
	code, body := do(base, "GET", "/v1/tokens")
	var list struct {
		Items []struct {
			ID     int64    `json:"id"`
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Items) != 1 || list.Items[0].Name != "first-admin" {
		t.Fatalf("the first admin token: %d %s", code, body)
	}
	// It is the operator's: admin of the default tenant and the platform.
	if s := list.Items[0].Scopes; !slices.Equal(s, []string{authtoken.ScopeAdmin, authtoken.ScopePlatform}) {
		t.Errorf("the first admin token's scopes: %v", s)
	}
	if code, body := do(base, "DELETE", fmt.Sprintf("/v1/tokens/%d", list.Items[0].ID)); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	stop()
	base, stop = serve()
	defer stop()
	if code, _ := do(base, "GET", "/v1/tokens"); code != 401 {
		t.Errorf("the revoked first admin token after a restart: %d, want 401", code)
	}
}
