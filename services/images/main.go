// Command images builds nano's service images without a Docker daemon:
// static Linux binaries on an empty base with a non-root user and CA
// certificates, written as an OCI image layout (or pushed, with -push).
// Builds are reproducible: file times and the image's creation time come
// from the commit (SOURCE_DATE_EPOCH, else the HEAD commit's time).
//
//	go run ./services/images [-out dist/images] [-version 0.1.0] [-push ghcr.io/nanosiem]
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
)

// Service is one image to build.
type Service struct {
	Name    string
	Package string
	Ports   []int
	// Prepare is a command run at the repository's root before the
	// build (the web UI's assets, which the binary embeds).
	Prepare []string
}

// Services are the images nano ships.
var Services = []Service{
	{Name: "api", Package: "./services/api", Ports: []int{contract.Ports.API}},
	{Name: "search", Package: "./services/search", Ports: []int{contract.Ports.Search}},
	{Name: "ingest", Package: "./services/ingest", Ports: []int{contract.Ports.IngestHTTP, contract.Ports.IngestHEC, contract.Ports.IngestNative, contract.Ports.IngestMetrics,
		contract.Ports.IngestOTLP, contract.Ports.IngestSyslogTLS, contract.Ports.IngestSyslog}},
	{Name: "web", Package: "./services/web", Ports: []int{contract.Ports.Web, contract.Ports.WebOps}, Prepare: []string{"bash", "services/web/ui/build"}},
}

// nonRoot is the images' user (the distroless "nonroot" ids).
const nonRoot = 65532

// Source is the repository the images' labels name.
const Source = "https://github.com/nanosiem/nano"

func main() {
	out := flag.String("out", "dist/images", "OCI image layout directory")
	version := flag.String("version", settings.DefaultImageVersion, "image tag and the binaries' version")
	push := flag.String("push", "", "registry prefix to push to (e.g. ghcr.io/nanosiem); empty writes the layout only")
	flag.Parse()
	results, err := Build(".", *out, *version)
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	for _, r := range results {
		fmt.Printf("%-8s %s:%s  %s  %.1f MiB\n", r.Service.Name, r.Service.Name, *version, r.Digest, float64(r.Size)/(1<<20))
		if *push != "" {
			ref, err := name.ParseReference(fmt.Sprintf("%s/%s:%s", *push, r.Service.Name, *version))
			if err != nil {
				fmt.Fprintln(os.Stderr, "images:", err)
				os.Exit(1)
			}
			if err := remote.Write(ref, r.Image); err != nil {
				fmt.Fprintln(os.Stderr, "images: push:", err)
				os.Exit(1)
			}
			fmt.Printf("pushed %s@%s\n", ref, r.Digest)
		}
	}
	fmt.Printf("OCI layout: %s\n", *out)
	if *push != "" {
		fmt.Println("pin the stacks to these digests:")
		for _, line := range ConfigCommands(results, *push, *version) {
			fmt.Println("  " + line)
		}
	}
}

// configKeys are the stack settings that name each service's image.
var configKeys = map[string]string{"api": "nano:apiImage", "search": "nano:searchImage", "ingest": "nano:ingestImage", "web": "nano:webImage"}

// ConfigCommands are the pulumi config commands that make a stack's
// components deploy exactly the pushed images, by digest.
func ConfigCommands(results []Result, registry, version string) []string {
	var out []string
	for _, r := range results {
		out = append(out, fmt.Sprintf("pulumi config set %s %s/%s:%s@%s", configKeys[r.Service.Name], registry, r.Service.Name, version, r.Digest))
	}
	return out
}

// Result is a built image.
type Result struct {
	Service Service
	Image   v1.Image
	Digest  v1.Hash
	Size    int64
}

