package tests

import (
	"bufio"
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

	"github.com/nanosiem/nano/tests/harness"
)

// started sends a request that must start an operation and returns its id.
func (s *nanoServe) started(method, path, body string) string {
	s.t.Helper()
	code, out := s.call(method, path, body)
	return operationID(s.t, code, out)
}

// logs is what the endpoint processes of s's data directory printed.
func (s *nanoServe) logs() string {
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(s.data), "serve-*.log"))
	var b strings.Builder
	for _, f := range files {
		out, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s\n%s", f, out)
	}
	return b.String()
}

// Two `nano serve` processes share one PostgreSQL store (and a state
// backend and passphrase, as replicas behind a load balancer do): a
// deployment created through one is served by both; of concurrent
// requests for one deployment sent to both exactly one runs; an
// operation's events stream and its cancel work through the process that
// does not run it; and when the process running an update is SIGKILLed,
// the other marks it interrupted, repairs the stack and resumes the
// update to success.
func TestProvisioningReplicasShareAPostgreSQLStore(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	pg, err := harness.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	storeURL, err := pg.CreateDatabase(ctx, "provision")
	if err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	// The deployments' uids reach their state directories in it.
	if err := harness.Traversable(shared); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(shared, "passphrase")
	if err := os.WriteFile(pass, []byte("replicas-share-this-passphrase-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--program", "probe", "--store", storeURL, "--backend", "file://" + filepath.Join(shared, "state"), "--passphrase-file", pass}

	a := newNanoServe(t)
	b := a.twin()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process A:\n%s\nprocess B:\n%s", a.logs(), b.logs())
		}
	})
	procA := a.start(args...)
	b.start(args...)
	waitOp := func(s *nanoServe, id string, done func(map[string]any) bool) map[string]any {
		return s.waitOp(id, 3*time.Minute, done)
	}

	// Created through A, served by B.
	id := a.started("POST", "/v1/deployments", `{"name":"shared","tier":"hobby","provider":"hetzner","region":"fsn1","secrets":{"probe:secret":"s3cret"}}`)
	if op := waitOp(b, id, opEnded); op["state"] != "succeeded" {
		t.Fatalf("create, read through B: %v", op)
	}
	code, body := b.call("GET", "/v1/deployments/shared", "")
	if d, _ := body["deployment"].(map[string]any); code != 200 || d["status"] != "ready" || d["outputs"].(map[string]any)["secret"] != "[secret]" {
		t.Fatalf("the deployment through B: %d %v", code, body)
	}

	// Eight updates at once, four to each process: exactly one runs.
	var mu sync.Mutex
	var accepted []string
	busy := 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func(s *nanoServe, i int) {
			defer wg.Done()
			code, body := s.call("PUT", "/v1/deployments/shared", fmt.Sprintf(`{"config":{"probe:delayMs":"3000","probe:parts":"%d"}}`, i+1))
			mu.Lock()
			defer mu.Unlock()
			switch code {
			case http.StatusAccepted:
				accepted = append(accepted, body["operation"].(map[string]any)["id"].(string))
			case http.StatusConflict:
				busy++
			default:
				t.Errorf("update %d: %d %v", i, code, body)
			}
		}(s, i)
	}
	wg.Wait()
	if len(accepted) != 1 || busy != 7 {
		t.Fatalf("of 8 concurrent updates %d were accepted (%v), %d refused as busy", len(accepted), accepted, busy)
	}
	// Its events, streamed by the process that does not run it.
	_, body = a.call("GET", "/v1/operations/"+accepted[0], "")
	owner := fmt.Sprint(body["operation"].(map[string]any)["owner"])
	runner, other := b, a
	if strings.Contains(owner, fmt.Sprintf("/%d/", procA.Process.Pid)) {
		runner, other = a, b
	}
	engine, end := other.streamEvents(accepted[0])
	if !strings.Contains(end, `"state":"succeeded"`) || engine == 0 {
		t.Fatalf("events through the other process: %d engine events, end %s", engine, end)
	}
	if op := waitOp(runner, accepted[0], opEnded); int(op["events"].(float64)) != engine {
		t.Errorf("the stream had %d engine events, the operation %v", engine, op["events"])
	}

	// Canceled through the process that does not run it.
	id = a.started("PUT", "/v1/deployments/shared", `{"config":{"probe:delayMs":"60000"}}`)
	waitOp(a, id, func(op map[string]any) bool { return op["state"] == "running" })
	if code, body := b.call("POST", "/v1/operations/"+id+"/cancel", ""); code != http.StatusAccepted {
		t.Fatalf("cancel through B: %d %v", code, body)
	}
	if op := waitOp(b, id, opEnded); op["state"] != "canceled" {
		t.Fatalf("canceled through B: %v", op)
	}

	// SIGKILL of the process running an update: the other takes over.
	id = a.started("PUT", "/v1/deployments/shared", `{"config":{"probe:delayMs":"6000","probe:parts":"4"}}`)
	waitOp(b, id, func(op map[string]any) bool { return op["state"] == "running" && op["events"].(float64) > 0 })
	if err := procA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procA.Wait()
	// B notices within its poll interval (2 s): the lock A's session held is gone.
	killed := b.waitOp(id, 30*time.Second, func(op map[string]any) bool { return op["resumedBy"] != nil })
	if killed["state"] != "failed" || !strings.Contains(fmt.Sprint(killed["error"]), "interrupted") || !strings.Contains(fmt.Sprint(killed["error"]), "resumed by operation") {
		t.Fatalf("the killed update, seen by B: %v", killed)
	}
	resumed, _ := killed["resumedBy"].(string)
	op := waitOp(b, resumed, opEnded)
	if op["state"] != "succeeded" || op["resumes"] != id || op["kind"] != "update" {
		t.Fatalf("the resumed update: %v", op)
	}
	_, body = b.call("GET", "/v1/deployments/shared", "")
	d := body["deployment"].(map[string]any)
	if d["status"] != "ready" || d["needsRepair"] == true || d["outputs"].(map[string]any)["parts"] != "4" {
		t.Errorf("the deployment after B resumed the update: %v", d)
	}
	// And B goes on serving it: the secret set through A is still there.
	id = b.started("PUT", "/v1/deployments/shared", `{"config":{"probe:delayMs":"0","probe:parts":"2"}}`)
	if op := waitOp(b, id, opEnded); op["state"] != "succeeded" {
		t.Fatalf("update through B: %v", op)
	}
	_, body = b.call("GET", "/v1/deployments/shared", "")
	if out := body["deployment"].(map[string]any)["outputs"].(map[string]any); out["parts"] != "2" || out["secret"] != "[secret]" {
		t.Errorf("outputs after B's update: %v", out)
	}
	id = b.started("DELETE", "/v1/deployments/shared", "")
	if op := waitOp(b, id, opEnded); op["state"] != "succeeded" {
		t.Fatalf("destroy through B: %v", op)
	}
}

