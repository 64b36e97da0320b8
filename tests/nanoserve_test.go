package tests

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// nanoServeBuild builds the nano binary of this checkout into dir, with
// extra go build arguments (the kubeconfig test's negative control).
func nanoServeBuild(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "nano")
	if out, err := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), "..")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	return s
}

// twin is another endpoint process of the same build and token, with its
// own address and data directory (replicas sharing a store).
func (s *nanoServe) twin() *nanoServe {
	s.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	defer l.Close()
	c := *s
	tmp := s.t.TempDir()
	if err := harness.Traversable(tmp); err != nil {
		s.t.Fatal(err)
	}
	c.addr, c.data = l.Addr().String(), filepath.Join(tmp, "data")
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
