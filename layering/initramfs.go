package layering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// InitramfsRequest asks a composition to regenerate the tree's initramfs
// with the tree's own dracut (rpm-ostree's `initramfs --enable`).
type InitramfsRequest struct {
	Args []string // extra dracut arguments
}

// DracutPaths are where a tree may carry dracut.
var dracutPaths = []string{"usr/bin/dracut", "usr/sbin/dracut"}

// HasDracut says whether the tree checked out at root carries dracut.
func HasDracut(root string) bool {
	for _, p := range dracutPaths {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return true
		}
	}
	return false
}

// initramfsStage runs the tree's dracut on a checkout of the composed
// commit, in bubblewrap with that tree as / (read-only, so nothing but the
// new image can come out of it), and commits the image as the kernel's
// initramfs (/usr/lib/modules/KVER/initramfs.img) on top.
func (c *Composer) initramfsStage(ctx context.Context, cs *composition) error {
	if cs.req.Initramfs == nil || cs.res.Commit == "" {
		return nil
	}
	cs.p.TaskBegin("Generating initramfs")
	tree := filepath.Join(cs.work, "initramfs-tree")
	if err := c.Repo.Checkout(ctx, cs.res.Commit, tree); err != nil {
		return fmt.Errorf("checking out for dracut: %w", err)
	}
	if !HasDracut(tree) {
		return errors.New("the deployment has no dracut; the initramfs cannot be regenerated: disable it with `strata initramfs --disable`, or deploy a base that ships dracut")
	}
	kver, err := kernelVersion(tree)
	if err != nil {
		return err
	}
	out := filepath.Join(cs.work, "initramfs-out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	args := []string{"--ro-bind", tree, "/"}
	if _, err := os.Stat(filepath.Join(tree, "usr/etc")); err == nil {
		// The tree's default /etc, as dracut's configuration.
		args = append(args, "--ro-bind", filepath.Join(tree, "usr/etc"), "/etc")
	}
	args = append(args,
		"--bind", out, "/var/tmp/strata-initramfs",
		"--tmpfs", "/tmp", "--tmpfs", "/run",
		"--proc", "/proc", "--dev", "/dev",
		"--unshare-all", "--die-with-parent", "--new-session",
		"--chdir", "/",
		"--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin",
		"--",
		"dracut", "--no-hostonly", "--kver", kver, "--reproducible", "-v",
		"--tmpdir=/tmp", "-f", "/var/tmp/strata-initramfs/initramfs.img",
	)
	args = append(args, cs.req.Initramfs.Args...)
	// Mount points are made in the private checkout: bwrap cannot create
	// them in a read-only root (a committed tree has no /etc, only /usr/etc).
	for _, d := range []string{"var/tmp/strata-initramfs", "etc", "tmp", "run", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			return fmt.Errorf("preparing the dracut sandbox: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "bwrap", args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running dracut: %v: %s", err, lastLine(strings.TrimSpace(log.String())))
	}
	img := filepath.Join(out, "initramfs.img")
	if fi, err := os.Stat(img); err != nil || fi.Size() == 0 {
		return fmt.Errorf("dracut wrote no initramfs: %s", lastLine(strings.TrimSpace(log.String())))
	}
	overlay := filepath.Join(cs.work, "initramfs-overlay")
	dest := filepath.Join(overlay, "usr/lib/modules", kver)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if err := os.Rename(img, filepath.Join(dest, "initramfs.img")); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dest, "initramfs.img"), 0o644); err != nil {
		return err
	}
	spec := cs.spec
	spec.Base, spec.Layers, spec.Remove, spec.Overlay = cs.res.Commit, nil, nil, overlay
	commit, err := c.Repo.Compose(ctx, spec)
	if err != nil {
		return fmt.Errorf("committing the new initramfs: %w", err)
	}
	cs.res.Commit = commit
	cs.p.TaskEnd("done")
	return nil
}

// kernelVersion is the one kernel of the tree: the directory of
// /usr/lib/modules that holds a vmlinuz.
func kernelVersion(tree string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(tree, "usr/lib/modules/*/vmlinuz"))
	switch len(matches) {
	case 0:
		return "", errors.New("the tree has no kernel (/usr/lib/modules/*/vmlinuz) to build an initramfs for")
	case 1:
		return filepath.Base(filepath.Dir(matches[0])), nil
	}
	return "", fmt.Errorf("the tree has %d kernels in /usr/lib/modules; strata regenerates the initramfs of exactly one", len(matches))
}
