package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nanoServe is the provisioning endpoint as users run it: the nano binary
// built from this checkout, `nano serve` on a loopback port with its data
// directory, talked to over HTTP with its token.
type nanoServe struct {
	t                      *testing.T
	bin, addr, token, data string
	// env is added to the process's environment.
	env []string
}

func newNanoServe(t *testing.T, env ...string) *nanoServe {
	t.Helper()
	root := os.Getenv("NANO_PULUMI_ROOT")
	if root == "" {
		t.Fatal("NANO_PULUMI_ROOT is not set: run the tests with tests/run")
	}
	tmp := t.TempDir()
	s := &nanoServe{t: t, bin: filepath.Join(tmp, "nano"), data: filepath.Join(tmp, "data"),
		token: "nano-serve-test-token-0123456789", env: append([]string{"NANO_PULUMI_ROOT=" + root}, env...)}
	if out, err := exec.Command("go", "build", "-o", s.bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	return s
}

// twin is another endpoint process of the same build and token, with its
// own address and data directory (replicas sharing a store).
func (s *nanoServe) twin() *nanoServe {
	s.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	defer l.Close()
	c := *s
	c.addr, c.data = l.Addr().String(), filepath.Join(s.t.TempDir(), "data")
	return &c
}

// start runs `nano serve` with extra arguments and waits until it answers;
// a failing test does not leave it running.
func (s *nanoServe) start(args ...string) *exec.Cmd {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"serve", "--listen", s.addr, "--data-dir", s.data}, args...)...)
	cmd.Env = append(append(os.Environ(), "NANO_PROVISION_TOKEN="+s.token), s.env...)
	logFile, _ := os.Create(filepath.Join(filepath.Dir(s.data), fmt.Sprintf("serve-%d.log", time.Now().UnixNano())))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatal("nano serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call sends a request with the token and decodes the JSON answer.
func (s *nanoServe) call(method, path, body string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// operationID is the id of the operation an accepted request started.
func operationID(t *testing.T, code int, body map[string]any) string {
	t.Helper()
	op, _ := body["operation"].(map[string]any)
	if code != http.StatusAccepted || op == nil {
		t.Fatalf("the request was not accepted: %d %v", code, body)
	}
	return op["id"].(string)
}

// waitOp polls an operation until done says so, for at most within.
func (s *nanoServe) waitOp(id string, within time.Duration, done func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, body := s.call("GET", "/v1/operations/"+id, "")
		op, _ := body["operation"].(map[string]any)
		if op != nil && done(op) {
			return op
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("operation %s: %v", id, op)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func opEnded(op map[string]any) bool {
	st := op["state"]
	return st == "succeeded" || st == "failed" || st == "canceled"
}
