package kubevalidate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEmbeddedCRDsMatchShared(t *testing.T) {
	t.Parallel()
	files, err := CRDFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 7 {
		t.Errorf("%d embedded CRD files, want 7", len(files))
	}
	shared := filepath.Join("..", "..", "..", "shared", "crds")
	if _, err := os.Stat(shared); err != nil {
		t.Logf("no %s beside this checkout; embedded copies not compared", shared)
		return
	}
	for name, b := range files {
		if name == certManagerCRD || name == traefikCRD {
			continue // not an operator of shared/crds (see crds/README.md)
		}
		want, err := os.ReadFile(filepath.Join(shared, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(b, want) {
			t.Errorf("crds/%s differs from %s: copy it again (and re-pin the operator)", name, shared)
		}
	}
}

func TestKnowsTheOperatorsKinds(t *testing.T) {
	t.Parallel()
	kinds := strings.Join(mustValidator(t).Kinds(), " ")
	for _, k := range []string{
		"clickhouse.altinity.com/v1/ClickHouseInstallation",
		"clickhouse-keeper.altinity.com/v1/ClickHouseKeeperInstallation",
		"postgresql.cnpg.io/v1/Cluster", "postgresql.cnpg.io/v1/ScheduledBackup", "cert-manager.io/v1/ClusterIssuer",
		"traefik.io/v1alpha1/Middleware",
	} {
		if !strings.Contains(kinds, k) {
			t.Errorf("no schema for %s", k)
		}
	}
}

func chi(layout map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "clickhouse.altinity.com/v1", "kind": "ClickHouseInstallation",
		"metadata": map[string]any{"name": "x"},
		"spec": map[string]any{"configuration": map[string]any{"clusters": []any{
			map[string]any{"name": "c", "layout": layout},
		}}},
	}
}

// Each validator rejects what it should, with a message that says why.
func TestRejects(t *testing.T) {
	t.Parallel()
	v := mustValidator(t)
	restrictedPod := map[string]any{
		"securityContext": map[string]any{"runAsNonRoot": true, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
		"containers": []any{map[string]any{"name": "c", "image": "i:1", "securityContext": map[string]any{
			"allowPrivilegeEscalation": false, "capabilities": map[string]any{"drop": []any{"ALL"}},
		}}},
	}
	deployment := func(podSpec map[string]any, extra string) map[string]any {
		spec := map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"a": "b"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "b"}}, "spec": podSpec},
		}
		if extra != "" {
			spec[extra] = 1
		}
		return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "d"}, "spec": spec}
	}
	cases := []struct {
		name string
		obj  map[string]any
		want string // "" means valid
	}{
		{"valid CHI", chi(map[string]any{"shardsCount": 2, "replicasCount": 2}), ""},
		{"CHI with a string shardsCount", chi(map[string]any{"shardsCount": "two"}), "shardsCount"},
		{"CHI with an unknown field", chi(map[string]any{"shardCount": 2}), `unknown field "spec.configuration.clusters[0].layout.shardCount"`},
		{"CNPG Cluster without instances", map[string]any{
			"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": map[string]any{"name": "pg"},
			"spec": map[string]any{"storage": map[string]any{"size": "1Gi"}},
		}, "instances"},
		{"valid restricted Deployment", deployment(restrictedPod, ""), ""},
		{"Deployment with an unknown field", deployment(restrictedPod, "replica"), `unknown field "spec.replica"`},
		{"Deployment running as root", deployment(map[string]any{"containers": []any{map[string]any{"name": "c", "image": "i:1"}}}, ""),
			"allowPrivilegeEscalation != false"},
		{"Traefik Middleware with a string stsSeconds", map[string]any{
			"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": map[string]any{"name": "m"},
			"spec": map[string]any{"headers": map[string]any{"stsSeconds": "a year"}},
		}, "stsSeconds"},
		{"unknown kind", map[string]any{"apiVersion": "example.com/v1", "kind": "Widget"}, "no schema or type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Validate(c.obj).Err()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("rejected a valid object: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("accepted it")
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error does not mention %q:\n%v", c.want, err)
			}
		})
	}
}

// certManagerCRD is copied unchanged from cert-manager's module (the
// version the platform installs).
const certManagerCRD = "cert-manager.io_clusterissuers.yaml"

// traefikCRD is copied unchanged from Traefik's module (crds/README.md).
const traefikCRD = "traefik.io_middlewares.yaml"
