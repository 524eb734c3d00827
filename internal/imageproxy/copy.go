package imageproxy

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	cimage "go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"

	"github.com/strata-os/strata/internal/image"
)

// CopyLayout pushes the OCI layout in dir (tagged "encapsulated") to dest,
// as Encapsulate builds it. It pushes the built image to dest through containers/image's
// image destination: every blob exactly as written (so digests are
// preserved), then the manifest. copy.Image would do the same but links a
// cgo sqlite cache and encryption support strata does not need.
func CopyLayout(ctx context.Context, dir string, dest image.Reference, cfg image.Config) (string, error) {
	srcRef, err := layout.ParseReference(dir + ":encapsulated")
	if err != nil {
		return "", err
	}
	sys := SystemContext(cfg)
	src, err := srcRef.NewImageSource(ctx, sys)
	if err != nil {
		return "", err
	}
	defer src.Close()
	man, mtype, err := src.GetManifest(ctx, nil)
	if err != nil {
		return "", err
	}
	parsed, err := manifest.FromBlob(man, mtype)
	if err != nil {
		return "", err
	}
	if dest.Transport == image.OCIDir || dest.Transport == image.OCIArchive {
		d, _, _ := strings.Cut(dest.Name, ":")
		if dest.Transport == image.OCIArchive {
			d = path.Dir(d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	dst, err := ContainersReference(dest)
	if err != nil {
		return "", err
	}
	w, err := dst.NewImageDestination(ctx, sys)
	if err != nil {
		return "", fmt.Errorf("opening %s for writing: %w", dest.ImageRef(), err)
	}
	defer w.Close()
	put := func(info types.BlobInfo, isConfig bool) error {
		rc, _, err := src.GetBlob(ctx, info, none.NoCache)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := w.PutBlob(ctx, rc, info, none.NoCache, isConfig); err != nil {
			return fmt.Errorf("writing blob %s to %s: %w", info.Digest, dest.ImageRef(), err)
		}
		return nil
	}
	for _, l := range parsed.LayerInfos() {
		if err := put(l.BlobInfo, false); err != nil {
			return "", err
		}
	}
	if err := put(parsed.ConfigInfo(), true); err != nil {
		return "", err
	}
	if err := w.PutManifest(ctx, man, nil); err != nil {
		return "", fmt.Errorf("writing the manifest to %s: %w", dest.ImageRef(), err)
	}
	if err := w.Commit(ctx, cimage.UnparsedInstance(src, nil)); err != nil {
		return "", fmt.Errorf("committing %s: %w", dest.ImageRef(), err)
	}
	d, err := manifest.Digest(man)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}
