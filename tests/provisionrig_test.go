package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/harness"
)

// The provisioning endpoint creates, updates and destroys a deployment on
// the Kubernetes rig with the real program and the real Kubernetes
// provider, as a user of the existing-cluster target would through it.
func TestProvisioningOnTheRig(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	k := startRig(t)
	spec, _ := tier.Lookup(tier.Team)
	ctx := t.Context()
	if err := k.AddNodes(ctx, rigPools(spec, tier.VolumeBand{})...); err != nil {
		t.Fatal(err)
	}
	s := newNanoServe(t, "PATH="+rigPath(t))
	svc := s.start()
	defer func() { _ = svc.Process.Kill(); _ = svc.Wait() }()

	config, secrets := map[string]string{}, map[string]string{}
	for key, v := range rigConfig(k, spec) {
		if v.Secret {
			secrets[strings.TrimPrefix(key, "nano:")] = v.Value
		} else {
			config[strings.TrimPrefix(key, "nano:")] = v.Value
		}
	}
	body, _ := json.Marshal(map[string]any{"name": "rig-team", "tier": "team", "provider": "kubernetes", "config": config, "secrets": secrets})
	code, reply := s.call("POST", "/v1/deployments", string(body))
	if op := s.waitOp(operationID(t, code, reply), 8*time.Minute, opEnded); op["state"] != "succeeded" {
		t.Fatalf("create on the rig: %v\n%s", op, pendingReasons(ctx, k))
	}
	if img := deploymentImage(t, k, "api"); img != "ghcr.io/nanosiem/api:0.1.0" {
		t.Errorf("after create, api runs %q", img)
	}
	_, reply = s.call("GET", "/v1/deployments/rig-team", "")
	if d, _ := reply["deployment"].(map[string]any); d["status"] != "ready" {
		t.Errorf("after create the deployment is %v", d)
	} else if out, _ := d["outputs"].(map[string]any); out["apiUrl"] != "https://logs.rig.test/api" {
		t.Errorf("the deployment's outputs are %v", out)
	}
	if raw, _ := json.Marshal(reply); strings.Contains(string(raw), "client-key-data") {
		t.Error("the endpoint returns the kubeconfig in clear")
	}

	code, reply = s.call("PUT", "/v1/deployments/rig-team", `{"config":{"apiImage":"ghcr.io/nanosiem/api:0.1.1-rig"}}`)
	if op := s.waitOp(operationID(t, code, reply), 8*time.Minute, opEnded); op["state"] != "succeeded" {
		t.Fatalf("update on the rig: %v\n%s", op, pendingReasons(ctx, k))
	}
	if img := deploymentImage(t, k, "api"); img != "ghcr.io/nanosiem/api:0.1.1-rig" {
		t.Errorf("after the update, api runs %q", img)
	}
	checkPlacement(t, ctx, k, spec, rigPools(spec, tier.VolumeBand{}), "")

	code, reply = s.call("DELETE", "/v1/deployments/rig-team", "")
	if op := s.waitOp(operationID(t, code, reply), 8*time.Minute, opEnded); op["state"] != "succeeded" {
		t.Fatalf("destroy on the rig: %v", op)
	}
	if left := leftovers(ctx, k); len(left) > 0 {
		t.Errorf("destroy through the endpoint left %v", left)
	}
}

