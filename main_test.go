package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanosiem/nano/stacks/model/settings"
)

func TestPlanCommandPrintsTreeAndBillOfMaterials(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, []string{"plan", "startup-hetzner"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pulumi:pulumi:Stack  nano-startup-hetzner",
		"├─ nano:index:ComposeHost  startup-hetzner",
		"│  ├─ hcloud:index/firewall:Firewall  startup-hetzner-firewall",
		"└─ random:index/randomUuid:RandomUuid  startup-hetzner-tier-provider-region",
		"pool general    1 x ccx23 (4 CPU / 16 GB, on-demand)",
		"machines   1 nodes, 4 CPU, 16 GB memory",
		"storage    81 GB hot per ClickHouse pod (90 days at 5 GB/day need 81 GB; the catalog's 50 GB is too small), 81 GB in volumes",
		"retention  90 days, then roll-off",
		"replicas   api 1, search 1, web 1, ingest 1",
		"Resources: 29", // with the first admin token's random bytes, the tier guard and the services' six database passwords
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, out.String())
		}
	}
}

// Enterprise plans with a placeholder for the secret it cannot read and
// says so.
func TestPlanCommandNamesTheSecretsUpNeeds(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, []string{"plan", "enterprise-aws"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"├─ nano:index:ManagedEnterprise  enterprise-aws",
		"└─ random:index/randomUuid:RandomUuid  enterprise-aws-tier-provider-region",
		"pool ingest     3 x m6i.xlarge (4 CPU / 16 GB, on-demand; Up to 100 GB/day)",
		"postgresql managed (RDS)",
		"secrets    planned with placeholders; pulumi up needs: nano:clickhouseCloudPassword",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, out.String())
		}
	}
}

// run runs nano's command line with args, writing to w.
func run(w io.Writer, args []string) error { return nano().Run(args, w, w) }

// A command called wrong exits 2 naming what is wrong (an unknown command
// listing the commands); one that fails exits 1.
func TestCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"plan"}, 2, "plan takes one stack name"},
		{[]string{"plan", "nosuch-stack"}, 1, `cannot read stack "nosuch-stack"`},
		{[]string{"frobnicate"}, 2, `nano: unknown command "frobnicate"`},
		{[]string{"stacks", "extra"}, 2, "stacks takes no arguments"},
		{[]string{"upgrade", "-nosuchflag"}, 2, "flag provided but not defined: -nosuchflag"},
		{[]string{"upgrade", "-f", "x.json"}, 2, "usage:"},
		{[]string{"serve", "extra"}, 2, `serve takes flags only, not "extra"`},
		{[]string{"-x"}, 2, `unknown flag "-x"`},
	} {
		var out bytes.Buffer
		if status := nano().Main(c.args, &out, &out); status != c.status || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", c.args, status, out.String(), c.status, c.want)
		}
	}
	var out bytes.Buffer
	nano().Main([]string{"frobnicate"}, &out, &out)
	if !strings.Contains(out.String(), "nano upgrade [flags] D") {
		t.Errorf("the refusal does not list the commands: %s", out.String())
	}
}

// -h lists every command of the table; --version prints the version
// (the build's when none was set at build time).
func TestHelpAndVersion(t *testing.T) {
	var out bytes.Buffer
	if status := nano().Main([]string{"-h"}, &out, &out); status != 0 {
		t.Fatalf("-h: exit %d", status)
	}
	for _, c := range nano().Commands {
		if !strings.Contains(out.String(), "nano "+c.Name+" ") {
			t.Errorf("-h does not list %s:\n%s", c.Name, out.String())
		}
	}
	for _, want := range []string{"nano -h", "nano --version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not list %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if status := nano().Main([]string{"--version"}, &out, &out); status != 0 || !strings.HasPrefix(out.String(), "nano (devel)") {
		t.Errorf("--version: exit %d %q, want nano (devel)...", status, out.String())
	}
	defer func(v string) { version = v }(version)
	version = "1.2.3"
	out.Reset()
	if nano().Main([]string{"--version"}, &out, &out); out.String() != "nano 1.2.3\n" {
		t.Errorf("--version with a build version: %q", out.String())
	}
}

// A stack's Alertmanager configuration is checked by plan with
// Alertmanager's own loader (given with -secret-file, since a plan cannot
// decrypt the stack file): an unknown receiver and a bad URL fail naming
// the key, the line and Alertmanager's message; a good one plans.
func TestPlanChecksTheAlertmanagerConfig(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ yml, want string }{
		{"route:\n  receiver: pager\nreceivers:\n  - name: ops\n", `nano:alertmanagerConfig: line 2: undefined receiver "pager" used in route`},
		{"route:\n  receiver: ops\nreceivers:\n  - name: ops\n    webhook_configs:\n      - url: ftp://hooks.example.com/nano\n",
			`nano:alertmanagerConfig: line 6: invalid URL: unsupported scheme "ftp" for URL`},
	} {
		err := run(&bytes.Buffer{}, []string{"plan", "hobby-hetzner", "-secret-file", "alertmanagerConfig=" + file("bad.yml", c.yml)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("plan with %q: %v, want %q", c.yml, err, c.want)
		}
	}
	var out bytes.Buffer
	good := file("good.yml", "route:\n  receiver: ops\nreceivers:\n  - name: ops\n    webhook_configs:\n      - url: https://hooks.example.com/nano\n")
	if err := run(&out, []string{"plan", "hobby-hetzner", "-secret-file", "nano:alertmanagerConfig=" + good}); err != nil {
		t.Fatalf("plan with a good configuration: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "hobby-hetzner", "-secret-file", "tier=" + good}, "nano:tier is not a secret key"},
		{[]string{"plan", "hobby-hetzner", "-secret-file", "alertmanagerConfig"}, "-secret-file takes key=file"},
		{[]string{"plan", "hobby-hetzner", "-secret-file", "alertmanagerConfig=" + filepath.Join(dir, "missing.yml")}, "no such file"},
	} {
		if err := run(&bytes.Buffer{}, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// The provisioning endpoint takes the configuration like the other
// secrets (a secret key: refused in config, accepted in secrets) and
// checks it as pulumi up would.
func TestEndpointChecksTheAlertmanagerConfig(t *testing.T) {
	cfg := map[string]string{"nano:tier": "hobby", "nano:provider": "hetzner", "nano:region": "fsn1",
		"nano:alertmanagerConfig": "route:\n  receiver: pager\nreceivers:\n  - name: ops\n"}
	err := validateDeployment("shop", cfg)
	if err == nil || !strings.Contains(err.Error(), `nano:alertmanagerConfig: line 2: undefined receiver "pager"`) {
		t.Errorf("the endpoint's check of a bad configuration: %v", err)
	}
	cfg["nano:alertmanagerConfig"] = "route:\n  receiver: ops\nreceivers:\n  - name: ops\n"
	if err := validateDeployment("shop", cfg); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
	secret := false
	for _, k := range settings.Keys {
		secret = secret || (k.Name == settings.KeyAlertmanager && k.Secret)
	}
	if !secret {
		t.Error("nano:alertmanagerConfig is not a secret key: the endpoint would store receivers' credentials in plain text")
	}
}
