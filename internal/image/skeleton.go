package image

import (
	"context"
	"fmt"

	"github.com/strata-os/strata/internal/ostree"
)

// The root skeleton of a deployment: what ostree-prepare-root and systemd
// mount on or follow at boot. A container image does not carry these (a
// container runtime provides them, and the layer rules drop them as
// outside what a deployment holds), so every plain image is merged onto
// this skeleton as its lowest layer. Found by booting an image deployment:
// without /run, the initramfs cannot hand /run over and the boot stops.
var (
	skeletonDirs = []struct {
		name string
		mode uint32
	}{
		{"boot", 0o755}, {"dev", 0o755}, {"proc", 0o555}, {"run", 0o755}, {"sys", 0o555},
		{"sysroot", 0o755}, {"tmp", 0o1777}, {"usr", 0o755}, {"var", 0o755},
	}
	// The top-level links an OSTree system has (as rpm-ostree's rootfs
	// has them): state lives under /var, the sysroot's repo under /sysroot.
	skeletonLinks = []struct{ name, target string }{
		{"home", "var/home"}, {"mnt", "var/mnt"}, {"opt", "var/opt"}, {"root", "var/roothome"},
		{"srv", "var/srv"}, {"media", "run/media"}, {"ostree", "sysroot/ostree"},
	}
)

// skeletonRef holds the skeleton commit, made once per repo; the version
// suffix changes whenever the skeleton does.
const skeletonRef = "strata/image-skeleton/1"

// skeletonCommit returns the skeleton's commit, writing it the first time.
func (s *Store) skeletonCommit(ctx context.Context) (string, error) {
	if csum, err := s.Repo.ResolveRev(skeletonRef, true); err == nil && csum != "" {
		return csum, nil
	}
	return s.Repo.CommitTree(ctx, "strata root skeleton", skeletonRef, func(b *ostree.TreeBuilder) (map[string]any, error) {
		root := b.Root()
		meta, err := b.WriteDirMeta(ostree.ObjectMeta{Mode: 0o755})
		if err != nil {
			return nil, err
		}
		b.SetMeta(root, meta)
		for _, d := range skeletonDirs {
			sub, err := b.Subdir(root, d.name)
			if err != nil {
				return nil, err
			}
			m, err := b.WriteDirMeta(ostree.ObjectMeta{Mode: d.mode})
			if err != nil {
				return nil, err
			}
			b.SetMeta(sub, m)
		}
		for _, l := range skeletonLinks {
			csum, err := b.WriteSymlink(ostree.ObjectMeta{Mode: 0o777}, l.target)
			if err != nil {
				return nil, err
			}
			if err := b.SetFile(root, l.name, csum); err != nil {
				return nil, fmt.Errorf("skeleton link %s: %w", l.name, err)
			}
		}
		return nil, nil
	})
}
