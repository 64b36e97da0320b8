package tests

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/harness"
)

// The provisioning endpoint creates, updates and destroys a deployment on
// the Kubernetes rig with the real program and the real Kubernetes
// provider, as a user of the existing-cluster target would through it.
func TestProvisioningOnTheRig(t *testing.T) {
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
