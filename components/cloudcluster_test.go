package components_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components"
	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

// planStack runs the program on stack's real config with overrides
// ("nano:key" -> value) against the recording mocks.
func planStack(t *testing.T, stack string, overrides map[string]string) *program.Result {
	t.Helper()
	proj, cfg, err := stackfile.Load("..", stack)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Values = maps.Clone(cfg.Values)
	maps.Copy(cfg.Values, overrides)
	// Secret keys are set as a user sets them: with --secret.
	for _, k := range settings.Keys {
		if _, ok := overrides[settings.Namespace+":"+k.Name]; ok && k.Secret {
			cfg.Secrets = append(cfg.Secrets, settings.Namespace+":"+k.Name)
		}
	}
	r, err := program.PlanConfig(proj.Name, stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// planResult adds lookups to a plan's result.
type planResult struct{ *program.Result }

// one returns the only resource of type typ.
func (r *planResult) one(t *testing.T, typ string) program.Resource {
	t.Helper()
	rs := r.ByType(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	return rs[0]
}

// prop walks an input of res by keys (string) and indexes (int), through
// secrets; a missing step is the null value.
func prop(res program.Resource, path ...any) resource.PropertyValue {
	v := resource.NewObjectProperty(res.Inputs)
	for _, step := range path {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		switch s := step.(type) {
		case string:
			if !v.IsObject() {
				return resource.NewNullProperty()
			}
			v = v.ObjectValue()[resource.PropertyKey(s)]
		case int:
			if !v.IsArray() || s >= len(v.ArrayValue()) {
				return resource.NewNullProperty()
			}
			v = v.ArrayValue()[s]
		}
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// text renders a property for comparisons ("" for null).
func text(v resource.PropertyValue) string {
	switch {
	case v.IsNull():
		return ""
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return fmt.Sprint(v.NumberValue())
	case v.IsBool():
		return fmt.Sprint(v.BoolValue())
	}
	return fmt.Sprint(v.Mappable())
}

// byName returns the resource of type typ whose name ends in suffix.
func byName(t *testing.T, r *program.Result, typ, suffix string) program.Resource {
	t.Helper()
	for _, res := range r.ByType(typ) {
		if strings.HasSuffix(res.Name, suffix) {
			return res
		}
	}
	t.Fatalf("no %s named *%s", typ, suffix)
	return program.Resource{}
}

// checkOnCluster asserts every Kubernetes object is registered through the
// cluster's provider, the kubeconfig is secret, and the platform is there.
func checkOnCluster(t *testing.T, r *program.Result, providerName string) {
	t.Helper()
	for _, res := range r.Resources {
		if strings.HasPrefix(res.Type, "kubernetes:") && !strings.Contains(res.Provider, "pulumi:providers:kubernetes::"+providerName) {
			t.Errorf("%s %s is on provider %q, not the cluster's %s", res.Type, res.Name, res.Provider, providerName)
		}
	}
	providers := r.ByType("pulumi:providers:kubernetes")
	if len(providers) != 1 || providers[0].Name != providerName {
		t.Fatalf("kubernetes providers %v, want one named %s", providers, providerName)
	}
	if !providers[0].Inputs["kubeconfig"].IsSecret() {
		t.Error("the kubeconfig is not a secret")
	}
	if n := len(r.ByType("kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation")) + len(r.ByType("kubernetes:apps/v1:Deployment")); n == 0 {
		t.Error("no platform objects on the cluster")
	}
}

// warmSecret returns the data of the platform's warm-bucket Secret.
func warmSecret(t *testing.T, r *program.Result) map[string]string {
	t.Helper()
	for _, s := range r.ByType("kubernetes:core/v1:Secret") {
		if text(prop(s, "metadata", "name")) == kubeobjects.SecretWarm {
			if !s.Inputs["stringData"].IsSecret() {
				t.Error("the warm Secret's data is not a Pulumi secret")
			}
			out := map[string]string{}
			for k, v := range prop(s, "stringData").ObjectValue() {
				out[string(k)] = text(v)
			}
			return out
		}
	}
	t.Fatal("no warm Secret")
	return nil
}

// The cluster components refuse settings they cannot build, naming every
// problem, before registering anything.
func TestCloudClustersRejectBadSettings(t *testing.T) {
	t.Parallel()
	load := func(stack string) settings.Settings {
		_, cfg, err := stackfile.Load("..", stack)
		if err != nil {
			t.Fatal(err)
		}
		get, _ := settings.WithOfflineSecrets(func(k string) string { return cfg.Values[settings.Namespace+":"+k] })
		s, err := settings.Load(stack, get)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	team := load("team-civo")
	team.Provider, team.KubeAPIAllowedCIDRs = tier.Hetzner, nil
	pro := load("pro-gcp")
	pro.Tier.Kind = tier.HA
	ent := load("enterprise-aws")
	ent.ClickHouseCloud, ent.Band = nil, tier.VolumeBand{}
	cases := []struct {
		name  string
		build func(ctx *pulumi.Context) error
		want  []string
	}{
		{"HACluster on hetzner without API access", func(ctx *pulumi.Context) error {
			_, err := components.NewHACluster(ctx, "x", &components.HAClusterArgs{Settings: team})
			return err
		}, []string{`HACluster: provider "hetzner" is not one of [civo vultr gcp aws]`, "HACluster: at least one CIDR must reach the Kubernetes API"}},
		{"MultiPoolCluster given an HA tier", func(ctx *pulumi.Context) error {
			_, err := components.NewMultiPoolCluster(ctx, "x", &components.MultiPoolClusterArgs{Settings: pro})
			return err
		}, []string{`MultiPoolCluster: tier "pro" is deployed as "ha", not as "multi-pool"`}},
		{"ManagedEnterprise without ClickHouse Cloud", func(ctx *pulumi.Context) error {
			_, err := components.NewManagedEnterprise(ctx, "x", &components.ManagedEnterpriseArgs{Settings: ent})
			return err
		}, []string{"ManagedEnterprise: the ClickHouse Cloud service (endpoint service, host, password) is required",
			"ManagedEnterprise: the daily volume's band is required"}},
		{"nil args", func(ctx *pulumi.Context) error {
			_, err := components.NewHACluster(ctx, "x", nil)
			return err
		}, []string{"HACluster: args are required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mocks := &mockmonitor.Recorder{}
			err := pulumi.RunErr(c.build, pulumi.WithMocks("nano", "test", mocks))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not say %q", err, w)
				}
			}
			if n := len(mocks.Resources()); n != 0 {
				t.Errorf("%d resources registered", n)
			}
		})
	}
}