// streamEvents reads an operation's Server-Sent Events to the end: the
// number of engine events and the end event's data.
func (s *nanoServe) streamEvents(id string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url("/v1/operations/"+id+"/events"), nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := s.client.Do(req.WithContext(ctx))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	engine, event := 0, ""
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "engine":
			engine++
		case strings.HasPrefix(line, "data: ") && event == "end":
			return engine, strings.TrimPrefix(line, "data: ")
		}
	}
	return engine, ""
}

// A second endpoint process on a data directory in use is refused at
// start (the file store serves one process), and a shared store without a
// shared backend and secrets is refused naming what is missing.
func TestProvisioningStoreMisuseIsRefused(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	s := newNanoServe(t)
	s.start("--program", "probe")
	second := exec.Command(s.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", s.data, "--program", "probe")
	second.Env = append(append(os.Environ(), "NANO_PROVISION_TOKEN="+s.token), s.env...)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another endpoint process uses the data directory") {
		t.Errorf("a second process on the data directory: %v\n%s", err, out)
	}
	lone := exec.Command(s.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--store", "postgres://127.0.0.1:1/nano")
	lone.Env = second.Env
	out, err = lone.CombinedOutput()
	for _, want := range []string{"backend:", "secrets-provider:"} {
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("a shared store alone: want %q: %v\n%s", want, err, out)
		}
	}
}
