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

// The README's tier table and the configuration reference match the code.
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
	config := readDoc(t, "docs/reference/configuration.md")
	for _, k := range settings.Keys {
		if !strings.Contains(config, "| `"+settings.Namespace+":"+k.Name+"` |") {
			t.Errorf("docs/reference/configuration.md's table lacks nano:%s", k.Name)
		}
	}
}

// readDoc returns a file of the repository (path from its root).
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The environment reference documents every NANO_* variable that
// services/contract declares (in any of its files), and at least the
// ingest, search, api and backup ones of envconfig.go.
func TestREADMEDocumentsServiceVariables(t *testing.T) {
	env := readDoc(t, "docs/reference/environment.md")
	files, err := filepath.Glob("../services/contract/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	names := regexp.MustCompile(`= "(NANO_[A-Z0-9_]+)"`).FindAllStringSubmatch(src.String(), -1)
	ingestEtc := regexp.MustCompile(`^(NANO_(INGEST|SEARCH|API|BACKUP)_[A-Z_]+|NANO_TOKEN_CACHE_TTL)$`)
	n := 0
	for _, m := range names {
		if ingestEtc.MatchString(m[1]) {
			n++
		}
		if !strings.Contains(env, "| `"+m[1]+"` |") {
			t.Errorf("docs/reference/environment.md does not document %s", m[1])
		}
	}
	if n < 20 {
		t.Fatalf("found only %d ingest/search/api/backup variables in services/contract", n)
	}
}

// The policy-rule reference lists every rule with its level.
func TestREADMEListsEveryPolicyRule(t *testing.T) {
	table := readDoc(t, "docs/reference/policy-rules.md")
	ids := map[string]bool{}
	for _, r := range rules.All() {
		ids[r.ID] = true
		if !strings.Contains(table, "| `"+r.ID+"` | "+string(r.Level)+" |") {
			t.Errorf("docs/reference/policy-rules.md lacks %s (%s)", r.ID, r.Level)
		}
	}
	// The policy pack's page details every rule, and only those.
	detailed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| ").FindAllStringSubmatch(readDoc(t, "docs/security/policy-pack.md"), -1) {
		detailed[m[1]] = true
		if !ids[m[1]] {
			t.Errorf("docs/security/policy-pack.md details %s, which is no rule of policy/rules", m[1])
		}
	}
	for id := range ids {
		if !detailed[id] {
			t.Errorf("docs/security/policy-pack.md does not say what %s looks at", id)
		}
	}
}

// The layout page (docs/develop/layout.md) names every package directory,
// and every directory it names exists.
func TestREADMELayoutMatchesTheTree(t *testing.T) {
	layout := readDoc(t, "docs/develop/layout.md")
	_, after, ok := strings.Cut(layout, "# Repository layout")
	if !ok {
		t.Fatal("docs/develop/layout.md has no \"# Repository layout\" heading")
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)(?:^|[\s(,])([a-z0-9]+)/`).FindAllStringSubmatch(block, -1) {
		named[m[1]] = true
	}
	dirs := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
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
				t.Errorf("docs/develop/layout.md does not name %s/ (holds %s)", dir, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range named {
		if !dirs[name] {
			t.Errorf("docs/develop/layout.md names %s/, which is not in the tree", name)
		}
	}
}

// The service pages name the services' ports as services/contract
// defines them, and the Compose host's page Prometheus's scrape targets.
func TestREADMEPortsAreTheContracts(t *testing.T) {
	p := contract.Ports
	for what, want := range map[string][2]string{
		"ingest HTTP":       {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** `POST /v1/events`", p.IngestHTTP)},
		"ingest HEC":        {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** Splunk HEC", p.IngestHEC)},
		"ingest native":     {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** Vector native", p.IngestNative)},
		"ingest OTLP":       {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** OTLP/gRPC", p.IngestOTLP)},
		"ingest syslog TLS": {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** syslog over TLS", p.IngestSyslogTLS)},
		"ingest syslog":     {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** plain syslog", p.IngestSyslog)},
		"ingest metrics":    {"docs/reference/ingest-api.md", fmt.Sprintf("**%d** `/metrics`", p.IngestMetrics)},
		"api":               {"docs/reference/api.md", fmt.Sprintf("Port **%d**; every replica serves the REST API", p.API)},
		"search":            {"docs/reference/search-api.md", fmt.Sprintf("Port **%d**; stateless (any replica", p.Search)},
		"web":               {"docs/reference/web-ui.md", fmt.Sprintf("Port **%d**; stateless; the analyst UI", p.Web)},
		"Prometheus scrape": {"docs/deploy/compose-host.md", fmt.Sprintf("api:%d, web:%d, search:%d, ingest:%d, postgres-exporter:%d", p.API, p.WebOps, p.Search, p.IngestMetrics, p.PostgresExporter)},
	} {
		if !strings.Contains(readDoc(t, want[0]), want[1]) {
			t.Errorf("%s does not give the %s port as %q", want[0], what, want[1])
		}
	}
}

// Getting started lists every stack output the program exports, and the
// docs name no output the program does not export.
func TestREADMEOutputsAreTheProgramsExports(t *testing.T) {
	src := readDoc(t, "stacks/program/program.go")
	exports := map[string]bool{}
	for _, m := range regexp.MustCompile(`ctx\.Export\("([A-Za-z]+)"`).FindAllStringSubmatch(src, -1) {
		exports[m[1]] = true
	}
	if len(exports) < 15 {
		t.Fatalf("found only %d exports in stacks/program/program.go", len(exports))
	}
	page := readDoc(t, "docs/getting-started.md")
	_, outputs, ok := strings.Cut(page, "Outputs (every tier")
	if !ok {
		t.Fatal("docs/getting-started.md has no \"Outputs (every tier\" paragraph")
	}
	outputs, _, _ = strings.Cut(outputs, "\n\n")
	for name := range exports {
		if !strings.Contains(outputs, "`"+name+"`") {
			t.Errorf("docs/getting-started.md's outputs do not name %s", name)
		}
	}
	// "stack output X" and "the output X" name real outputs everywhere.
	re := regexp.MustCompile("(?:stack output|the output|output) `([a-z][A-Za-z]+)`")
	for _, f := range markdownFiles(t) {
		for _, m := range re.FindAllStringSubmatch(readDoc(t, f), -1) {
			if !exports[m[1]] {
				t.Errorf("%s calls %s a stack output; the program exports no such output", f, m[1])
			}
		}
	}
}
