package tests

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanosiem/nano/tests/harness"
)

// nanoServe is the provisioning endpoint as users run it: the nano binary
// built from this checkout, `nano serve` on a loopback port with its data
// directory, talked to over HTTP (or HTTPS: useTLS) with its token. It
// runs as root, so each deployment's operations run under a uid of their
// own (--isolation uid): the Pulumi CLI and the plugins on the PATH it is
// given are staged where those uids can run them, and the data directory
// is reachable by them.
type nanoServe struct {
	t                      *testing.T
	bin, addr, token, data string
	// env is added to the process's environment.
	env []string
	// scheme is http or https; client talks to it.
	scheme string
	client *http.Client
}

// nanoServeBuild puts the nano binary of this checkout into dir, built
// with -w and the extra -ldflags given (the kubeconfig test's negative
// control). Each variant is linked once per test process and hard-linked
// into each test's directory: one link takes about 30 CPU-s and 6 GB.
func nanoServeBuild(t *testing.T, dir string, ldflags ...string) string {
	t.Helper()
	src, err := nanoBuilds.get(strings.Join(append([]string{"-w"}, ldflags...), " "))
	if err != nil {
		t.Fatal(err)
	}
	// Both are below os.TempDir, on one file system.
	bin := filepath.Join(dir, "nano")
	if err := os.Link(src, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// nanoBuilds holds the nano binaries this test process built, by -ldflags,
// in a directory TestMain removes.
var nanoBuilds = &builds{}

type builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]*build
}

type build struct {
	once sync.Once
	bin  string
	err  error
}

// get returns the binary built with ldflags, building it on first use
// (other tests wanting it wait).
func (b *builds) get(ldflags string) (string, error) {
	b.mu.Lock()
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "nano-build-")
		if err != nil {
			b.mu.Unlock()
			return "", err
		}
		b.dir, b.bins = dir, map[string]*build{}
	}
	one, ok := b.bins[ldflags]
	if !ok {
		one = &build{bin: filepath.Join(b.dir, "nano-"+strconv.Itoa(len(b.bins)))}
		b.bins[ldflags] = one
	}
	b.mu.Unlock()
	one.once.Do(func() {
		if out, err := exec.Command("go", "build", "-ldflags="+ldflags, "-o", one.bin, "..").CombinedOutput(); err != nil {
			one.err = fmt.Errorf("go build -ldflags=%q: %v\n%s", ldflags, err, out)
		}
	})
	return one.bin, one.err
}

// removeAll removes what get built.
func (b *builds) removeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

func newNanoServe(t *testing.T, env ...string) *nanoServe {
	harness.Servers(t)
	t.Helper()
	root := os.Getenv("NANO_PULUMI_ROOT")
	if root == "" {
		t.Fatal("NANO_PULUMI_ROOT is not set: run the tests with tests/run")
	}
	tmp := t.TempDir()
	if err := harness.Traversable(tmp); err != nil {
		t.Fatal(err)
	}
	// The CLI and the plugins on the PATH given, where the deployments'
	// uids can run them.
	dirs := []string{filepath.Join(root, "bin")}
	for i, e := range env {
		if path, ok := strings.CutPrefix(e, "PATH="); ok {
			staged, err := harness.StageForOperations(filepath.Join(tmp, "path"), filepath.SplitList(path)...)
			if err != nil {
				t.Fatal(err)
			}
			env[i] = "PATH=" + strings.Join(staged, string(os.PathListSeparator))
		}
	}
	staged, err := harness.StageForOperations(filepath.Join(tmp, "pulumi"), dirs...)
	if err != nil {
		t.Fatal(err)
	}
	stagedRoot := filepath.Join(tmp, "pulumi-root")
	if err := os.MkdirAll(stagedRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(staged[0], filepath.Join(stagedRoot, "bin")); err != nil {
		t.Fatal(err)
	}
	s := &nanoServe{t: t, bin: filepath.Join(tmp, "nano"), data: filepath.Join(tmp, "data"), scheme: "http", client: http.DefaultClient,
		token: "nano-serve-test-token-0123456789", env: append([]string{"NANO_PULUMI_ROOT=" + stagedRoot}, env...)}
	s.bin = nanoServeBuild(t, tmp)
	s.addr = harness.FreeAddr(t)
	return s
}

// twin is another endpoint process of the same build and token, with its
// own address and data directory (replicas sharing a store).
func (s *nanoServe) twin() *nanoServe {
	s.t.Helper()
	c := *s
	tmp := s.t.TempDir()
	if err := harness.Traversable(tmp); err != nil {
		s.t.Fatal(err)
	}
	c.addr, c.data = harness.FreeAddr(s.t), filepath.Join(tmp, "data")
	return &c
}

// useTLS makes s serve HTTPS with a certificate of a test CA (for
// 127.0.0.1) and talk to it trusting that CA only.
func (s *nanoServe) useTLS() harness.TLSFiles {
	s.t.Helper()
	f, err := harness.WriteTLSFiles(s.t.TempDir())
	if err != nil {
		s.t.Fatal(err)
	}
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	s.scheme = "https"
	s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return f
}

// url is the endpoint's URL of path.
func (s *nanoServe) url(path string) string { return s.scheme + "://" + s.addr + path }

// start runs `nano serve` with extra arguments and waits until it answers;
// a failing test does not leave it running.
func (s *nanoServe) start(args ...string) *exec.Cmd {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"serve", "--listen", s.addr, "--data-dir", s.data}, args...)...)
	cmd.Env = append(append(os.Environ(), "NANO_PROVISION_TOKEN="+s.token), s.env...)
	logFile, _ := os.Create(filepath.Join(filepath.Dir(s.data), fmt.Sprintf("serve-%d.log", time.Now().UnixNano())))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := s.client.Get(s.url("/healthz")); err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatal("nano serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call sends a request with the token and decodes the JSON answer.
func (s *nanoServe) call(method, path, body string) (int, map[string]any) {
	s.t.Helper()
	return s.callAs(s.token, method, path, body)
}

// callAs sends a request with another token.
func (s *nanoServe) callAs(token, method, path, body string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url(path), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// operationID is the id of the operation an accepted request started.
func operationID(t *testing.T, code int, body map[string]any) string {
	t.Helper()
	op, _ := body["operation"].(map[string]any)
	if code != http.StatusAccepted || op == nil {
		t.Fatalf("the request was not accepted: %d %v", code, body)
	}
	return op["id"].(string)
}

// waitOp polls an operation until done says so, for at most within.
func (s *nanoServe) waitOp(id string, within time.Duration, done func(map[string]any) bool) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, body := s.call("GET", "/v1/operations/"+id, "")
		op, _ := body["operation"].(map[string]any)
		if op != nil && done(op) {
			return op
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("operation %s: %v", id, op)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func opEnded(op map[string]any) bool {
	st := op["state"]
	return st == "succeeded" || st == "failed" || st == "canceled"
}
