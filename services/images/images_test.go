package main

import (
	"archive/tar"
	"github.com/nanosiem/nano/tests/harness"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/nanosiem/nano/stacks/model/settings"
)

// The image layout loads; each image runs its binary as a non-root user,
// exposes the service's ports, carries version and source labels, and the
// binary inside runs --version. Two builds give the same digest.
func TestImagesLayout(t *testing.T) {
	harness.Servers(t) // builds the images (minutes)
	out := filepath.Join(t.TempDir(), "oci")
	t.Setenv("SOURCE_DATE_EPOCH", "1763856000")
	results, err := Build("../..", out, "0.1.0-test")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(Services) {
		t.Fatalf("%d images, want %d", len(results), len(Services))
	}
	// The pinning commands name each stack key and a digest reference the
	// stack settings accept.
	for i, line := range ConfigCommands(results, "ghcr.io/nanosiem", "0.1.0-test") {
		f := strings.Fields(line)
		if len(f) != 5 || f[3] != configKeys[results[i].Service.Name] || !strings.HasSuffix(f[4], "@"+results[i].Digest.String()) {
			t.Errorf("config command %q", line)
		}
		key := strings.TrimPrefix(f[3], "nano:")
		if _, err := settings.Load("pin", func(k string) string {
			return map[string]string{"tier": "hobby", "provider": "hetzner", "region": "fsn1", key: f[4]}[k]
		}); err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("settings refuse %s: %v", f[4], err)
		}
	}
	again, err := Build("../..", filepath.Join(t.TempDir(), "oci"), "0.1.0-test")
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		s := r.Service
		if again[i].Digest != r.Digest {
			t.Errorf("%s: builds are not reproducible: %s then %s", s.Name, r.Digest, again[i].Digest)
		}
		var desc *v1.Descriptor
		for j := range manifest.Manifests {
			if manifest.Manifests[j].Annotations["org.opencontainers.image.ref.name"] == s.Name+":0.1.0-test" {
				desc = &manifest.Manifests[j]
			}
		}
		if desc == nil || desc.Digest != r.Digest {
			t.Fatalf("%s: not in the layout's index under %s:0.1.0-test", s.Name, s.Name)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/"+s.Name {
			t.Errorf("%s: user %q entrypoint %v", s.Name, c.User, c.Entrypoint)
		}
		for _, p := range s.Ports {
			if _, ok := c.ExposedPorts[strconv.Itoa(p)+"/tcp"]; !ok {
				t.Errorf("%s: port %d not exposed (%v)", s.Name, p, c.ExposedPorts)
			}
		}
		if c.Labels["org.opencontainers.image.version"] != "0.1.0-test" || c.Labels["org.opencontainers.image.source"] != Source || cf.OS != "linux" {
			t.Errorf("%s: labels %v os %s", s.Name, c.Labels, cf.OS)
		}
		files := extract(t, img)
		if !strings.Contains(files["etc/passwd"], "nonroot:x:65532:65532") || files["etc/ssl/certs/ca-certificates.crt"] == "" {
			t.Errorf("%s: no non-root user or CA certificates", s.Name)
		}
		bin := filepath.Join(t.TempDir(), s.Name)
		if err := os.WriteFile(bin, []byte(files["usr/local/bin/"+s.Name]), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "0.1.0-test") {
			t.Errorf("%s --version: %q %v", s.Name, out, err)
		}
		t.Logf("%s: %s, %d bytes", s.Name, r.Digest, r.Size)
	}
}

// extract returns the image's files (flattened) by path.
func extract(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "/")] = string(b)
		}
	}
}
