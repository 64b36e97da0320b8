// Package pulumicli finds the Pulumi CLI that nano's provisioning endpoint
// runs, or builds it: the same version, the same way and into the same cache
// as tests/setup (which builds github.com/pulumi/pulumi/pkg/v3/cmd/pulumi,
// go.mod's tool, with the osusergo tag, stamped with its version, into
// ${NANO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nano}/pulumi-<version>/bin/pulumi).
//
// The version is Version, which a test holds equal to tests/setup's
// PULUMI_VERSION and go.mod's pkg/v3 and sdk/v3.
package pulumicli

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// SDKModule is the module whose version in go.mod is the CLI's.
	SDKModule = "github.com/pulumi/pulumi/sdk/v3"
	// Package is the CLI's main package (in github.com/pulumi/pulumi/pkg/v3).
	Package = "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
	// versionVar is the variable the CLI reports as its version; without
	// it the Automation API refuses the CLI.
	versionVar = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
	// PkgModule is the CLI's module, which go.mod requires (its tool).
	PkgModule = "github.com/pulumi/pulumi/pkg/v3"
	// Tags are the build tags the CLI is built with: osusergo, so that
	// os/user takes the user from $USER and $HOME when the uid has no
	// passwd entry (a cgo lookup fails then). tests/setup builds the tests
	// and go.mod's other tools with it too, so they share compiled packages.
	Tags = "osusergo"
)

// Version is the Pulumi CLI nano runs and builds. It equals go.mod's
// github.com/pulumi/pulumi/sdk/v3 and pkg/v3 and tests/setup's
// PULUMI_VERSION (TestVersionIsSetupsAndTheModules fails when they part).
const Version = "v3.276.0"

// CacheDir is ${NANO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nano}, as in
// tests/setup.
func CacheDir() (string, error) {
	if d := os.Getenv("NANO_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "nano"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the cache directory (set NANO_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "nano"), nil
}

// Root is the CLI's install root in cache: <cache>/pulumi-<version> (the
// binary is bin/pulumi under it).
func Root(cache, version string) string { return filepath.Join(cache, "pulumi-"+version) }

// Usable says why the CLI at path is not the one nano wants (nil: it is):
// it must report version and be built without cgo or with the osusergo
// tag (a cgo user lookup cannot take the user from $USER and $HOME when
// the uid has no passwd entry, which the endpoint's per-deployment uids
// have not). A binary without Go build information (not built from Go) is
// judged by its version alone, as tests/setup does.
func Usable(ctx context.Context, path, version string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", path, err)
	}
	if got := strings.TrimSpace(string(out)); got != version {
		return fmt.Errorf("%s is %s, not %s", path, firstLine(got), version)
	}
	if info, err := buildinfo.ReadFile(path); err == nil {
		cgo, osusergo := false, false
		for _, s := range info.Settings {
			switch s.Key {
			case "CGO_ENABLED":
				cgo = s.Value == "1"
			case "-tags":
				osusergo = slices.Contains(strings.Split(s.Value, ","), Tags)
			}
		}
		if cgo && !osusergo {
			return fmt.Errorf("%s was built with cgo and without the %s tag", path, Tags)
		}
	}
	return nil
}

// Found is a usable CLI: Root is its install root ("" when it is found on
// PATH, as provision.Config.PulumiRoot takes it), Path the binary.
type Found struct {
	Root, Path string
}

// Find looks for a usable CLI of version on PATH, then in cache. ok is
// false when there is none; why then says what was seen.
func Find(ctx context.Context, cache, version string) (f Found, ok bool, why []string) {
	if p, err := exec.LookPath("pulumi"); err == nil {
		if err := Usable(ctx, p, version); err == nil {
			return Found{Path: p}, true, nil
		} else {
			why = append(why, "on PATH: "+err.Error())
		}
	}
	root := Root(cache, version)
	p := filepath.Join(root, "bin", "pulumi")
	if _, err := os.Stat(p); err != nil {
		why = append(why, "not in the cache "+root)
		return Found{}, false, why
	}
	if err := Usable(ctx, p, version); err != nil {
		why = append(why, "in the cache: "+err.Error())
		return Found{}, false, why
	}
	return Found{Root: root, Path: p}, true, nil
}

