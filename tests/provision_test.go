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
	"syscall"
	"testing"
	"time"
)

// The provisioning endpoint as users run it (`nano serve`, here with the
// provider-less probe program): SIGKILLed in the middle of an update and
// restarted, it reports the update as failed and the next update on the
// deployment succeeds (the stale lock and pending operations are cleared).
func TestProvisioningSurvivesSIGKILL(t *testing.T) {
	root := os.Getenv("NANO_PULUMI_ROOT")
	if root == "" {
		t.Fatal("NANO_PULUMI_ROOT is not set: run the tests with tests/run")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "nano")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const token = "provision-sigkill-test-token-0123"
	data := filepath.Join(tmp, "data")
	startService := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--program", "probe", "--listen", addr, "--data-dir", data)
		cmd.Env = append(os.Environ(), "NANO_PROVISION_TOKEN="+token, "NANO_PULUMI_ROOT="+root)
		logFile, _ := os.Create(filepath.Join(tmp, fmt.Sprintf("serve-%d.log", time.Now().UnixNano())))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A failing test must not leave the service running.
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		deadline := time.Now().Add(20 * time.Second)
		for {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatal("nano serve did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	waitOp := func(id string, done func(map[string]any) bool) map[string]any {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			_, body := call("GET", "/v1/operations/"+id, "")
			op, _ := body["operation"].(map[string]any)
			if op != nil && done(op) {
				return op
			}
			if time.Now().After(deadline) {
				t.Fatalf("operation %s: %v", id, op)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ended := func(op map[string]any) bool {
		s := op["state"]
		return s == "succeeded" || s == "failed" || s == "canceled"
	}

	svc := startService()
	code, body := call("POST", "/v1/deployments", `{"name":"crashy","tier":"hobby","provider":"hetzner","region":"fsn1"}`)
	if code != 202 {
		t.Fatalf("create: %d %v", code, body)
	}
	if op := waitOp(body["operation"].(map[string]any)["id"].(string), ended); op["state"] != "succeeded" {
		t.Fatalf("create: %v", op)
	}
	code, body = call("PUT", "/v1/deployments/crashy", `{"config":{"probe:delayMs":"60000","probe:parts":"5"}}`)
	if code != 202 {
		t.Fatalf("update: %d %v", code, body)
	}
	updateID := body["operation"].(map[string]any)["id"].(string)
	waitOp(updateID, func(op map[string]any) bool { return op["state"] == "running" && op["events"].(float64) > 0 })
	if err := svc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = svc.Wait()
	time.Sleep(2 * time.Second) // the orphaned CLI notices its program is gone
	svc = startService()
	defer func() { _ = svc.Process.Signal(syscall.SIGTERM); _ = svc.Wait() }()

	op := waitOp(updateID, ended)
	if op["state"] != "failed" || !strings.Contains(fmt.Sprint(op["error"]), "interrupted") {
		t.Errorf("the killed update is %v", op)
	}
	code, body = call("PUT", "/v1/deployments/crashy", `{"config":{"probe:delayMs":"0","probe:parts":"2"}}`)
	if code != 202 {
		t.Fatalf("update after restart: %d %v", code, body)
	}
	if op := waitOp(body["operation"].(map[string]any)["id"].(string), ended); op["state"] != "succeeded" {
		t.Fatalf("update after restart: %v", op)
	}
	_, body = call("GET", "/v1/deployments/crashy", "")
	d := body["deployment"].(map[string]any)
	if d["status"] != "ready" || d["needsRepair"] == true || d["outputs"].(map[string]any)["parts"] != "2" {
		t.Errorf("deployment after repair: %v", d)
	}
}
