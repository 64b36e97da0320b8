package tests

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nanosiem/nano/policy/rules"
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
	src, err := os.ReadFile("../services/envconfig/contract.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"(NANO_(INGEST|SEARCH|API)_[A-Z_]+|NANO_TOKEN_CACHE_TTL)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d variables in contract.go", len(names))
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
