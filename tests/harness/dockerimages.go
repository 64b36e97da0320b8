package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/nanosiem/nano/services/images/imageload"
)

// ImageFile is a file an image adds on its root filesystem: the contents
// of the host file From, or Data.
type ImageFile struct {
	Path string // inside the image, without the leading slash
	Mode int64
	From string
	Data []byte
	// Dir makes Path a directory (Mode, owned by UID:UID), as the official
	// images make their data directories: a new named volume mounted there
	// starts with that owner.
	Dir bool
	UID int
}

// ImageSpec is an image the rig builds: a root filesystem tarball (made by
// tests/setup with mmdebstrap; empty: none), files on top of it and its
// configuration.
type ImageSpec struct {
	Ref    string
	Rootfs string
	Files  []ImageFile
	Config v1.Config
}

// Build assembles the image. It is reproducible (no times), so an image
// already in the engine is recognised by its id.
func (s ImageSpec) Build() (v1.Image, error) {
	img := empty.Image
	if s.Rootfs != "" {
		base, err := tarball.LayerFromFile(s.Rootfs)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot read its root filesystem %s: %w", s.Ref, s.Rootfs, err)
		}
		if img, err = mutate.AppendLayers(img, base); err != nil {
			return nil, err
		}
	}
	files, err := filesLayer(s.Files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Ref, err)
	}
	if img, err = mutate.AppendLayers(img, files); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Config = "amd64", "linux", s.Config
	return mutate.ConfigFile(img, cf)
}

// filesLayer is a layer of files (and their parent directories), in a
// stable order with zero times.
func filesLayer(files []ImageFile) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sorted := append([]ImageFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	dirs := map[string]bool{}
	for _, f := range sorted {
		for i := range len(f.Path) {
			if f.Path[i] == '/' && !dirs[f.Path[:i+1]] {
				dirs[f.Path[:i+1]] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: f.Path[:i+1], Mode: 0o755}); err != nil {
					return nil, err
				}
			}
		}
		if f.Dir {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: f.Path + "/", Mode: f.Mode, Uid: f.UID, Gid: f.UID}); err != nil {
				return nil, err
			}
			continue
		}
		data := f.Data
		if f.From != "" {
			var err error
			if data, err = os.ReadFile(f.From); err != nil {
				return nil, fmt.Errorf("cannot read %s: %w", f.From, err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: f.Mode, Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// Load puts img into the engine under refs, unless every ref already names
// it (imageload.Load).
func (d *Docker) Load(ctx context.Context, img v1.Image, refs ...string) error {
	return imageload.Load(ctx, func(ctx context.Context, stdin []byte, args ...string) (string, error) {
		return d.RunIn(ctx, "", stdin, args...)
	}, img, refs...)
}

// LayoutImage is the image of an OCI layout (as `make images` writes one)
// whose ref.name annotation is ref.
func LayoutImage(dir, ref string) (v1.Image, error) { return imageload.LayoutImage(dir, ref) }
