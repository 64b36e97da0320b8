package pulumicli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/nanosiem/nano/tests/harness"
)

// checkout is the repository's root, from this package's directory.
const checkout = "../../.."

// The version the Go code wants is the one tests/setup builds and go.mod
// requires of Pulumi's pkg (the CLI's module, a tool of go.mod's) and sdk.
func TestVersionIsSetupsAndTheModules(t *testing.T) {
	v := Version
	setup, err := os.ReadFile(filepath.Join(checkout, "tests/setup"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PULUMI_VERSION=(\S+)$`).FindSubmatch(setup)
	if m == nil || string(m[1]) != v {
		t.Errorf("tests/setup's PULUMI_VERSION is %q; nano's build wants %s (go.mod's %s)", m, v, SDKModule)
	}
	// Builder's tag is the one tests/setup adds to GOFLAGS (and checks the
	// cached CLI for), so both build the same CLI from the same cache.
	for _, want := range []string{`GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=` + Tags + `"`, `grep -q -- '-tags=.*` + Tags + `'`} {
		if !strings.Contains(string(setup), want) {
			t.Errorf("tests/setup has no %s; Builder builds with the tag %s", want, Tags)
		}
	}
	path := filepath.Join(checkout, "go.mod")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(f.Tool, func(x *modfile.Tool) bool { return x.Path == Package }) {
		t.Errorf("go.mod has no tool %s (tests/setup and Builder build it from go.mod)", Package)
	}
	for _, mod := range []string{PkgModule, SDKModule} {
		found := false
		for _, r := range f.Require {
			if r.Mod.Path == mod {
				found = true
				if r.Mod.Version != v {
					t.Errorf("%s requires %s %s; pulumicli.Version is %s", path, mod, r.Mod.Version, v)
				}
			}
		}
		if !found {
			t.Errorf("%s does not require %s", path, mod)
		}
	}
}

// fakeGo puts a `go` on a PATH of its own that records how it was run and,
// for `go build -o X`, writes X: a CLI answering `version` with version.
// With fail, it prints an error and exits 1 instead. It waits for the file
// release (when given) before writing, so a test sees the build under way.
func fakeGo(t *testing.T, version string, fail bool, release string) (pathDir, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	script := `#!/bin/sh
{ echo "cwd=$(pwd)"; echo "CGO_ENABLED=$CGO_ENABLED"; echo "GOFLAGS=$GOFLAGS"; for a in "$@"; do echo "arg=$a"; done; } > ` + record + `
echo github.com/pulumi/pulumi/sdk/v3/go/common/version >&2
echo github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
`
	if release != "" {
		script += `while [ ! -e ` + release + ` ]; do sleep 0.05; done
`
	}
	if fail {
		script += "echo 'pkg/foo.go:1: undefined: bar' >&2\nexit 1\n"
	} else {
		script += `out=
while [ $# -gt 0 ]; do if [ "$1" = -o ]; then out=$2; fi; shift; done
printf '#!/bin/sh\n[ "$1" = version ] && echo ` + version + `\n' > "$out"
/bin/chmod 755 "$out"
`
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, record
}

// fakeCLI writes a pulumi into dir that reports version.
func fakeCLI(t *testing.T, dir, version string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pulumi")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n[ \"$1\" = version ] && echo "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// With no CLI anywhere, Build runs go as tests/setup does (in the checkout,
// whose go.mod has the CLI as a tool, with the osusergo tag, -mod=readonly,
// the version stamped, to a temporary name)
// with progress, installs the result into the cache, and Find then finds it
// there; a CLI of another version on PATH is not taken; one of the version
// on PATH is, before the cache.
func TestFindOrBuild(t *testing.T) {
	const v = "v3.999.0"
	ctx := context.Background()
	goDir, record := fakeGo(t, v, false, "")
	other := t.TempDir()
	fakeCLI(t, other, "v3.1.0")
	t.Setenv("PATH", goDir+string(os.PathListSeparator)+other)
	cache := t.TempDir()

	if _, ok, why := Find(ctx, cache, v); ok || !strings.Contains(strings.Join(why, "; "), "is \"v3.1.0\", not "+v) {
		t.Fatalf("found a CLI where there is none of %s: %v", v, why)
	}
	var progress bytes.Buffer
	f, err := Builder{Checkout: checkout, Cache: cache, Version: v, Progress: &progress, Every: time.Millisecond}.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := Root(cache, v)
	if f.Root != root || f.Path != filepath.Join(root, "bin", "pulumi") {
		t.Errorf("built %+v, want it under %s", f, root)
	}
	rec, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := filepath.Abs(checkout)
	for _, want := range []string{"cwd=" + wd, "GOFLAGS=-mod=readonly", "arg=build", "arg=-tags\narg=osusergo",
		"arg=-o\narg=" + filepath.Join(root, "bin", "pulumi.tmp"),
		"arg=-ldflags\narg=-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=" + v,
		"arg=" + Package} {
		if !strings.Contains(string(rec), want+"\n") {
			t.Errorf("go was not run with %q:\n%s", want, rec)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "pulumi.tmp")); err == nil {
		t.Error("the temporary binary is left")
	}
	for _, want := range []string{"building the Pulumi CLI " + v + " from source into " + root, "ready"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress has no %q:\n%s", want, progress.String())
		}
	}

	if got, ok, why := Find(ctx, cache, v); !ok || got != f {
		t.Errorf("the built CLI is not found in the cache: %+v %v", got, why)
	}
	onPath := fakeCLI(t, filepath.Join(t.TempDir(), "bin"), v)
	t.Setenv("PATH", filepath.Dir(onPath)+string(os.PathListSeparator)+goDir)
	if got, ok, _ := Find(ctx, cache, v); !ok || got.Root != "" || got.Path != onPath {
		t.Errorf("the CLI of %s on PATH is not taken first: %+v", v, got)
	}
}

// The build reports progress while it runs, and a failed build says why
// (go's own error) and leaves nothing in the cache.
func TestBuildProgressAndFailure(t *testing.T) {
	const v = "v3.999.1"
	release := filepath.Join(t.TempDir(), "release")
	goDir, _ := fakeGo(t, v, false, release)
	t.Setenv("PATH", goDir)
	var progress lockedBuffer
	done := make(chan error, 1)
	cache := t.TempDir()
	go func() {
		_, err := Builder{Checkout: checkout, Cache: cache, Version: v, Progress: &progress, Every: 20 * time.Millisecond}.Build(context.Background())
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(progress.String(), "still building the Pulumi CLI "+v) || !strings.Contains(progress.String(), "2 packages compiled") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress while building:\n%s", progress.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	goDir, _ = fakeGo(t, v, true, "")
	t.Setenv("PATH", goDir)
	cache = t.TempDir()
	_, err := Builder{Checkout: checkout, Cache: cache, Version: v}.Build(context.Background())
	if err == nil || !strings.Contains(err.Error(), "undefined: bar") || !strings.Contains(err.Error(), "cannot build the Pulumi CLI "+v) {
		t.Fatalf("a failed build: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(Root(cache, v), "bin")); len(entries) != 0 {
		t.Errorf("a failed build left %v", entries)
	}
	if _, err := (Builder{Checkout: t.TempDir(), Cache: cache, Version: v}).Build(context.Background()); err == nil || !strings.Contains(err.Error(), "go.mod is missing") {
		t.Errorf("a build outside the checkout: %v", err)
	}
}

// A CLI built with cgo is not taken unless its os/user is pure Go (the
// osusergo tag; tests/setup rebuilds one without too): real Go binaries,
// built each way, that answer like the CLI.
func TestCgoBuildRefused(t *testing.T) {
	harness.Servers(t) // builds two Go binaries
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal(err)
	}
	const v = "v3.999.2"
	src := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module fakecli\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"" + v + "\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ cgo, tags, want string }{
		{"0", "", ""},
		{"1", "", "built with cgo and without the osusergo tag"},
		{"1", "netgo", "built with cgo and without the osusergo tag"},
		{"1", "netgo,osusergo", ""},
	} {
		bin := filepath.Join(t.TempDir(), "pulumi")
		cmd := exec.Command("go", "build", "-tags="+c.tags, "-o", bin, ".")
		cmd.Dir, cmd.Env = src, append(os.Environ(), "CGO_ENABLED="+c.cgo, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		err := Usable(context.Background(), bin, v)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CGO_ENABLED=%s -tags=%s: %v, want %q", c.cgo, c.tags, err, c.want)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
