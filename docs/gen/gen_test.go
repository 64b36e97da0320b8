package gen

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nanosiem/nano/policy/rules"
	"github.com/nanosiem/nano/stacks/model/settings"
)

// Every key is a row, with its type, default and description; a pipe in a
// description cannot break the table.
func TestConfigurationHasEveryKey(t *testing.T) {
	t.Parallel()
	page := string(Configuration())
	for _, k := range settings.Keys {
		row := "| `" + settings.Namespace + ":" + k.Name + "` |"
		i := strings.Index(page, row)
		if i < 0 {
			t.Errorf("no row for nano:%s", k.Name)
			continue
		}
		line, _, _ := strings.Cut(page[i:], "\n")
		if !strings.Contains(line, cell(k.Description)) {
			t.Errorf("nano:%s's row lacks its description: %s", k.Name, line)
		}
		if k.Secret && !strings.Contains(line, "| secret") {
			t.Errorf("nano:%s is secret; its row says %s", k.Name, line)
		}
		if k.Required && !strings.Contains(line, "| required |") {
			t.Errorf("nano:%s is required; its row says %s", k.Name, line)
		}
		if strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 5 {
			t.Errorf("nano:%s's row does not have 4 cells: %s", k.Name, line)
		}
	}
	if got := cell("a | b\n  c"); got != `a \| b c` {
		t.Errorf("cell = %q", got)
	}
}

// Every rule is a row with its level and remediation.
func TestPolicyRulesHasEveryRule(t *testing.T) {
	t.Parallel()
	page := string(PolicyRules())
	for _, r := range rules.All() {
		if !strings.Contains(page, "| `"+r.ID+"` | "+string(r.Level)+" | "+cell(r.Description)+" | "+cell(r.Remediation)+" |") {
			t.Errorf("no complete row for %s", r.ID)
		}
	}
}

// The environment page lists every NANO_* constant of the real contract
// exactly once, each with a meaning.
func TestEnvironmentHasEveryContractVariable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", ContractDir)
	page, err := Environment(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	want := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`= "(NANO_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(b), -1) {
			want[m[1]] = true
		}
	}
	if len(want) < 80 {
		t.Fatalf("found only %d variables in %s", len(want), dir)
	}
	for v := range want {
		if n := strings.Count(string(page), "| `"+v+"` |"); n != 1 {
			t.Errorf("%s has %d rows", v, n)
		}
	}
	for _, line := range strings.Split(string(page), "\n") {
		if strings.HasPrefix(line, "| `NANO_") && strings.HasSuffix(line, "|  |") {
			t.Errorf("a variable without a meaning (comment it in %s): %s", ContractDir, line)
		}
	}
}

// How comments reach rows: a spec's own comment, a line comment, a single
// declaration's doc, a _FILE variable's plain one, an earlier comment
// naming the constant, the block's text; other constants are not rows.
func TestVariablesTakeTheCommentsThatCoverThem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := `package contract

// Shared.
const (
	// A is the first.
	A = "NANO_A"
	B = "NANO_B" // the second
	// C and D come together.
	C = "NANO_C"
	D = "NANO_D"
	AFile = "NANO_A_FILE"
	E = "NANO_E"
	Path = "/healthz"
	User = "nano_ingest"
)

// F alone.
const F = "NANO_F"
`
	if err := os.WriteFile(filepath.Join(dir, "envconfig.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	groups, err := Variables(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range groups {
		for _, v := range g.Vars {
			got[v.Name] = v.Doc
		}
	}
	want := map[string]string{
		"NANO_A":      "A is the first.",
		"NANO_B":      "the second",
		"NANO_C":      "C and D come together.",
		"NANO_D":      "See `NANO_C`.",
		"NANO_A_FILE": "A file holding `NANO_A`'s value, read when `NANO_A` is unset.",
		"NANO_E":      "See the text above the table.",
		"NANO_F":      "F alone.",
	}
	if len(got) != len(want) {
		t.Errorf("variables %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	if len(groups) != 2 || groups[0].Doc != "Shared." {
		t.Errorf("groups %+v", groups)
	}
}
