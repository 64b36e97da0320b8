// Package stackfile reads the project's Pulumi.yaml and a stack's
// stacks/Pulumi.<stack>.yaml the way the Pulumi CLI does for a program's
// config: project defaults first, the stack's values over them, arrays and
// objects as JSON. `go run . plan` and the tests use it to run the program
// with a stack's real configuration without a Pulumi backend.
package stackfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Project is the part of Pulumi.yaml this package reads.
type Project struct {
	Name           string                   `yaml:"name"`
	Runtime        any                      `yaml:"runtime"`
	StackConfigDir string                   `yaml:"stackConfigDir"`
	Config         map[string]ProjectConfig `yaml:"config"`
}

// ProjectConfig is one key's declaration in Pulumi.yaml.
type ProjectConfig struct {
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	Default     any    `yaml:"default"`
	Secret      bool   `yaml:"secret"`
	Items       *struct {
		Type string `yaml:"type"`
	} `yaml:"items"`
}

// Config is a stack's resolved configuration: full keys ("nano:tier") to the
// string form a Pulumi program receives.
type Config struct {
	Values map[string]string
	// Secrets lists keys whose values are encrypted in the stack file; their
	// values are not available offline and are left empty.
	Secrets []string
}

// LoadProject reads dir/Pulumi.yaml.
func LoadProject(dir string) (Project, error) {
	var p Project
	b, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		return p, fmt.Errorf("cannot read project file: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("cannot parse %s: %w", filepath.Join(dir, "Pulumi.yaml"), err)
	}
	if p.Name == "" {
		return p, fmt.Errorf("%s has no name", filepath.Join(dir, "Pulumi.yaml"))
	}
	return p, nil
}

// Stacks lists the stack names that have a file in the project's stack
// config directory, sorted.
func Stacks(dir string) ([]string, error) {
	p, err := LoadProject(dir)
	if err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(filepath.Join(dir, p.StackConfigDir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "Pulumi."), ".yaml"))
	}
	sort.Strings(out)
	return out, nil
}

// Load resolves the configuration of stack in the project at dir.
func Load(dir, stack string) (Project, Config, error) {
	p, err := LoadProject(dir)
	if err != nil {
		return p, Config{}, err
	}
	cfg := Config{Values: map[string]string{}}
	for key, decl := range p.Config {
		full := key
		if !strings.Contains(key, ":") {
			full = p.Name + ":" + key
		}
		if decl.Default == nil {
			continue
		}
		v, err := render(decl.Default)
		if err != nil {
			return p, cfg, fmt.Errorf("Pulumi.yaml: default of %s: %w", full, err)
		}
		cfg.Values[full] = v
	}
	path := filepath.Join(dir, p.StackConfigDir, "Pulumi."+stack+".yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return p, cfg, fmt.Errorf("cannot read stack %q: %w", stack, err)
	}
	var sf struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &sf); err != nil {
		return p, cfg, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	for key, v := range sf.Config {
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			cfg.Secrets = append(cfg.Secrets, key)
			cfg.Values[key] = ""
			continue
		}
		s, err := render(v)
		if err != nil {
			return p, cfg, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		cfg.Values[key] = s
	}
	sort.Strings(cfg.Secrets)
	return p, cfg, nil
}

// render turns a YAML value into the string a Pulumi program receives:
// scalars as text, lists and maps as JSON.
func render(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any, map[string]any:
		b, err := json.Marshal(x)
		return string(b), err
	default:
		return fmt.Sprint(x), nil
	}
}
