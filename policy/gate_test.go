package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nanosiem/nano/policy/analyzer"
	"github.com/nanosiem/nano/policy/rules"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

// client serves the pack as main does and connects to it over gRPC: the
// gate goes through the same analyzer interface the Pulumi CLI uses.
func client(t *testing.T) pulumirpc.AnalyzerClient {
	t.Helper()
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{Cancel: cancel, Init: func(s *grpc.Server) error {
		pulumirpc.RegisterAnalyzerServer(s, analyzer.New(rules.All(), version))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", handle.Port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); close(cancel); <-handle.Done })
	return pulumirpc.NewAnalyzerClient(conn)
}

// analyze sends a planned stack through the analyzer: ConfigureStack with
// its config, Analyze for every resource, AnalyzeStack for all of them.
func analyze(t *testing.T, c pulumirpc.AnalyzerClient, cfg map[string]string, rs []program.Resource) []*pulumirpc.AnalyzeDiagnostic {
	t.Helper()
	ctx := context.Background()
	if _, err := c.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	var out []*pulumirpc.AnalyzeDiagnostic
	var stack []*pulumirpc.AnalyzerResource
	for _, r := range rs {
		props, err := plugin.MarshalProperties(r.Inputs, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true})
		if err != nil {
			t.Fatal(err)
		}
		opts := &pulumirpc.AnalyzerResourceOptions{Protect: r.Protect}
		resp, err := c.Analyze(ctx, &pulumirpc.AnalyzeRequest{Type: r.Type, Name: r.Name, Urn: r.URN, Properties: props, Options: opts})
		if err != nil {
			t.Fatalf("%s: %v", r.URN, err)
		}
		out = append(out, resp.Diagnostics...)
		stack = append(stack, &pulumirpc.AnalyzerResource{Type: r.Type, Name: r.Name, Urn: r.URN, Properties: props, Dependencies: r.Dependencies, Options: opts})
	}
	resp, err := c.AnalyzeStack(ctx, &pulumirpc.AnalyzeStackRequest{Resources: stack})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, resp.Diagnostics...)
}

// The CI gate: every stack's resources (a mocks run of the program) pass
// every mandatory rule.
func TestEveryStackPassesThePolicyPack(t *testing.T) {
	t.Parallel()
	c := client(t)
	info, err := c.GetAnalyzerInfo(context.Background(), &emptypb.Empty{})
	if err != nil || len(info.Policies) != len(rules.All()) {
		t.Fatalf("analyzer info: %v %v", info, err)
	}
	stacks, err := stackfile.Stacks("..")
	if err != nil || len(stacks) == 0 {
		t.Fatalf("stacks: %v %v", stacks, err)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %9s %9s %9s\n", "stack", "resources", "mandatory", "advisory")
	for _, stack := range stacks {
		project, cfg, err := stackfile.Load("..", stack)
		if err != nil {
			t.Fatal(err)
		}
		// As configured, and with a domain (HTTPS ingress, cert-manager,
		// Traefik where the cluster has no controller).
		withDomain := cfg
		withDomain.Values = maps.Clone(cfg.Values)
		withDomain.Values["nano:domain"] = "logs.example.com"
		// And as it is before a destroy on purpose: the pack must let
		// nano:protectData false through.
		unprotected := cfg
		unprotected.Values = maps.Clone(cfg.Values)
		unprotected.Values["nano:protectData"] = "false"
		for _, variant := range []struct {
			name string
			cfg  stackfile.Config
		}{{stack, cfg}, {stack + "+domain", withDomain}, {stack + "+unprotected", unprotected}} {
			r, err := program.PlanConfig(project.Name, stack, variant.cfg)
			if err != nil {
				t.Fatalf("%s: %v", variant.name, err)
			}
			mandatory, advisory := 0, 0
			for _, d := range analyze(t, c, variant.cfg.Values, r.Resources) {
				if d.EnforcementLevel == pulumirpc.EnforcementLevel_MANDATORY {
					mandatory++
					t.Errorf("%s: %s: %s (%s)", variant.name, d.PolicyName, d.Message, d.Urn)
				} else {
					advisory++
				}
			}
			fmt.Fprintf(&table, "%-22s %9d %9d %9d\n", variant.name, len(r.Resources), mandatory, advisory)
		}
	}
	if os.Getenv("NANO_POLICY_TABLE") != "" || testing.Verbose() {
		fmt.Print(table.String())
	}
}

// The gate fails a stack that breaks a rule: the team stack with one api
// replica and a public database Service.
func TestTheGateCatchesAViolatingStack(t *testing.T) {
	t.Parallel()
	c := client(t)
	_, cfg, err := stackfile.Load("..", "team-civo")
	if err != nil {
		t.Fatal(err)
	}
	r, err := program.Plan("..", "team-civo")
	if err != nil {
		t.Fatal(err)
	}
	rs := append([]program.Resource(nil), r.Resources...)
	for i, x := range rs {
		if x.Type == "kubernetes:apps/v1:Deployment" && fmt.Sprint(x.Inputs["metadata"].ObjectValue()["name"].V) == "api" {
			in := x.Inputs.Copy()
			spec := in["spec"].ObjectValue().Copy()
			spec["replicas"] = resource.NewNumberProperty(1)
			in["spec"] = resource.NewObjectProperty(spec)
			rs[i].Inputs = in
		}
	}
	rs = append(rs, program.Resource{URN: "urn:pulumi:team-civo::nano::kubernetes:core/v1:Service::pg-public", Type: "kubernetes:core/v1:Service", Name: "pg-public", Custom: true,
		Inputs: resource.NewPropertyMapFromMap(map[string]any{
			"metadata": map[string]any{"name": "pg", "namespace": "nano", "labels": map[string]any{"nano-tier": "team", "nano-deployment": "d", "managed-by": "pulumi"}},
			"spec":     map[string]any{"type": "LoadBalancer", "selector": map[string]any{"app": "postgres"}, "ports": []any{map[string]any{"port": 5432}}},
		})})
	found := map[string]bool{}
	for _, d := range analyze(t, c, cfg.Values, rs) {
		if d.EnforcementLevel == pulumirpc.EnforcementLevel_MANDATORY {
			found[d.PolicyName] = true
		}
	}
	for _, want := range []string{"tier-ha-workloads", "k8s-no-exposed-databases"} {
		if !found[want] {
			t.Errorf("the gate missed %s (found %v)", want, found)
		}
	}
}
