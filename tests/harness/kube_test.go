package harness

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The rig's control plane is real: a Deployment's pods are placed by the
// real scheduler on the harness's nodes and reported running; a pod that
// cannot be placed (required anti-affinity with more replicas than nodes)
// stays Pending with the scheduler's reason; deleted pods go; a claim gets
// a volume on the node its pod was placed on.
func TestKubeRigSchedulesAndRefuses(t *testing.T) {
	Servers(t)
	k, err := StartKube()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := k.AddNodes(ctx, NodePool{Name: "w", Nodes: 2, CPU: 2, MemoryGB: 4, Reserved: true, Labels: map[string]string{"pool": "w"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Create(ctx, "/api/v1/namespaces", Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "t"}}); err != nil {
		t.Fatal(err)
	}
	deploy := func(name string, replicas int, claim bool) {
		spec := map[string]any{
			"nodeSelector": map[string]any{"pool": "w"},
			"affinity": map[string]any{"podAntiAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": []any{
				map[string]any{"labelSelector": map[string]any{"matchLabels": map[string]any{"app": name}}, "topologyKey": "kubernetes.io/hostname"},
			}}},
			"containers": []any{map[string]any{"name": "c", "image": "example/c:1",
				"resources": map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "256Mi"}}}},
		}
		if claim {
			if err := k.Create(ctx, "/api/v1/namespaces/t/persistentvolumeclaims", Object{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
				"metadata": map[string]any{"name": name},
				"spec":     map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}}); err != nil {
				t.Fatal(err)
			}
			spec["volumes"] = []any{map[string]any{"name": "d", "persistentVolumeClaim": map[string]any{"claimName": name}}}
		}
		if err := k.Create(ctx, "/apis/apps/v1/namespaces/t/deployments", Object{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"replicas": replicas, "selector": map[string]any{"matchLabels": map[string]any{"app": name}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}}, "spec": spec}}}); err != nil {
			t.Fatal(err)
		}
	}
	deploy("fits", 2, false)
	deploy("stuck", 3, false)
	deploy("stored", 1, true)

	type pod struct {
		Metadata struct{ Labels map[string]string } `json:"metadata"`
		Spec     struct{ NodeName string }          `json:"spec"`
		Status   struct {
			Phase      string
			Conditions []struct{ Type, Status, Message string }
		} `json:"status"`
	}
	var running, pending map[string]int
	var reason string
	for ctx.Err() == nil {
		var pods struct{ Items []pod }
		if err := k.Get(ctx, "/api/v1/namespaces/t/pods", &pods); err != nil {
			t.Fatal(err)
		}
		running, pending = map[string]int{}, map[string]int{}
		for _, p := range pods.Items {
			app := p.Metadata.Labels["app"]
			if p.Spec.NodeName != "" && p.Status.Phase == "Running" {
				running[app]++
				continue
			}
			pending[app]++
			for _, c := range p.Status.Conditions {
				if c.Type == "PodScheduled" && c.Status == "False" {
					reason = c.Message
				}
			}
		}
		if running["fits"] == 2 && running["stuck"] == 2 && pending["stuck"] == 1 && running["stored"] == 1 && reason != "" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if running["fits"] != 2 || running["stuck"] != 2 || running["stored"] != 1 || pending["stuck"] != 1 {
		t.Fatalf("running %v, pending %v (want fits 2, stuck 2 + 1 pending, stored 1)\n%s", running, pending, k.Logs())
	}
	if !strings.Contains(reason, "anti-affinity") {
		t.Errorf("the pending pod's reason does not name the anti-affinity: %q", reason)
	}
	t.Logf("scheduler: %s", reason)

	// Deleting the Deployment removes its pods (the garbage collector marks
	// them, the node agent removes them as a kubelet would).
	if err := k.Delete(ctx, "/apis/apps/v1/namespaces/t/deployments/fits"); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		var pods struct{ Items []pod }
		if err := k.Get(ctx, "/api/v1/namespaces/t/pods?labelSelector=app%3Dfits", &pods); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatal("the deleted Deployment's pods never went")
	}
	if err := k.AgentErr(); err != nil {
		t.Errorf("node agent: %v", err)
	}
}
