// Package analyzer serves nano's rules over Pulumi's analyzer protocol
// (pulumirpc.Analyzer), which is how the Pulumi CLI runs a policy pack:
// Analyze for each resource's inputs as it is registered (resource rules),
// AnalyzeStack for the whole stack at the end (stack rules).
package analyzer

import (
	"context"
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nanosiem/nano/policy/rules"
)

// PackName names the pack in diagnostics.
const PackName = "nano"

// Server is the analyzer.
type Server struct {
	pulumirpc.UnimplementedAnalyzerServer
	Rules   []*rules.Rule
	Version string

	mu          sync.Mutex
	tier        string // the stack's nano:tier, from ConfigureStack
	unprotected bool   // nano:protectData false, from ConfigureStack
}

// New serves rs as pack version v.
func New(rs []*rules.Rule, version string) *Server { return &Server{Rules: rs, Version: version} }

func level(l rules.Level) pulumirpc.EnforcementLevel {
	if l == rules.Mandatory {
		return pulumirpc.EnforcementLevel_MANDATORY
	}
	return pulumirpc.EnforcementLevel_ADVISORY
}

// Handshake accepts the engine.
func (s *Server) Handshake(context.Context, *pulumirpc.AnalyzerHandshakeRequest) (*pulumirpc.AnalyzerHandshakeResponse, error) {
	return &pulumirpc.AnalyzerHandshakeResponse{}, nil
}

// GetPluginInfo reports the version.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.Version}, nil
}

// GetAnalyzerInfo lists the policies.
func (s *Server) GetAnalyzerInfo(context.Context, *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	info := &pulumirpc.AnalyzerInfo{Name: PackName, DisplayName: "nano deployment policies", Version: s.Version}
	for _, r := range s.Rules {
		info.Policies = append(info.Policies, &pulumirpc.PolicyInfo{
			Name: r.ID, DisplayName: r.ID, Description: r.Description, Message: r.Remediation, EnforcementLevel: level(r.Level),
		})
	}
	return info, nil
}

// Configure takes per-policy configuration (the rules have none).
func (s *Server) Configure(context.Context, *pulumirpc.ConfigureAnalyzerRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// ConfigureStack learns the stack's tier from its config.
func (s *Server) ConfigureStack(_ context.Context, req *pulumirpc.AnalyzerStackConfigureRequest) (*pulumirpc.AnalyzerStackConfigureResponse, error) {
	s.mu.Lock()
	s.tier = req.GetConfig()["nano:tier"]
	s.unprotected = req.GetConfig()["nano:protectData"] == "false"
	s.mu.Unlock()
	return &pulumirpc.AnalyzerStackConfigureResponse{}, nil
}

// Cancel has nothing to stop: analyses are quick and stateless.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Remediate changes nothing: nano's rules report, they do not rewrite.
func (s *Server) Remediate(context.Context, *pulumirpc.AnalyzeRequest) (*pulumirpc.RemediateResponse, error) {
	return &pulumirpc.RemediateResponse{}, nil
}

func (s *Server) configTier() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tier
}

// configUnprotected reports whether the stack sets nano:protectData false.
func (s *Server) configUnprotected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unprotected
}

func props(p *structpb.Struct) (map[string]any, error) {
	m, err := plugin.UnmarshalProperties(p, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true, KeepOutputValues: true})
	if err != nil {
		return nil, fmt.Errorf("cannot read the resource's properties: %w", err)
	}
	return rules.Plain(m), nil
}

func (s *Server) diagnostic(v rules.Violation) *pulumirpc.AnalyzeDiagnostic {
	return &pulumirpc.AnalyzeDiagnostic{
		PolicyName: v.Rule.ID, PolicyPackName: PackName, PolicyPackVersion: s.Version, Description: v.Rule.Description,
		Message: v.Message + ". " + v.Rule.Remediation, EnforcementLevel: level(v.Rule.Level), Urn: v.URN,
	}
}

// Analyze runs the resource rules on one resource's inputs.
func (s *Server) Analyze(_ context.Context, req *pulumirpc.AnalyzeRequest) (*pulumirpc.AnalyzeResponse, error) {
	p, err := props(req.GetProperties())
	if err != nil {
		return nil, err
	}
	r := rules.Resource{URN: req.GetUrn(), Type: req.GetType(), Name: req.GetName(), Props: p, Protect: req.GetOptions().GetProtect()}
	env := rules.ResourceEnv(r, s.configTier())
	env.Unprotected = s.configUnprotected()
	out := &pulumirpc.AnalyzeResponse{}
	for _, rule := range s.Rules {
		if rule.Check == nil {
			continue
		}
		for _, m := range rule.Check(r, env) {
			out.Diagnostics = append(out.Diagnostics, s.diagnostic(rules.Violation{Rule: rule, URN: r.URN, Message: m}))
		}
	}
	return out, nil
}

// AnalyzeStack runs the stack rules on every resource.
func (s *Server) AnalyzeStack(_ context.Context, req *pulumirpc.AnalyzeStackRequest) (*pulumirpc.AnalyzeResponse, error) {
	var rs []rules.Resource
	for _, x := range req.GetResources() {
		p, err := props(x.GetProperties())
		if err != nil {
			return nil, err
		}
		rs = append(rs, rules.Resource{URN: x.GetUrn(), Type: x.GetType(), Name: x.GetName(), Props: p, Dependencies: x.GetDependencies(), Protect: x.GetOptions().GetProtect()})
	}
	env := rules.EnvFor(rs, s.configTier())
	env.Unprotected = s.configUnprotected()
	out := &pulumirpc.AnalyzeResponse{}
	for _, rule := range s.Rules {
		if rule.CheckStack == nil {
			continue
		}
		for _, f := range rule.CheckStack(rs, env) {
			out.Diagnostics = append(out.Diagnostics, s.diagnostic(rules.Violation{Rule: rule, URN: f.URN, Message: f.Message}))
		}
	}
	return out, nil
}
