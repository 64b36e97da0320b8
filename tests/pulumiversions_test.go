package tests

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/nanosiem/nano/tests/standinproviders"
)

// requires returns a go.mod's requirements (module path -> version) and
// replacements (old path -> new version).
func requires(t *testing.T, path string) (map[string]string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, repl := map[string]string{}, map[string]string{}
	for _, r := range f.Require {
		req[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range f.Replace {
		repl[r.Old.Path] = r.New.Version
	}
	return req, repl
}

// setupVar returns tests/setup's NAME=value.
func setupVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("setup")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("tests/setup sets no %s", name)
	}
	return string(m[1])
}

// reProviderSDK matches a provider's Go SDK module; its plugin has the name
// the module is named after (pulumi-<name>).
var reProviderSDK = regexp.MustCompile(`^github\.com/[a-z0-9-]+/pulumi-([a-z0-9]+)/sdk(/v[0-9]+)?$`)

// The minimum Pulumi CLI of the install instructions
// (docs/getting-started.md) is the CLI the tests build (tests/setup, from
// go.mod's pkg/v3) and the SDK nano is built with; its install line for
// users names that CLI and, for every provider SDK in go.mod, the plugin
// version that SDK asks the engine for, and nothing else. The rig's
// stand-ins report go.mod's random and tls versions.
func TestREADMEPulumiVersionsMatchTheBuild(t *testing.T) {
	// The install instructions are in docs/getting-started.md; every
	// page (README.md and docs/**/*.md) names only the CLI the tests build.
	readme := readDoc(t, "docs/getting-started.md")
	pages := map[string]string{}
	for _, f := range markdownFiles(t) {
		pages[f] = readDoc(t, f)
	}
	cli := setupVar(t, "PULUMI_VERSION")
	mod, _ := requires(t, "../go.mod")
	for what, v := range map[string]string{
		"go.mod's github.com/pulumi/pulumi/sdk/v3": mod["github.com/pulumi/pulumi/sdk/v3"],
		"go.mod's github.com/pulumi/pulumi/pkg/v3": mod["github.com/pulumi/pulumi/pkg/v3"],
	} {
		if v != cli {
			t.Errorf("%s is %q; tests/setup builds the CLI %s", what, v, cli)
		}
	}

	minimum := regexp.MustCompile(`Pulumi CLI\]\([^)]*\) (v[0-9.]+) or newer`).FindAllStringSubmatch(readme, -1)
	if len(minimum) != 1 || minimum[0][1] != cli {
		t.Errorf("docs/getting-started.md's minimum Pulumi CLI (\"[Pulumi CLI](...) vX.Y.Z or newer\", once) is %v; the tests build %s", minimum, cli)
	}
	install := regexp.MustCompile(`get\.pulumi\.com \| sh -s -- --version ([0-9.]+)`).FindAllStringSubmatch(readme, -1)
	if len(install) != 1 || "v"+install[0][1] != cli {
		t.Errorf("docs/getting-started.md's install line installs %v; want --version %s", install, strings.TrimPrefix(cli, "v"))
	}
	for f, page := range pages {
		for _, v := range regexp.MustCompile(`(?:Pulumi CLI|pulumi CLI|CLI) (v3\.[0-9]+\.[0-9]+)`).FindAllStringSubmatch(page, -1) {
			if v[1] != cli {
				t.Errorf("%s names the CLI %s; the tests build %s", f, v[1], cli)
			}
		}
	}

	plugins := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^pulumi plugin install resource ([a-z0-9-]+) (v\S+)`).FindAllStringSubmatch(readme, -1) {
		plugins[m[1]] = m[2]
	}
	sdks := map[string]string{}
	for path, v := range mod {
		if m := reProviderSDK.FindStringSubmatch(path); m != nil {
			sdks[m[1]] = v
		}
	}
	if len(sdks) < 8 {
		t.Fatalf("go.mod has only these provider SDKs: %v", sdks)
	}
	for name, v := range sdks {
		if plugins[name] != v {
			t.Errorf("docs/getting-started.md: want `pulumi plugin install resource %s %s` (go.mod's SDK), have %q", name, v, plugins[name])
		}
	}
	for name := range plugins {
		if _, ok := sdks[name]; !ok {
			t.Errorf("docs/getting-started.md installs the plugin %s, which no SDK in go.mod asks for", name)
		}
	}
	// Any other page that shows an install line or a plugin install shows
	// the same versions.
	for f, page := range pages {
		for _, m := range regexp.MustCompile(`get\.pulumi\.com \| sh -s -- --version ([0-9.]+)`).FindAllStringSubmatch(page, -1) {
			if "v"+m[1] != cli {
				t.Errorf("%s installs the CLI %s; the tests build %s", f, m[1], cli)
			}
		}
		for _, m := range regexp.MustCompile(`(?m)^pulumi plugin install resource ([a-z0-9-]+) (v\S+)`).FindAllStringSubmatch(page, -1) {
			if sdks[m[1]] != m[2] {
				t.Errorf("%s installs plugin %s %s; go.mod's SDK asks for %q", f, m[1], m[2], sdks[m[1]])
			}
		}
	}

	for name, v := range map[string]string{"random": standinproviders.RandomVersion, "tls": standinproviders.TLSVersion} {
		if "v"+v != sdks[name] {
			t.Errorf("the %s stand-in reports %s; go.mod's SDK is %s", name, v, sdks[name])
		}
	}
}
