package main

import (
	"bytes"
	"strings"
	"testing"
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

func TestCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "plan takes one stack name"},
		{[]string{"plan", "nosuch-stack"}, `cannot read stack "nosuch-stack"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		err := run(&bytes.Buffer{}, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
