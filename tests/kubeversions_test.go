package tests

import (
	"strings"
	"testing"

	"github.com/nanosiem/nano/tests/harness"
)

// The Kubernetes rig's versions are go.mod's, and everything that names
// them agrees: k8s.io/kubernetes (the control plane tests/setup builds),
// its staging modules (pinned by replace to the matching v0 release, and
// required at that version, so go.mod reads as what is built), the
// kubelet version the rig's nodes report, and the versions the docs give
// for the control plane and the provider.
func TestKubernetesRigVersionsAreGoMods(t *testing.T) {
	mod, repl := requires(t, "../go.mod")
	kube := mod["k8s.io/kubernetes"]
	if !strings.HasPrefix(kube, "v1.") {
		t.Fatalf("go.mod requires k8s.io/kubernetes %q", kube)
	}
	staging := "v0." + strings.TrimPrefix(kube, "v1.")
	n := 0
	for path, v := range repl {
		if !strings.HasPrefix(path, "k8s.io/") {
			continue
		}
		n++
		if v != staging {
			t.Errorf("go.mod replaces %s with %s; k8s.io/kubernetes %s is built with %s", path, v, kube, staging)
		}
		if r, ok := mod[path]; ok && r != v {
			t.Errorf("go.mod requires %s %s but replaces it with %s", path, r, v)
		}
	}
	if n < 20 {
		t.Errorf("go.mod replaces only %d k8s.io modules; k8s.io/kubernetes needs each staging module pinned", n)
	}
	if harness.KubeVersion != kube {
		t.Errorf("harness.KubeVersion is %s; go.mod's k8s.io/kubernetes is %s", harness.KubeVersion, kube)
	}
	provider := mod["github.com/pulumi/pulumi-kubernetes/provider/v4"]
	if provider == "" {
		t.Fatal("go.mod does not require github.com/pulumi/pulumi-kubernetes/provider/v4 (tests/kubeprovider)")
	}
	for page, want := range map[string][]string{
		"docs/develop/test-rigs.md": {"kube-scheduler " + kube + " ", "`" + provider + "`"},
		"docs/deploy/pulumi-cli.md": {"`" + provider + "`"},
	} {
		text := strings.Join(strings.Fields(readDoc(t, page)), " ")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not say %q (go.mod's version)", page, w)
			}
		}
	}
}