// Builder builds the CLI as tests/setup does.
type Builder struct {
	// Checkout is the repository's root (its go.mod has the CLI as a tool).
	Checkout string
	// Cache is the cache directory (CacheDir).
	Cache   string
	Version string
	// Progress receives what the build is doing (a line when it starts,
	// one every Every and one when it ends).
	Progress io.Writer
	// Every is how often the build reports progress (30s).
	Every time.Duration
}

// Build builds the CLI into Root(Cache, Version)/bin/pulumi (written to a
// temporary name and renamed, so a half-written binary is never found)
// and checks that it is usable.
func (b Builder) Build(ctx context.Context) (Found, error) {
	mod := b.Checkout
	if _, err := os.Stat(filepath.Join(mod, "go.mod")); err != nil {
		return Found{}, fmt.Errorf("cannot build the Pulumi CLI %s: go.mod is missing (run nano from its checkout, or put pulumi %s on PATH or set NANO_PULUMI_ROOT): %w",
			b.Version, b.Version, err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return Found{}, fmt.Errorf("cannot build the Pulumi CLI %s: no go on PATH: %w", b.Version, err)
	}
	root := Root(b.Cache, b.Version)
	bin := filepath.Join(root, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return Found{}, fmt.Errorf("cannot build the Pulumi CLI: %w", err)
	}
	tmp := filepath.Join(bin, "pulumi.tmp")
	every := b.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	progress := b.Progress
	if progress == nil {
		progress = io.Discard
	}
	fmt.Fprintf(progress, "nano: building the Pulumi CLI %s from source into %s (about 8 minutes, once; tests/setup builds the same)\n", b.Version, root)
	// -v names each package as it is compiled: counted, as progress. The
	// module's go.sum has the CLI's hashes (it is go.mod's tool), so the
	// build neither changes go.mod nor asks the checksum database.
	cmd := exec.CommandContext(ctx, goBin, "build", "-v", "-tags", Tags, "-o", tmp,
		"-ldflags", "-X "+versionVar+"="+b.Version, Package)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return Found{}, err
	}
	cmd.Stdout = io.Discard
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return Found{}, fmt.Errorf("cannot build the Pulumi CLI: %w", err)
	}
	var packages atomic.Int64
	var tail tailBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if isPackageLine(line) {
				packages.Add(1)
			} else {
				tail.add(line)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			fmt.Fprintf(progress, "nano: still building the Pulumi CLI %s: %s, %d packages compiled\n", b.Version, time.Since(started).Round(time.Second), packages.Load())
		}
	}
	if err := cmd.Wait(); err != nil {
		_ = os.Remove(tmp)
		return Found{}, fmt.Errorf("cannot build the Pulumi CLI %s in %s: %w\n%s", b.Version, mod, err, tail.String())
	}
	path := filepath.Join(bin, "pulumi")
	if err := os.Rename(tmp, path); err != nil {
		return Found{}, fmt.Errorf("cannot install the Pulumi CLI: %w", err)
	}
	if err := Usable(ctx, path, b.Version); err != nil {
		return Found{}, fmt.Errorf("the Pulumi CLI just built is not usable: %w", err)
	}
	fmt.Fprintf(progress, "nano: the Pulumi CLI %s is ready (%s, built in %s)\n", b.Version, path, time.Since(started).Round(time.Second))
	return Found{Root: root, Path: path}, nil
}

// isPackageLine is a line of go build -v: an import path, nothing else.
func isPackageLine(line string) bool {
	return line != "" && !strings.ContainsAny(line, " \t:") && !strings.HasPrefix(line, "#")
}

// tailBuffer keeps the last lines of the build's other output (its errors).
type tailBuffer struct{ lines []string }

func (t *tailBuffer) add(l string) {
	t.lines = append(t.lines, l)
	if len(t.lines) > 40 {
		t.lines = t.lines[len(t.lines)-40:]
	}
}

func (t *tailBuffer) String() string {
	var b bytes.Buffer
	for _, l := range t.lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}
