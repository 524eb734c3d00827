package transactions

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/strata-os/strata/internal/initrd"
)

// InitramfsEtcChange edits the /etc files tracked into the initramfs, as
// rpm-ostree's InitramfsEtc does.
type InitramfsEtcChange struct {
	Track, Untrack []string
	UntrackAll     bool
	// ForceSync deploys even when the tracked list is unchanged, to pick
	// up new contents of the tracked files.
	ForceSync        bool
	LockFinalization bool
}

// InitramfsEtc changes which /etc files of the running system (the merge
// deployment's /etc) go into every new deployment's overlay initramfs,
// and deploys the current commit again with them.
func (e *Engine) InitramfsEtc(ctx context.Context, osname string, ch InitramfsEtcChange, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		before := o.InitramfsEtc()
		files := slices.Clone(before)
		switch {
		case ch.UntrackAll:
			files = nil
		case len(ch.Untrack) > 0:
			files = slices.DeleteFunc(files, func(f string) bool { return slices.Contains(ch.Untrack, f) })
		}
		for _, f := range ch.Track {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		if slices.Equal(files, before) && !ch.ForceSync {
			p.Message("No changes.")
			return nil
		}
		for _, f := range files {
			if !strings.HasPrefix(f, "/etc/") {
				return fmt.Errorf("Path outside /etc forbidden: %s", f)
			}
		}
		o.SetInitramfsEtc(files)
		res, err = writeDeployment(ctx, s, newDeployment{
			osname: osname, commit: merge.Checksum, base: readBase(s.Repo(), merge).checksum,
			merge: merge, origin: o, lockFinalization: ch.LockFinalization,
		}, p)
		return err
	})
	return res, err
}

// overlayInitrds archives the /etc files nd's origin tracks (from the
// merge deployment's /etc, which on a booted host is the running /etc)
// and stores the archive in the sysroot, for the new boot entry to load
// after the tree's own initramfs. Nothing tracked, nothing to load.
func overlayInitrds(ctx context.Context, s Sysroot, nd newDeployment) ([]string, error) {
	files := nd.origin.InitramfsEtc()
	if len(files) == 0 || nd.merge == nil {
		return nil, nil
	}
	f, err := os.CreateTemp("", "strata-initramfs-etc-")
	if err != nil {
		return nil, fmt.Errorf("archiving initramfs-etc files: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := initrd.WriteOverlay(f, s.DeploymentPath(nd.merge), files); err != nil {
		return nil, fmt.Errorf("archiving initramfs-etc files: %w; untrack it with `strata initramfs-etc --untrack=PATH`", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	csum, err := s.StageOverlayInitrd(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("storing the initramfs-etc overlay: %w", err)
	}
	return []string{csum}, nil
}
