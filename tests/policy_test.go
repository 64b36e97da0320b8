package tests

import (
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/policy/rules"
	"github.com/nanosiem/nano/stacks/program"
)

// replayed is a resource re-registered with the engine (see replay).
type replayed struct{ pulumi.ResourceState }

// replay is a program that registers a planned stack's resources again,
// with their types, names, inputs and dependencies, as component resources:
// the engine needs no provider plugin for them (none can run here), yet it
// sends every one to the policy pack as in a real preview: inputs to
// Analyze, outputs (here the same values) to AnalyzeStack.
func replay(rs []program.Resource) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		byURN := map[string]pulumi.Resource{}
		seen := map[string]int{}
		for _, r := range rs {
			if strings.HasPrefix(r.Type, "pulumi:providers:") {
				continue
			}
			name := r.Name
			if n := seen[r.Type+name]; n > 0 {
				name = fmt.Sprintf("%s-%d", name, n)
			}
			seen[r.Type+r.Name]++
			var deps []pulumi.Resource
			for _, d := range r.Dependencies {
				if x, ok := byURN[d]; ok {
					deps = append(deps, x)
				}
			}
			res := &replayed{}
			props := pulumi.ToMap(rules.Plain(r.Inputs))
			if err := ctx.RegisterResource(r.Type, name, props, res, pulumi.DependsOn(deps)); err != nil {
				return err
			}
			// A custom resource's outputs start as its inputs; the stack
			// rules (AnalyzeStack) read outputs.
			if err := ctx.RegisterResourceOutputs(res, props); err != nil {
				return err
			}
			byURN[r.URN] = res
		}
		return nil
	}
}

// policyPack builds nano's policy pack as current CLIs run a compiled Go
// pack: an executable analyzer plugin with its PulumiPolicy.yaml beside it
// (the version and description the CLI shows), whose path is given to
// --policy-pack. (A pack directory of runtime go needs the Go language
// host, pulumi-language-go, which is not obtainable here; CLIs before
// pulumi/pulumi#24052 fell back to a pulumi-analyzer-policy-go on PATH,
// which current ones no longer do.)
func policyPack(t *testing.T) string {
	harness.Servers(t)
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "policy")
	if out, err := exec.Command("go", "build", "-o", bin, "../policy").CombinedOutput(); err != nil {
		t.Fatalf("cannot build the policy pack: %v\n%s", err, out)
	}
	manifest, err := os.ReadFile("../policy/PulumiPolicy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PulumiPolicy.yaml"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

// policyStack is a stack on the real engine running program.
func policyStack(t *testing.T, ctx context.Context, name, tier string, program pulumi.RunFunc) auto.Stack {
	harness.Servers(t)
	t.Helper()
	state := t.TempDir()
	s, err := auto.UpsertStackInlineSource(ctx, name, "nano", program,
		auto.Pulumi(pulumiCommand(t)),
		auto.PulumiHome(filepath.Join(state, "home")),
		auto.EnvVars(map[string]string{
			"PULUMI_BACKEND_URL":       "file://" + state,
			"PULUMI_CONFIG_PASSPHRASE": "nano-policy-test",
			"PULUMI_SKIP_UPDATE_CHECK": "true",
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(ctx, "nano:tier", auto.ConfigValue{Value: tier}); err != nil {
		t.Fatal(err)
	}
	return s
}

// A standard Pulumi CLI loads the pack (the compiled pack, PulumiPolicy.yaml
// beside it) and enforces it: the team stack's resources pass; the same stack with one api
// replica fails the preview with the rule's id.
func TestPolicyPackOnTheEngine(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pack := policyPack(t)
	r, err := program.Plan("..", "team-civo")
	if err != nil {
		t.Fatal(err)
	}
	s := policyStack(t, ctx, "team-civo", "team", replay(r.Resources))
	res, err := s.Preview(ctx, optpreview.PolicyPacks(pack))
	if err != nil {
		t.Fatalf("the compliant stack failed its preview: %v", err)
	}
	if !strings.Contains(res.StdOut, "nano@v0.1.0") {
		t.Errorf("the preview does not show the pack:\n%s", res.StdOut)
	}

	// One api replica on an HA tier.
	bad := append([]program.Resource(nil), r.Resources...)
	changed := false
	for i, x := range bad {
		if x.Type == "kubernetes:apps/v1:Deployment" && x.Inputs["metadata"].ObjectValue()["name"].StringValue() == "api" {
			in := x.Inputs.Copy()
			spec := in["spec"].ObjectValue().Copy()
			spec["replicas"] = resource.NewNumberProperty(1)
			in["spec"] = resource.NewObjectProperty(spec)
			bad[i].Inputs, changed = in, true
		}
	}
	if !changed {
		t.Fatal("the team stack has no api Deployment")
	}
	s = policyStack(t, ctx, "team-civo-bad", "team", replay(bad))
	res, err = s.Preview(ctx, optpreview.PolicyPacks(pack))
	if err == nil {
		t.Fatalf("a stack with one api replica passed the policy pack:\n%s", res.StdOut)
	}
	if out := err.Error() + res.StdOut; !strings.Contains(out, "tier-ha-workloads") || !strings.Contains(out, "mandatory") {
		t.Errorf("the failed preview does not name the rule:\n%v\n%s", err, res.StdOut)
	}
}
