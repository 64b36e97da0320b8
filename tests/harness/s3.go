package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a running S3 server: Versity's gateway (versitygw, built by
// tests/setup from its module) over a temporary directory, on a free
// loopback port, with one root key pair. Each bucket is a directory under
// Dir, each object a file, so a test can look at what was stored.
type S3 struct {
	server
	// Endpoint is http://127.0.0.1:port (path-style: Endpoint/bucket/key).
	Endpoint             string
	AccessKey, SecretKey string
	// Dir holds the buckets.
	Dir string
}

// StartS3 starts versitygw's POSIX backend; the binary is NANO_VERSITYGW
// (tests/setup prints it).
func StartS3() (*S3, error) {
	bin := os.Getenv("NANO_VERSITYGW")
	if bin == "" {
		return nil, fmt.Errorf("NANO_VERSITYGW is not set: run the tests through tests/run, whose setup builds versitygw")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("versitygw not found (run tests/setup): %w", err)
	}
	dir, err := os.MkdirTemp("", "nano-s3-")
	if err != nil {
		return nil, fmt.Errorf("cannot create the S3 server's directory: %w", err)
	}
	s := &S3{server: server{name: "versitygw", dir: dir}, Dir: filepath.Join(dir, "buckets"),
		AccessKey: "nano-test-" + randomHex(4), SecretKey: randomHex(20)}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		s.stop()
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		s.stop()
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s.Endpoint = "http://" + addr
	// Internal IAM (accounts in iam/), so tests can add users whose
	// rights a bucket policy decides (AddUser, SetBucketPolicy); a bucket
	// whose versioning a test enables keeps old versions in versions/.
	s.cmd = exec.Command(bin, "--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet",
		"--iam-dir", filepath.Join(dir, "iam"), "posix", "--sidecar", filepath.Join(dir, "meta"),
		"--versioning-dir", filepath.Join(dir, "versions"), s.Dir)
	for _, d := range []string{"meta", "iam", "versions"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			s.stop()
			return nil, err
		}
	}
	if err := s.start(); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.waitReady(s.answering); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// AddUser creates an account of role user: what it may do in a bucket is
// what the bucket's policy grants its access key (none without one).
func (s *S3) AddUser(ctx context.Context, access, secret string) error {
	out, err := exec.CommandContext(ctx, os.Getenv("NANO_VERSITYGW"), "admin", "--access", s.AccessKey, "--secret", s.SecretKey,
		"--endpoint-url", s.Endpoint, "create-user", "--access", access, "--secret", secret, "--role", "user").CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot create S3 user %s: %v\n%s", access, err, out)
	}
	return nil
}

// SetBucketPolicy sets a bucket's policy (JSON, principals by access key).
func (s *S3) SetBucketPolicy(ctx context.Context, bucket, policy string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	if err := c.SetBucketPolicy(ctx, bucket, policy); err != nil {
		return fmt.Errorf("cannot set the policy of bucket %s: %w", bucket, err)
	}
	return nil
}

// ClientAs is an S3 client of the server with another account's key.
func (s *S3) ClientAs(access, secret string) (*minio.Client, error) {
	return minio.New(s.Endpoint[len("http://"):], &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1"})
}

// Stop stops the server and deletes its buckets.
func (s *S3) Stop() { s.stop() }

// Log is the server's output so far.
func (s *S3) Log() string { return s.log.String() }

// answering is any HTTP answer (an anonymous request is refused once the
// server serves).
func (s *S3) answering(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Client is an S3 client of the server with the root key.
func (s *S3) Client() (*minio.Client, error) {
	return minio.New(s.Endpoint[len("http://"):], &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
}

// Bucket creates a bucket and returns its path-style URL, ending in "/".
func (s *S3) Bucket(ctx context.Context, name string) (string, error) {
	c, err := s.Client()
	if err != nil {
		return "", err
	}
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return "", fmt.Errorf("cannot create bucket %s: %w", name, err)
	}
	return s.Endpoint + "/" + name + "/", nil
}

// StartS3For starts an S3 server with one bucket for a test: it fails the
// test if either cannot be made, prints the server's log when the test
// failed, stops the server when the test ends, and returns the bucket's
// URL (Bucket's).
func StartS3For(t testing.TB, ctx context.Context, bucket string) (*S3, string) {
	t.Helper()
	s, err := StartS3()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("S3 server:\n%s", s.Log())
		}
		s.Stop()
	})
	url, err := s.Bucket(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return s, url
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
