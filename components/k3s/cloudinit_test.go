package k3s

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/components/hostguard"
)

var update = flag.Bool("update", false, "rewrite testdata/cloud-init.yaml")

func pem(kind, body string) string {
	return "-----BEGIN " + kind + "-----\n" + body + "\n-----END " + kind + "-----\n"
}

var testCAs = CAs{
	ServerCert: pem("CERTIFICATE", "server"), ServerKey: pem("EC PRIVATE KEY", "serverkey"),
	ClientCert: pem("CERTIFICATE", "client"), ClientKey: pem("EC PRIVATE KEY", "clientkey"),
	RequestHeaderCert: pem("CERTIFICATE", "rh"), RequestHeaderKey: pem("EC PRIVATE KEY", "rhkey"),
}

type cloudConfig struct {
	Packages   []string                                      `yaml:"packages"`
	WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
	Runcmd     [][]string                                    `yaml:"runcmd"`
}

func parse(t *testing.T, b []byte) cloudConfig {
	t.Helper()
	var cfg cloudConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (c cloudConfig) file(t *testing.T, path string) string {
	t.Helper()
	for _, f := range c.WriteFiles {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("the user data writes no %s", path)
	return ""
}

func TestCloudInitGolden(t *testing.T) {
	t.Parallel()
	got, err := CloudInit(Params{PublicIP: "203.0.113.7", CAs: testCAs})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/cloud-init.yaml", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/cloud-init.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("cloud-init differs from testdata/cloud-init.yaml; review and run go test ./components/k3s -update\n%s", got)
	}
	// cloud-init's own validator accepts it (Debian's cloud-init, installed
	// by tests/setup).
	ud := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(ud, got, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cloud-init", "schema", "--config-file", ud).CombinedOutput(); err != nil {
		t.Errorf("cloud-init schema refuses the user data: %v\n%s", err, out)
	}
	cfg := parse(t, got)
	keys := 0
	for _, f := range cfg.WriteFiles {
		if strings.HasPrefix(f.Path, TLSDir+"/") && strings.HasSuffix(f.Path, ".key") {
			keys++
			if f.Permissions != "0600" {
				t.Errorf("%s has mode %s", f.Path, f.Permissions)
			}
		}
	}
	if keys != 3 {
		t.Errorf("%d CA keys, want 3", keys)
	}
	if !slices.Contains(cfg.Packages, hostguard.Package) {
		t.Errorf("packages %v: the guard needs %s", cfg.Packages, hostguard.Package)
	}
	if cfg.file(t, hostguard.RulesetPath) != hostguard.Ruleset() {
		t.Error("the guard's ruleset differs from hostguard.Ruleset()")
	}
	if unit := cfg.file(t, hostguard.UnitPath); !strings.Contains(unit, "Before=network-pre.target k3s.service") || !strings.Contains(unit, "RequiredBy=k3s.service") {
		t.Errorf("the guard unit is not ordered before k3s and required by it:\n%s", unit)
	}
	install := cfg.file(t, InstallScript)
	for _, want := range []string{Pinned.BinaryURL, Pinned.ScriptURL, Pinned.BinarySHA256, Pinned.ScriptSHA256, "INSTALL_K3S_SKIP_DOWNLOAD=true", "--tls-san 203.0.113.7"} {
		if !strings.Contains(install, want) {
			t.Errorf("the install script lacks %q", want)
		}
	}
	if regexp.MustCompile(`\|\s*(sudo\s+)?(sh|bash)\b`).Match(got) || strings.Contains(string(got), "get.k3s.io") {
		t.Error("the user data pipes a download into a shell")
	}
}

// The guard is loaded before k3s is installed (so before any pod starts),
// and the scrub is queued after the install.
func TestCloudInitOrder(t *testing.T) {
	t.Parallel()
	got, err := CloudInit(Params{PublicIP: "203.0.113.7", CAs: testCAs})
	if err != nil {
		t.Fatal(err)
	}
	cmds := parse(t, got).Runcmd
	at := func(want ...string) int {
		for i, c := range cmds {
			if slices.Equal(c, want) {
				return i
			}
		}
		t.Fatalf("runcmd %v has no %v", cmds, want)
		return -1
	}
	guard, install := at("systemctl", "enable", "--now", hostguard.UnitName), at(InstallScript)
	scrub := at("systemctl", "start", "--no-block", ScrubUnit)
	if !(at("systemctl", "daemon-reload") < guard && guard < install && install < scrub) {
		t.Errorf("runcmd order %v: want daemon-reload, the guard, the install, then the scrub", cmds)
	}
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// The install script, run with stand-ins for curl, install, chmod and the
// installer: a download that matches its pinned digest is installed and
// the installer runs on it without downloading; a tampered binary or
// script stops it before anything is installed or run.
func TestInstallScriptChecksDigests(t *testing.T) {
	t.Parallel()
	binary, script := []byte("k3s binary "+Pinned.Version), []byte("#!/bin/sh\necho \"installer $INSTALL_K3S_SKIP_DOWNLOAD $*\" >> \"$NANO_LOG\"\n")
	rel := Release{Version: Pinned.Version, BinaryURL: "https://downloads.example/k3s", ScriptURL: "https://downloads.example/install.sh",
		BinarySHA256: sum(binary), ScriptSHA256: sum(script)}
	for _, c := range []struct {
		name            string
		binary, script  []byte
		ok              bool
		installedBinary bool
	}{
		{"as pinned", binary, script, true, true},
		{"tampered binary", []byte("evil k3s"), script, false, false},
		{"tampered script", binary, []byte("#!/bin/sh\necho pwned >> \"$NANO_LOG\"\n"), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			serve, bin := filepath.Join(dir, "serve"), filepath.Join(dir, "bin")
			for _, d := range []string{serve, bin} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write := func(path string, b []byte, mode os.FileMode) {
				if err := os.WriteFile(path, b, mode); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(serve, "k3s"), c.binary, 0o644)
			write(filepath.Join(serve, "install.sh"), c.script, 0o644)
			log := filepath.Join(dir, "log")
			// curl -o FILE URL: copy the served file named by the URL's
			// last element; install and chmod: record what would happen.
			write(filepath.Join(bin, "curl"), []byte(`#!/bin/sh
out= url=
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift 2;; --proto|--proto-redir|--retry|--max-time) shift 2;; -*) shift;; *) url=$1; shift;; esac; done
cp "$NANO_SERVE/${url##*/}" "$out"
`), 0o755)
			write(filepath.Join(bin, "install"), []byte("#!/bin/sh\necho \"install $*\" >> \"$NANO_LOG\"\n"), 0o755)
			write(filepath.Join(bin, "chmod"), []byte("#!/bin/sh\necho \"chmod $*\" >> \"$NANO_LOG\"\n"), 0o755)
			write(log, nil, 0o644)
			cmd := exec.Command("sh", "-c", installScript(rel, "203.0.113.7"))
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "NANO_SERVE="+serve, "NANO_LOG="+log)
			out, err := cmd.CombinedOutput()
			logged, _ := os.ReadFile(log)
			if c.ok != (err == nil) {
				t.Fatalf("exit %v, want success %v\n%s\nlog:\n%s", err, c.ok, out, logged)
			}
			if !c.ok && !strings.Contains(string(out), "does not match its pinned SHA-256; nothing was installed") {
				t.Errorf("the refusal does not say why: %s", out)
			}
			if got := strings.Contains(string(logged), "install -m 0755"); got != c.installedBinary {
				t.Errorf("binary installed: %v, want %v\n%s", got, c.installedBinary, logged)
			}
			if c.ok && !strings.Contains(string(logged), "installer true server --tls-san 203.0.113.7") {
				t.Errorf("the installer did not run on the checked binary without downloading:\n%s", logged)
			}
			if !c.ok && strings.Contains(string(logged), "installer") || strings.Contains(string(logged), "pwned") {
				t.Errorf("a tampered download ran:\n%s", logged)
			}
		})
	}
}