// Build builds every service's image, from the repository at root, into
// the OCI layout at out.
func Build(root, out, version string) ([]Result, error) {
	epoch, revision, err := sourceTime()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "nano-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		return nil, fmt.Errorf("cannot create the OCI layout: %w", err)
	}
	base, err := baseLayer(epoch)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, s := range Services {
		if len(s.Prepare) > 0 {
			cmd := exec.Command(s.Prepare[0], s.Prepare[1:]...)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("cannot prepare %s (%s): %v\n%s", s.Name, strings.Join(s.Prepare, " "), err, b)
			}
		}
		bin := filepath.Join(tmp, s.Name)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -buildid= -X main.version="+version, "-o", bin, s.Package)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("cannot build %s: %v\n%s", s.Name, err, b)
		}
		binary, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		app, err := layer(epoch, []file{{path: "usr/local/bin/" + s.Name, mode: 0o755, data: binary}})
		if err != nil {
			return nil, err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), base, app)
		if err != nil {
			return nil, err
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		ports := map[string]struct{}{}
		for _, p := range s.Ports {
			ports[strconv.Itoa(p)+"/tcp"] = struct{}{}
		}
		cfg := v1.Config{
			User: fmt.Sprintf("%d:%d", nonRoot, nonRoot), Entrypoint: []string{"/usr/local/bin/" + s.Name},
			ExposedPorts: ports, WorkingDir: "/",
			Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			Labels: map[string]string{
				"org.opencontainers.image.title": "nano " + s.Name, "org.opencontainers.image.version": version,
				"org.opencontainers.image.source": Source, "org.opencontainers.image.revision": revision,
				"org.opencontainers.image.created": epoch.UTC().Format(time.RFC3339),
			},
		}
		if img, err = mutate.Config(img, cfg); err != nil {
			return nil, err
		}
		if img, err = mutate.CreatedAt(img, v1.Time{Time: epoch}); err != nil {
			return nil, err
		}
		img, err = mutate.ConfigFile(img, withPlatform(img))
		if err != nil {
			return nil, err
		}
		ref := fmt.Sprintf("%s:%s", s.Name, version)
		if err := lp.AppendImage(img, layoutAnnotation(ref)); err != nil {
			return nil, fmt.Errorf("cannot write %s: %w", ref, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return nil, err
		}
		size, err := imageSize(img)
		if err != nil {
			return nil, err
		}
		results = append(results, Result{Service: s, Image: img, Digest: digest, Size: size})
	}
	return results, nil
}

func withPlatform(img v1.Image) *v1.ConfigFile {
	cf, err := img.ConfigFile()
	if err != nil || cf == nil {
		cf = &v1.ConfigFile{}
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	return cf
}

func imageSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}

// sourceTime is SOURCE_DATE_EPOCH, else HEAD's commit time, and the
// revision ("unknown" outside git).
func sourceTime() (time.Time, string, error) {
	revision := "unknown"
	if b, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		revision = strings.TrimSpace(string(b))
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("SOURCE_DATE_EPOCH %q is not a Unix time", v)
		}
		return time.Unix(n, 0).UTC(), revision, nil
	}
	if b, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return time.Unix(n, 0).UTC(), revision, nil
		}
	}
	return time.Unix(0, 0).UTC(), revision, nil
}

// file is one file of a layer.
type file struct {
	path string
	mode int64
	data []byte
}

// baseLayer is the non-root user and the CA certificates.
func baseLayer(epoch time.Time) (v1.Layer, error) {
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA certificates (Debian's ca-certificates package): %w", err)
	}
	return layer(epoch, []file{
		{path: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRoot, nonRoot))},
		{path: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonRoot))},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{path: "tmp/", mode: 0o1777},
		{path: "home/nonroot/", mode: 0o700},
	})
}

// layer builds a reproducible layer: sorted entries, fixed times, root
// ownership (home/nonroot is the user's).
func layer(epoch time.Time, files []file) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		// Parent directories first.
		parts := strings.Split(strings.TrimSuffix(f.path, "/"), "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
					return nil, err
				}
			}
		}
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		if strings.HasSuffix(f.path, "/") {
			h.Typeflag = tar.TypeDir
			dirs[f.path] = true
			if f.path == "home/nonroot/" {
				h.Uid, h.Gid = nonRoot, nonRoot
			}
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

func layoutAnnotation(ref string) layout.Option {
	return layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})
}
