// Package tests holds nano's cross-cutting integration tests: the program
// on the real Pulumi engine (CLI built from source by tests/setup) through
// the Automation API, with the repository's own Pulumi.yaml and stacks.
package tests

import (
	"context"
	"github.com/nanosiem/nano/tests/harness"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/nanosiem/nano/stacks/program"
)

// pulumiCommand returns the CLI tests/setup built. Tests fail, not skip,
// without it: run them through tests/run.
func pulumiCommand(t *testing.T) auto.PulumiCommand {
	harness.Servers(t)
	t.Helper()
	root := os.Getenv("NANO_PULUMI_ROOT")
	if root == "" {
		t.Fatal("NANO_PULUMI_ROOT is not set: run the tests with tests/run, which builds the Pulumi CLI")
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatalf("cannot use the Pulumi CLI in %s: %v", root, err)
	}
	return cmd
}

// projectCopy copies Pulumi.yaml and stacks/ into a temporary directory, so
// that the engine reads the real project but the test can change config.
func projectCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "stacks"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../stacks/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, "../Pulumi.yaml") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(f, "../")), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// workspace is a local workspace on the project copy that runs nano's
// program inline, with a file backend and a passphrase secrets provider.
func workspace(t *testing.T, ctx context.Context) auto.Workspace {
	harness.Servers(t)
	t.Helper()
	dir := projectCopy(t)
	state := t.TempDir()
	ws, err := auto.NewLocalWorkspace(ctx,
		auto.WorkDir(dir),
		auto.Program(program.Run),
		auto.Pulumi(pulumiCommand(t)),
		auto.PulumiHome(filepath.Join(state, "home")),
		auto.EnvVars(map[string]string{
			"PULUMI_BACKEND_URL":       "file://" + state,
			"PULUMI_CONFIG_PASSPHRASE": "nano-engine-test",
			"PULUMI_SKIP_UPDATE_CHECK": "true",
		}),
	)
	if err != nil {
		t.Fatalf("cannot create workspace: %v", err)
	}
	return ws
}

// On the real engine, an invalid combination fails before any resource is
// registered, and the message names the key and what is allowed.
func TestEngineRejectsInvalidConfigBeforeRegistering(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := workspace(t, ctx)
	stack, err := auto.UpsertStack(ctx, "hobby-hetzner", ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.SetConfig(ctx, "nano:provider", auto.ConfigValue{Value: "aws"}); err != nil {
		t.Fatal(err)
	}
	_, err = stack.Up(ctx)
	if err == nil {
		t.Fatal("pulumi up accepted hobby on aws")
	}
	want := `nano:provider: tier "hobby" does not run on "aws"; allowed for hobby: hetzner`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("pulumi up failed without saying %q:\n%v", want, err)
	}
	dep, err := stack.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range resourceTypes(t, string(dep.Deployment)) {
		if typ != "pulumi:pulumi:Stack" {
			t.Errorf("resource %s was registered before validation failed", typ)
		}
	}
}

// The engine checks config types against Pulumi.yaml's declarations and the
// program's own validation catches what types cannot (an HA tier with one
// replica); both messages name the key.
func TestEngineNamesTheKeyOfABadValue(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := workspace(t, ctx)
	for _, c := range []struct {
		stack, key, value, want string
	}{
		{"hobby-hetzner", "nano:retentionDays", "ninety", "retentionDays"},
		{"team-gcp", "nano:appReplicas", "1", `nano:appReplicas: tier "team" is highly available and needs at least 2 replicas; got 1`},
		{"startup-hetzner", "nano:tier", "gigantic", `nano:tier: unknown tier "gigantic"; allowed: hobby, startup, growth, team, business, pro, enterprise`},
	} {
		stack, err := auto.UpsertStack(ctx, c.stack, ws)
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.SetConfig(ctx, c.key, auto.ConfigValue{Value: c.value}); err != nil {
			t.Fatal(err)
		}
		_, err = stack.Preview(ctx)
		if err == nil {
			t.Errorf("%s: preview accepted %s=%s", c.stack, c.key, c.value)
			continue
		}
		t.Logf("%s %s=%s: %s", c.stack, c.key, c.value, lastLines(err.Error(), 4))
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: preview with %s=%s failed without saying %q:\n%v", c.stack, c.key, c.value, c.want, err)
		}
	}
}

// `pulumi config` documents itself: the CLI lists every key of a stack with
// Pulumi.yaml's defaults applied.
func TestCLIConfigShowsDefaults(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ws := workspace(t, ctx)
	if _, err := auto.UpsertStack(ctx, "startup-hetzner", ws); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(os.Getenv("NANO_PULUMI_ROOT"), "bin", "pulumi"), "config", "--stack", "startup-hetzner", "--json")
	cmd.Dir = ws.WorkDir()
	cmd.Env = os.Environ()
	for k, v := range ws.GetEnvVars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PULUMI_HOME="+ws.PulumiHome())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pulumi config: %v\n%s", err, out)
	}
	for _, want := range []string{`"nano:tier"`, `"startup"`, `"nano:apiImage"`, `"ghcr.io/nanosiem/api:0.1.0"`, `"nano:retentionDays"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pulumi config does not show %s:\n%s", want, out)
		}
	}
}