// The scrub removes every copy cloud-init keeps of the user data, disables
// cloud-init for later boots and leaves k3s' keys in place, root's only.
func TestScrubRemovesTheUserDataCopies(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	inst := filepath.Join(root, "var/lib/cloud/instances/12345678")
	secretFiles := []string{"user-data.txt", "user-data.txt.i", "cloud-config.txt", "obj.pkl", "scripts/runcmd"}
	keep := []string{"sem/config_runcmd", "datasource"}
	for _, f := range append(append([]string{}, secretFiles...), keep...) {
		p := filepath.Join(inst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(testCAs.ClientKey), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"run/cloud-init/instance-data-sensitive.json", "run/cloud-init/combined-cloud-config.json", strings.TrimPrefix(TLSDir, "/") + "/client-ca.key"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(testCAs.ClientKey), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", scrubScript)
	cmd.Env = append(os.Environ(), "NANO_ROOT="+root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scrub: %v\n%s", err, out)
	}
	var left []string
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("clientkey")) {
				left = append(left, strings.TrimPrefix(p, root))
			}
		}
		return nil
	})
	wantLeft := []string{TLSDir + "/client-ca.key", "/var/lib/cloud/instances/12345678/datasource", "/var/lib/cloud/instances/12345678/sem/config_runcmd"}
	slices.Sort(left)
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("after the scrub the key is in %v, want only %v (k3s' own and the test's decoys)", left, wantLeft)
	}
	if _, err := os.Stat(filepath.Join(root, CloudInitDisabled)); err != nil {
		t.Errorf("cloud-init is not disabled for later boots: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, TLSDir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("k3s' TLS directory: %v %v, want mode 0700", fi.Mode(), err)
	}
}

func TestCloudInitRejectsBadInput(t *testing.T) {
	t.Parallel()
	if _, err := CloudInit(Params{PublicIP: "not-an-ip", CAs: testCAs}); err == nil {
		t.Error("accepted a bad IP")
	}
	cas := testCAs
	cas.ClientKey = ""
	if _, err := CloudInit(Params{PublicIP: "203.0.113.7", CAs: cas}); err == nil || !strings.Contains(err.Error(), "client-ca.key is not PEM") {
		t.Errorf("accepted a missing key: %v", err)
	}
	for _, r := range []Release{
		{Version: Pinned.Version, BinaryURL: Pinned.BinaryURL, ScriptURL: Pinned.ScriptURL, BinarySHA256: "", ScriptSHA256: Pinned.ScriptSHA256},
		{Version: Pinned.Version, BinaryURL: "http://insecure.example/k3s", ScriptURL: Pinned.ScriptURL, BinarySHA256: Pinned.BinarySHA256, ScriptSHA256: Pinned.ScriptSHA256},
		{Version: Pinned.Version, BinaryURL: Pinned.BinaryURL, ScriptURL: "https://x.example/a'$(reboot)", BinarySHA256: Pinned.BinarySHA256, ScriptSHA256: Pinned.ScriptSHA256},
		{Version: "latest", BinaryURL: Pinned.BinaryURL, ScriptURL: Pinned.ScriptURL, BinarySHA256: Pinned.BinarySHA256, ScriptSHA256: Pinned.ScriptSHA256},
	} {
		if _, err := CloudInit(Params{PublicIP: "203.0.113.7", CAs: testCAs, Release: r}); err == nil {
			t.Errorf("accepted release %+v", r)
		}
	}
}
