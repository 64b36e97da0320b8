package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Level is a rule's enforcement: a mandatory violation fails the
// preview/update, an advisory one is reported.
type Level string

const (
	Mandatory Level = "mandatory"
	Advisory  Level = "advisory"
)

// Resource is what a rule sees: the resource's type, name, URN, its
// properties as plain values (maps, slices, strings, float64, bool; values
// unknown during a preview are Unknown) and the URNs it depends on.
type Resource struct {
	URN, Type, Name string
	Props           map[string]any
	Dependencies    []string
	// Protect is the resource's protect option.
	Protect bool
}

// Unknown is a value the engine does not know yet (a preview of an output).
type Unknown struct{}

// Env is what rules know of the stack.
type Env struct {
	// Tier is the deployment's tier, when known (from the resources'
	// nano-tier labels or the stack's nano:tier config).
	Tier    tier.Spec
	HasTier bool
	// Unprotected: the stack sets nano:protectData false (to be destroyed).
	Unprotected bool
}

// Finding is one violation: the resource and what is wrong.
type Finding struct {
	URN     string
	Message string
}

// Rule is one policy.
type Rule struct {
	ID          string
	Description string
	Level       Level
	// Remediation says how to fix a violation.
	Remediation string
	// Check inspects one resource (nil for stack rules); it returns
	// problem descriptions.
	Check func(r Resource, env Env) []string
	// CheckStack inspects all resources together (nil for resource rules).
	CheckStack func(rs []Resource, env Env) []Finding
}

// Violation is a finding of a rule.
type Violation struct {
	Rule    *Rule
	URN     string
	Message string
}

func (v Violation) String() string {
	return fmt.Sprintf("[%s] %s: %s (%s)", v.Rule.Level, v.Rule.ID, v.Message, v.URN)
}

// All are the pack's rules, ordered by id.
func All() []*Rule {
	out := []*Rule{}
	out = append(out, kubernetesRules...)
	out = append(out, tierRules...)
	out = append(out, cloudRules...)
	out = append(out, exposureRules...)
	out = append(out, hygieneRules...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// EnvFor derives the environment: the tier named by config (nano:tier)
// or, failing that, by the resources' nano-tier labels.
func EnvFor(rs []Resource, configTier string) Env {
	name := configTier
	if name == "" {
		for _, r := range rs {
			if t := resourceLabels(r)[labels.Tier]; t != "" {
				name = t
				break
			}
		}
	}
	return envOf(name)
}

func envOf(name string) Env {
	if s, ok := tier.Lookup(tier.Name(name)); ok {
		return Env{Tier: s, HasTier: true}
	}
	return Env{}
}

// ResourceEnv is the environment of one resource analyzed alone: its own
// nano-tier label, else the configured tier.
func ResourceEnv(r Resource, configTier string) Env {
	if t := resourceLabels(r)[labels.Tier]; t != "" {
		return envOf(t)
	}
	return envOf(configTier)
}

// Evaluate runs every rule of rs over the resources: resource rules on
// each one, stack rules on all of them.
func Evaluate(rs []*Rule, resources []Resource, env Env) []Violation {
	var out []Violation
	for _, rule := range rs {
		if rule.Check != nil {
			for _, r := range resources {
				for _, m := range rule.Check(r, env) {
					out = append(out, Violation{Rule: rule, URN: r.URN, Message: m})
				}
			}
		}
		if rule.CheckStack != nil {
			for _, f := range rule.CheckStack(resources, env) {
				out = append(out, Violation{Rule: rule, URN: f.URN, Message: f.Message})
			}
		}
	}
	return out
}

// get walks maps and slices by keys and indexes; nil when absent.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	s, _ := v.([]any)
	return s
}

// number reads a number; ok is false when absent or unknown.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

func isUnknown(v any) bool {
	_, ok := v.(Unknown)
	return ok
}

// isTrue is true only for a known true.
func isTrue(v any) bool {
	b, ok := v.(bool)
	return ok && b
}

// isFalse is true only for a known false.
func isFalse(v any) bool {
	b, ok := v.(bool)
	return ok && !b
}

// kubernetes reports whether r is a Kubernetes object (not a provider,
// not a Helm release).
func kubernetes(r Resource) bool {
	return strings.HasPrefix(r.Type, "kubernetes:") && !strings.HasPrefix(r.Type, "kubernetes:helm.sh/")
}

// kind is a Kubernetes resource's kind from its type token.
func kind(r Resource) string {
	return r.Type[strings.LastIndex(r.Type, ":")+1:]
}

// resourceLabels are a resource's labels or tags, whatever the provider
// calls them (see labelPaths).
func resourceLabels(r Resource) map[string]string {
	out := map[string]string{}
	path, ok := labelPath(r)
	if !ok {
		return out
	}
	switch v := get(r.Props, path...).(type) {
	case map[string]any:
		for k, x := range v {
			out[k] = str(x)
		}
	case string: // Civo: "k=v k=v" or comma separated
		for _, f := range strings.FieldsFunc(v, func(c rune) bool { return c == ' ' || c == ',' }) {
			if k, x, ok := strings.Cut(f, "="); ok {
				out[k] = x
			}
		}
	}
	return out
}
