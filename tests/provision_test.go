package tests

import (
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The provisioning endpoint as users run it (`nano serve`, here with the
// provider-less probe program): SIGKILLed in the middle of an update and
// restarted, it reports the update as interrupted, repairs the stack (the
// stale lock and pending operations are cleared) and resumes the update to
// success; the next update succeeds too.
func TestProvisioningSurvivesSIGKILL(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	s := newNanoServe(t)
	startService := func() *exec.Cmd { return s.start("--program", "probe") }
	call := s.call
	waitOp := func(id string, done func(map[string]any) bool) map[string]any {
		return s.waitOp(id, 3*time.Minute, done)
	}
	ended := opEnded

	svc := startService()
	code, body := call("POST", "/v1/deployments", `{"name":"crashy","tier":"hobby","provider":"hetzner","region":"fsn1"}`)
	if code != 202 {
		t.Fatalf("create: %d %v", code, body)
	}
	if op := waitOp(body["operation"].(map[string]any)["id"].(string), ended); op["state"] != "succeeded" {
		t.Fatalf("create: %v", op)
	}
	code, body = call("PUT", "/v1/deployments/crashy", `{"config":{"probe:delayMs":"8000","probe:parts":"5"}}`)
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

	op := waitOp(updateID, func(op map[string]any) bool { return ended(op) && op["resumedBy"] != nil })
	if op["state"] != "failed" || !strings.Contains(fmt.Sprint(op["error"]), "interrupted") {
		t.Errorf("the killed update is %v", op)
	}
	resumed, _ := op["resumedBy"].(string)
	if op := waitOp(resumed, ended); op["state"] != "succeeded" || op["resumes"] != updateID {
		t.Fatalf("the resumed update: %v", op)
	}
	_, body = call("GET", "/v1/deployments/crashy", "")
	if d := body["deployment"].(map[string]any); d["status"] != "ready" || d["outputs"].(map[string]any)["parts"] != "5" {
		t.Errorf("deployment after the resumed update: %v", d)
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