// deploymentImage is the first container image of a Deployment of nano's.
func deploymentImage(t *testing.T, k *harness.Kube, name string) string {
	harness.Servers(t)
	t.Helper()
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Image string } `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := k.Get(t.Context(), "/apis/apps/v1/namespaces/"+kubeobjects.Namespace+"/deployments/"+name, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// A BYOK kubeconfig whose user is an exec credential plugin is refused
// through the real endpoint, naming the field and the construct, and its
// command never runs. Negative control, in the same test: the endpoint
// built without the check (-ldflags -X ...kubeconfigCheck=off) accepts it,
// and the real Kubernetes provider, configuring itself against the rig's
// API server, runs the command on the endpoint's host: as the
// deployment's own uid, which cannot read the endpoint's passphrase.
func TestProvisioningRefusesExecKubeconfigOnTheRig(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	k := startRig(t)
	spec, _ := tier.Lookup(tier.Growth)
	marks := t.TempDir()
	if err := harness.Traversable(marks); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(marks, 0o1777); err != nil {
		t.Fatal(err)
	}
	request := func(s *nanoServe) string {
		var kc map[string]any
		if err := yaml.Unmarshal([]byte(k.Kubeconfig), &kc); err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf(`id -u > %[1]s/ran-as; cat %[2]s/passphrase > %[1]s/passphrase 2> %[1]s/passphrase.err; `+
			`printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-plugin-token"}}'`, marks, s.data)
		kc["users"] = []any{map[string]any{"name": "admin", "user": map[string]any{"exec": map[string]any{
			"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "args": []string{"-c", script}, "interactiveMode": "Never"}}}}
		b, err := yaml.Marshal(kc)
		if err != nil {
			t.Fatal(err)
		}
		config, secrets := map[string]string{}, map[string]string{}
		for key, v := range rigConfig(k, spec) {
			if v.Secret {
				secrets[strings.TrimPrefix(key, "nano:")] = v.Value
			} else {
				config[strings.TrimPrefix(key, "nano:")] = v.Value
			}
		}
		secrets["kubeconfig"] = string(b)
		body, _ := json.Marshal(map[string]any{"name": "byok-exec", "tier": "growth", "provider": "kubernetes", "config": config, "secrets": secrets})
		return string(body)
	}

	s := newNanoServe(t, "PATH="+rigPath(t))
	svc := s.start()
	code, reply := s.call("POST", "/v1/deployments", request(s))
	want := `secrets.kubeconfig: users[0] ("admin").user.exec: an exec credential plugin (command "/bin/sh") is run as a command`
	if code != http.StatusBadRequest || !strings.Contains(problemText(reply), want) {
		t.Errorf("the exec kubeconfig: %d %v, want 400 with %q", code, reply, want)
	}
	_ = svc.Process.Kill()
	_ = svc.Wait()
	if _, err := os.Stat(filepath.Join(marks, "ran-as")); err == nil {
		t.Fatal("the exec plugin ran although the kubeconfig was refused")
	}

	// The negative control: the same request to an endpoint without the check.
	unchecked := s.twin()
	unchecked.bin = nanoServeBuild(t, t.TempDir(), "-X github.com/nanosiem/nano/services/provision.kubeconfigCheck=off")
	svc = unchecked.start()
	defer func() { _ = svc.Process.Kill(); _ = svc.Wait() }()
	code, reply = unchecked.call("POST", "/v1/deployments", request(unchecked))
	op := unchecked.waitOp(operationID(t, code, reply), 5*time.Minute, opEnded)
	ranAs, err := os.ReadFile(filepath.Join(marks, "ran-as"))
	if err != nil {
		t.Fatalf("without the check the exec plugin did not run (the test would not see the attack): %v; operation %v", err, op)
	}
	_, reply = unchecked.call("GET", "/v1/deployments/byok-exec", "")
	uid, _ := reply["deployment"].(map[string]any)["uid"].(float64)
	stolen, _ := os.ReadFile(filepath.Join(marks, "passphrase"))
	denied, _ := os.ReadFile(filepath.Join(marks, "passphrase.err"))
	t.Logf("without the check the kubeconfig's command ran on the endpoint's host as uid %s (the deployment's: %.0f); reading the passphrase: %q",
		strings.TrimSpace(string(ranAs)), uid, strings.TrimSpace(string(denied)))
	if strings.TrimSpace(string(ranAs)) != strconv.FormatFloat(uid, 'f', -1, 64) || uid == 0 {
		t.Errorf("the command ran as uid %s, the deployment's is %.0f", ranAs, uid)
	}
	if len(stolen) > 0 || !strings.Contains(string(denied), "Permission denied") {
		t.Errorf("the command read the endpoint's passphrase (%d bytes): %s", len(stolen), denied)
	}
}
