package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/provision/pulumicli"
	"github.com/nanosiem/nano/tests/harness"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `nano serve` on a machine without the Pulumi CLI: it starts building the
// pinned version into the cache (here with a stand-in go that waits for a
// file before it writes a CLI), prints the URL, where the token is, that
// the CLI is being built and a first request, answers that request, and
// refuses operations with 503 saying the CLI is being prepared until the
// build says it is ready.
func TestServeBuildsTheCLIAndPrintsABanner(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	goDir := filepath.Join(dir, "gobin")
	if err := os.MkdirAll(goDir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
while [ ! -e ` + release + ` ]; do sleep 0.05; done
out=
while [ $# -gt 0 ]; do if [ "$1" = -o ]; then out=$2; fi; shift; done
printf '#!/bin/sh\n[ "$1" = version ] && echo ` + pulumicli.Version + `\n' > "$out"
/bin/chmod 755 "$out"
`
	if err := os.WriteFile(filepath.Join(goDir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache, data := filepath.Join(dir, "cache"), filepath.Join(dir, "data")
	t.Setenv("PATH", goDir)
	t.Setenv("NANO_CACHE", cache)
	t.Setenv("NANO_PULUMI_ROOT", "")
	t.Setenv("NANO_PROVISION_TOKEN", "")
	t.Setenv("NANO_PROVISION_TOKEN_FILE", "")
	addr := harness.FreeAddr(t)

	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- serve(&out, []string{"--listen", addr, "--data-dir", data, "--isolation", "none"}) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
			<-done
		}
	})
	waitOut := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), what); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("serve did not print %q:\n%s", what, out.String())
			}
		}
	}
	waitOut("Try:")
	tokenFile := filepath.Join(data, "api-token")
	root := pulumicli.Root(cache, pulumicli.Version)
	for _, want := range []string{
		"nano provisioning endpoint on http://" + addr,
		"API token:  in " + tokenFile,
		"Pulumi CLI: " + pulumicli.Version + ", being built into " + root + "/bin/pulumi",
		`Try:        curl -H "Authorization: Bearer $(cat ` + tokenFile + `)" http://` + addr + "/v1/deployments",
		"building the Pulumi CLI " + pulumicli.Version + " from source into " + root,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve's output has no %q:\n%s", want, out.String())
		}
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), resp.Header
	}
	if code, body, _ := call("GET", "/v1/deployments", ""); code != 200 {
		t.Errorf("the banner's request: %d %s", code, body)
	}
	create, _ := json.Marshal(map[string]any{"name": "first", "config": map[string]string{"nano:tier": "hobby", "nano:provider": "hetzner"}})
	code, body, h := call("POST", "/v1/deployments", string(create))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "being prepared") || !strings.Contains(body, "building the Pulumi CLI "+pulumicli.Version) || h.Get("Retry-After") == "" {
		t.Errorf("an operation while the CLI is built: %d %s (Retry-After %q)", code, body, h.Get("Retry-After"))
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitOut("the Pulumi CLI " + pulumicli.Version + " is ready")
	if _, err := os.Stat(filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Errorf("the CLI is not in the cache: %v", err)
	}
	// Now the request gets past the CLI check to the deployment's own
	// validation (a config without its keys: no operation starts).
	if code, body, _ := call("POST", "/v1/deployments", `{"name":"first","config":{}}`); code != http.StatusBadRequest {
		t.Errorf("an operation once the CLI is ready: %d %s, want the config's validation (400)", code, body)
	}
	stopped = true
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A second start finds the CLI the first built (no build, no 503 saying
// it is prepared): the banner names it.
func TestServeReusesTheCachedCLI(t *testing.T) {
	cache := t.TempDir()
	bin := filepath.Join(pulumicli.Root(cache, pulumicli.Version), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "pulumi"), []byte("#!/bin/sh\n[ \"$1\" = version ] && echo "+pulumicli.Version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no go, no pulumi: a build would fail
	t.Setenv("NANO_CACHE", cache)
	var out bytes.Buffer
	c, err := prepareCLI(t.Context(), &out, "", ".", pulumicli.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if c.root != pulumicli.Root(cache, pulumicli.Version) || c.preparing() != nil || !strings.Contains(c.about, filepath.Join(bin, "pulumi")) || out.Len() != 0 {
		t.Errorf("the cached CLI: root %q, preparing %v, about %q, output %q", c.root, c.preparing(), c.about, out.String())
	}
	c, err = prepareCLI(t.Context(), &out, "/opt/pulumi", ".", pulumicli.Builder{})
	if err != nil || c.root != "/opt/pulumi" || c.preparing() != nil {
		t.Errorf("NANO_PULUMI_ROOT is taken as it is: %+v %v", c, err)
	}
}
