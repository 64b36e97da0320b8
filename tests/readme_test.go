package tests

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nanosiem/nano/policy/rules"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

var components = map[tier.Kind]string{
	tier.Compose: "ComposeHost", tier.SinglePool: "SinglePoolCluster", tier.HA: "HACluster",
	tier.MultiPool: "MultiPoolCluster", tier.Managed: "ManagedEnterprise",
}

// The README's tier table and configuration reference match the code.
func TestREADMEMatchesCatalogAndKeys(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range tier.All() {
		gb, eps, ha := fmt.Sprint(s.GBPerDay), fmt.Sprint(s.EPS), "no"
		if s.GBPerDay == 0 {
			gb = "custom"
		}
		if s.EPS == 0 {
			eps = "unlimited"
		}
		if s.HA {
			ha = "yes"
		}
		var providers []string
		for _, p := range s.Providers {
			providers = append(providers, string(p))
		}
		row := fmt.Sprintf("| %s | %s | %s | %d | %s | %s | %s |", s.Name, gb, eps, s.Replicas, ha,
			strings.Join(providers, ", "), components[s.Kind])
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the tier row\n%s", row)
		}
	}
	for _, k := range settings.Keys {
		if !strings.Contains(readme, "| `"+settings.Namespace+":"+k.Name+"` |") {
			t.Errorf("README's configuration table lacks nano:%s", k.Name)
		}
	}
}

// Every service variable the README should document is in it.
func TestREADMEDocumentsServiceVariables(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../services/contract/envconfig.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"(NANO_(INGEST|SEARCH|API|BACKUP)_[A-Z_]+|NANO_TOKEN_CACHE_TTL)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d variables in envconfig.go", len(names))
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n[1]+"`") {
			t.Errorf("README does not document %s", n[1])
		}
	}
}

// The README lists every policy rule.
func TestREADMEListsEveryPolicyRule(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.All() {
		if !strings.Contains(string(readme), "| `"+r.ID+"` | "+string(r.Level)+" |") {
			t.Errorf("README's policy table lacks %s (%s)", r.ID, r.Level)
		}
	}
}

// The README's layout section names every package directory, and every
// directory it names exists.
func TestREADMELayoutMatchesTheTree(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Repository layout")
	if !ok {
		t.Fatal("README has no layout section")
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)(?:^|[\s(,])([a-z0-9]+)/`).FindAllStringSubmatch(block, -1) {
		named[m[1]] = true
	}
	dirs := map[string]bool{}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs[d.Name()] = true
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".." || d.Name() == "testdata" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dir := filepath.Base(filepath.Dir(path))
			if filepath.Dir(path) != ".." && !named[dir] {
				t.Errorf("README's layout does not name %s/ (holds %s)", dir, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range named {
		if !dirs[name] {
			t.Errorf("README's layout names %s/, which is not in the tree", name)
		}
	}
}

// The README names the services' ports as services/contract defines them.
func TestREADMEPortsAreTheContracts(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	p := contract.Ports
	for what, want := range map[string]string{
		"ingest HTTP":       fmt.Sprintf("**%d** `POST /v1/events`", p.IngestHTTP),
		"ingest HEC":        fmt.Sprintf("**%d** Splunk HEC", p.IngestHEC),
		"ingest native":     fmt.Sprintf("**%d** Vector native", p.IngestNative),
		"ingest metrics":    fmt.Sprintf("**%d** `/metrics`", p.IngestMetrics),
		"api":               fmt.Sprintf("Port **%d**; every replica serves the REST API", p.API),
		"search":            fmt.Sprintf("Port **%d**; stateless (any replica", p.Search),
		"web":               fmt.Sprintf("Port **%d**; stateless; the analyst UI", p.Web),
		"Prometheus scrape": fmt.Sprintf("api:%d, web:%d, search:%d, ingest:%d, postgres-exporter:%d", p.API, p.WebOps, p.Search, p.IngestMetrics, p.PostgresExporter),
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README does not give the %s port as %q", what, want)
		}
	}
}
