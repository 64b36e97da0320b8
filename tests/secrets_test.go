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
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/program"
)

// settingsProgram is the program's first step, loading the stack's
// settings (program.Settings), and nothing else: the rest of the hobby
// program needs the hcloud plugin, which cannot be installed here.
func settingsProgram(ctx *pulumi.Context) error {
	_, err := program.Settings(ctx)
	return err
}

// cli runs the CLI the tests build in ws's directory with ws's environment.
func cli(t *testing.T, ctx context.Context, ws auto.Workspace, args ...string) (string, error) {
	harness.Servers(t)
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(os.Getenv("NANO_PULUMI_ROOT"), "bin", "pulumi"), args...)
	cmd.Dir = ws.WorkDir()
	cmd.Env = os.Environ()
	for k, v := range ws.GetEnvVars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PULUMI_HOME="+ws.PulumiHome())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Optional secrets on the real CLI (docs/deploy/pulumi-cli.md, "Optional secret
// keys"): `pulumi config` and previews (the Automation API runs `pulumi
// preview`) accept a stack that sets none of them; a plaintext value is
// refused by name, an encrypted one accepted. And the CLI still refuses the
// typed declaration nano had before (pulumi/pulumi#21865): when that part
// fails, the CLI has fixed it, and the keys may be typed again.
func TestOptionalSecretsOnTheEngine(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ws := workspace(t, ctx)
	ws.SetProgram(settingsProgram)
	stack, err := auto.UpsertStack(ctx, "hobby-hetzner", ws)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, ctx, ws, "config", "--stack", "hobby-hetzner", "--json")
	if err != nil || !strings.Contains(out, `"nano:backupAccessKeyId"`) || !strings.Contains(out, `"nano:kubeconfig"`) {
		t.Fatalf("pulumi config on a stack without secrets: %v\n%s", err, out)
	}
	if _, err := stack.Preview(ctx); err != nil {
		t.Fatalf("a stack without its optional secrets was refused: %v", err)
	}

	// In plaintext: refused, naming the key, before anything is registered.
	for k, v := range map[string]string{"backupBucketUrl": "https://fsn1.your-objectstorage.com/nano-backups/", "backupSecretAccessKey": "backup-secret"} {
		if err := stack.SetConfig(ctx, "nano:"+k, auto.ConfigValue{Value: v, Secret: k == "backupSecretAccessKey"}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := cli(t, ctx, ws, "config", "set", "--stack", "hobby-hetzner", "--plaintext", "nano:backupAccessKeyId", "AKIA-IN-PLAINTEXT"); err != nil {
		t.Fatalf("pulumi config set --plaintext: %v\n%s", err, out)
	}
	_, err = stack.Preview(ctx)
	want := "nano:backupAccessKeyId: is a secret but is set in plaintext; set it again with: pulumi config set --secret nano:backupAccessKeyId <value>"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a plaintext secret: want %q, got %v", want, err)
	}
	if strings.Contains(err.Error(), "AKIA-IN-PLAINTEXT") {
		t.Errorf("the refusal shows the value: %v", err)
	}
	// Encrypted: accepted.
	if err := stack.SetConfig(ctx, "nano:backupAccessKeyId", auto.ConfigValue{Value: "AKIA-ENCRYPTED", Secret: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Preview(ctx); err != nil {
		t.Fatalf("encrypted secrets were refused: %v", err)
	}

	// The typed declaration, on the same CLI: every stack without the keys
	// fails config validation.
	typed := workspace(t, ctx)
	typed.SetProgram(settingsProgram)
	project := filepath.Join(typed.WorkDir(), "Pulumi.yaml")
	b, err := os.ReadFile(project)
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	for _, k := range settings.Keys {
		if k.Secret {
			decl := "\n  " + k.Name + ":\n"
			if !strings.Contains(yaml, decl) {
				t.Fatalf("Pulumi.yaml does not declare %s as expected", k.Name)
			}
			yaml = strings.Replace(yaml, decl, decl+"    type: string\n", 1)
		}
	}
	if err := os.WriteFile(project, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := auto.UpsertStack(ctx, "hobby-hetzner", typed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Preview(ctx)
	if err == nil || !strings.Contains(err.Error(), "must be encrypted as it's secret") {
		t.Errorf("the CLI accepts typed optional secrets now (pulumi/pulumi#21865 fixed?): %v", err)
	}
}
