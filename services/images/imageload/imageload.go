// Package imageload puts images into a Docker engine without a registry:
// an image of an OCI layout (as services/images writes one) is written as
// a tarball to `docker load`, unless the engine already holds it under
// every name asked for. The Compose rig (tests/harness) and `nano local`
// load nano's images this way.
package imageload

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Docker runs the docker CLI with args and stdin (nil: none) and returns
// its trimmed output.
type Docker func(ctx context.Context, stdin []byte, args ...string) (string, error)

// Load puts img into the engine under refs, unless every ref already names
// it (images are compared by id, the digest of their configuration).
func Load(ctx context.Context, docker Docker, img v1.Image, refs ...string) error {
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	missing := map[name.Reference]v1.Image{}
	for _, r := range refs {
		if have, err := docker(ctx, nil, "image", "inspect", "--format", "{{.Id}}", r); err == nil && have == id.String() {
			continue
		}
		ref, err := name.ParseReference(r)
		if err != nil {
			return err
		}
		missing[ref] = img
	}
	if len(missing) == 0 {
		return nil
	}
	var tb bytes.Buffer
	if err := tarball.MultiRefWrite(missing, &tb); err != nil {
		return fmt.Errorf("cannot write %v as a tarball: %w", refs, err)
	}
	if _, err := docker(ctx, tb.Bytes(), "load"); err != nil {
		return err
	}
	return nil
}

// LayoutImage is the image of an OCI layout (as `make images` writes one)
// whose ref.name annotation is ref.
func LayoutImage(dir, ref string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read the image layout %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, desc := range m.Manifests {
		if desc.Annotations["org.opencontainers.image.ref.name"] == ref {
			return idx.Image(desc.Digest)
		}
	}
	return nil, fmt.Errorf("the image layout %s has no %s", dir, ref)
}
