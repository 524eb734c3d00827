package transactions

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/strata-os/strata/internal/initrd"
	"github.com/strata-os/strata/layering"
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

// InitramfsState turns regenerating the initramfs on (with extra dracut
// args) or off and deploys again. Turning it on is refused before
// anything changes when the tree has no dracut.
func (e *Engine) InitramfsState(ctx context.Context, osname string, regenerate bool, args []string, lockFinalization bool, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		if !regenerate && len(args) > 0 {
			return fmt.Errorf("Cannot simultaenously specify --disable and --arg")
		}
		if o.RegenerateInitramfs() == regenerate && slices.Equal(o.InitramfsArgs(), args) {
			return fmt.Errorf("initramfs regeneration state is already %s (with the same arguments): nothing to change", map[bool]string{true: "enabled", false: "disabled"}[regenerate])
		}
		if regenerate && !layering.HasDracut(s.DeploymentPath(merge)) {
			return fmt.Errorf("the deployment has no dracut; the initramfs cannot be regenerated: deploy a base that ships dracut (/usr/bin/dracut) first")
		}
		o.SetInitramfs(regenerate, args)
		base := readBase(s.Repo(), merge).checksum
		commit, err := e.compose(ctx, s, composeRequest{merge: merge, base: base, origin: o}, p)
		if err != nil {
			return err
		}
		res, err = writeDeployment(ctx, s, newDeployment{
			osname: osname, commit: commit, base: base, merge: merge, origin: o, lockFinalization: lockFinalization,
		}, p)
		return err
	})
	return res, err
}
