package components_test

import (
	"strings"
	"testing"
)

// An existing cluster gets the Platform only, through a provider built from
// the user's kubeconfig: Helm installs the operators unless they are
// preinstalled; no cloud resource is made; Enterprise's databases are the
// configured ones.
func TestExistingCluster(t *testing.T) {
	t.Parallel()
	helm := &planResult{planStack(t, "pro-kubernetes", nil)}
	helm.one(t, "nano:index:ExistingCluster")
	helm.one(t, "nano:index:Platform")
	releases := map[string]bool{}
	for _, r := range helm.ByType("kubernetes:helm.sh/v3:Release") {
		releases[text(prop(r, "name"))] = true
	}
	if !releases["clickhouse-operator"] || !releases["cnpg"] || len(releases) != 2 {
		t.Errorf("kubeOperators helm installs %v, want the ClickHouse and CloudNativePG operators", releases)
	}
	for _, r := range helm.Resources {
		ok := false
		for _, prefix := range []string{"kubernetes:", "nano:", "random:", "tls:", "pulumi:"} {
			ok = ok || strings.HasPrefix(r.Type, prefix)
		}
		if !ok {
			t.Errorf("an existing cluster gets a %s", r.Type)
		}
	}

	pre := &planResult{planStack(t, "pro-kubernetes", map[string]string{
		"nano:kubeOperators": "preinstalled", "nano:domain": "logs.example.com", "nano:ingressClass": "nginx", "nano:storageClass": "fast",
	})}
	if n := len(pre.ByType("kubernetes:helm.sh/v3:Release")); n != 0 {
		t.Errorf("kubeOperators preinstalled still installs %d Helm releases", n)
	}
	if got := text(prop(pre.one(t, "kubernetes:networking.k8s.io/v1:Ingress"), "spec", "ingressClassName")); got != "nginx" {
		t.Errorf("the Ingress uses class %q, want the configured nginx", got)
	}
	if got := text(prop(pre.one(t, "kubernetes:core/v1:PersistentVolumeClaim"), "spec", "storageClassName")); got != "fast" {
		t.Errorf("the PVC uses class %q, want the configured fast", got)
	}

	ent := &planResult{planStack(t, "enterprise-kubernetes", nil)}
	if n := len(ent.ByType("kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation")) + len(ent.ByType("kubernetes:postgresql.cnpg.io/v1:Cluster")); n != 0 {
		t.Errorf("enterprise on an existing cluster runs %d database objects in it", n)
	}
	addr := ""
	for _, d := range ent.ByType("kubernetes:apps/v1:Deployment") {
		if text(prop(d, "metadata", "name")) != "api" {
			continue
		}
		for _, e := range prop(d, "spec", "template", "spec", "containers", 0, "env").ArrayValue() {
			if e.ObjectValue()["name"].StringValue() == "NANO_CLICKHOUSE_ADDR" {
				addr = e.ObjectValue()["value"].StringValue()
			}
		}
	}
	if addr != "example.eu-central-1.aws.clickhouse.cloud:9440" {
		t.Errorf("api dials ClickHouse at %q, want the configured ClickHouse Cloud host on 9440", addr)
	}
}
