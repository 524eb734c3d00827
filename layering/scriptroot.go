package layering

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// scriptRoot is the / that scriptlets run on: an overlayfs whose lower dir is
// a hardlinked checkout of the composed commit and whose upper dir starts
// empty. Scriptlets may create, replace, change and delete files anywhere
// (/usr included, as rpm-ostree allows), yet no file shared with the object
// store can be written in place: overlayfs never writes to its lower dir, a
// change to an existing file goes to a private copy in the upper dir ("copy
// up"). What the scriptlets did is exactly the upper dir, committed on top of
// the composed commit.
//
// Why an overlay: rpm-ostree mounts the tree with rofiles-fuse, which Debian
// does not ship. The other ways to keep hardlinks intact are a full copy of
// the tree (slow and large for every composition with a scriptlet) or a
// read-only /usr (which breaks scriptlets that create files there). Unlike
// rofiles-fuse, which fails an in-place write to a base file with EROFS,
// the overlay lets it succeed on the copy, and the changed file is part of
// the layered commit; the object store is intact either way.
//
// The mount lives in a private mount namespace made for each scriptlet run,
// so nothing is left mounted on the host when a scriptlet or the daemon dies.
type scriptRoot struct {
	lower  string // hardlinked checkout, never written
	upper  string // the scriptlets' changes
	work   string // overlayfs's own scratch dir (same filesystem as upper)
	merged string // mount point inside the namespace
}

// scratchDirs exist in the lower tree only as mount points (the tree keeps
// /etc in /usr/etc; the rest are API or scratch filesystems bwrap mounts):
// nothing under them belongs to the commit.
var scratchDirs = []string{"etc", "var", "tmp", "run", "proc", "dev"}

// newScriptRoot prepares the overlay's directories under dir around the
// checkout at lower.
func newScriptRoot(dir, lower string) (*scriptRoot, error) {
	r := &scriptRoot{
		lower:  lower,
		upper:  filepath.Join(dir, "upper"),
		work:   filepath.Join(dir, "work"),
		merged: filepath.Join(dir, "merged"),
	}
	for _, d := range append([]string{r.upper, r.work, r.merged}, prefixed(lower, scratchDirs)...) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("preparing the scriptlets' root: %w", err)
		}
	}
	for _, p := range []string{r.lower, r.upper, r.work} {
		// overlayfs's option string has no quoting.
		if strings.ContainsAny(p, ",:\\") {
			return nil, fmt.Errorf("preparing the scriptlets' root: path %q has a character overlayfs options cannot carry; move the cache directory", p)
		}
	}
	return r, nil
}

func prefixed(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

// mountScript mounts the overlay ($1 options, $2 mount point) and execs the
// rest of its arguments.
const mountScript = `mount -t overlay strata-scriptlets -o "$1" "$2" && shift 2 && exec "$@"`

// command returns the command that runs name with args inside a new mount
// namespace where the overlay is mounted on r.merged. The options turn off
// every overlayfs feature that would keep state outside the upper dir
// (index, redirects, metadata-only copy-ups, inode number mapping): the
// upper dir must hold plain files with their data.
func (r *scriptRoot) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	opts := "lowerdir=" + r.lower + ",upperdir=" + r.upper + ",workdir=" + r.work +
		",redirect_dir=off,index=off,metacopy=off,xino=off"
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", mountScript, "sh", opts, r.merged, name}, args...)...)
	// Go makes the new namespace's mounts private before the shell runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return cmd
}

// collect moves what the scriptlets left in the upper dir into into (the
// directory overlaid on the composed commit) and returns the absolute paths
// of the commit that must go first: files and directories the scriptlets
// deleted (overlayfs whiteouts), directories they replaced (opaque ones) and
// entries whose type changed.
func (r *scriptRoot) collect(into string) ([]string, error) {
	var remove []string
	removed := func(rel string) bool {
		for _, p := range remove {
			if rel == p[1:] || strings.HasPrefix(rel, p[1:]+"/") {
				return true
			}
		}
		return false
	}
	err := filepath.WalkDir(r.upper, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(r.upper, path)
		if err != nil || rel == "." {
			return err
		}
		if top := strings.SplitN(rel, "/", 2)[0]; contains(scratchDirs, top) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		lowerFi, lowerErr := os.Lstat(filepath.Join(r.lower, rel))
		inLower := lowerErr == nil
		switch {
		case fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0: // whiteout: deleted
			if !removed(rel) {
				remove = append(remove, "/"+rel)
			}
			return nil
		case fi.IsDir():
			if inLower && (!lowerFi.IsDir() || isOpaque(path)) && !removed(rel) {
				remove = append(remove, "/"+rel)
			}
			return mkdirLike(filepath.Join(into, rel), fi, st)
		case fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0:
			if inLower && lowerFi.IsDir() && !removed(rel) {
				remove = append(remove, "/"+rel)
			}
			if err := dropOverlayXattrs(path); err != nil {
				return err
			}
			dst := filepath.Join(into, rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.Rename(path, dst)
		default:
			return fmt.Errorf("a scriptlet created /%s, a %s, which an OSTree commit cannot hold", rel, fi.Mode().Type())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("collecting what the scriptlets wrote: %w", err)
	}
	return remove, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isOpaque reports whether overlayfs marked an upper directory as hiding the
// lower one (the scriptlet removed the directory and made a new one).
func isOpaque(dir string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(dir, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// dropOverlayXattrs removes overlayfs's bookkeeping (trusted.overlay.*)
// from an upper file, which would otherwise be committed with it.
func dropOverlayXattrs(path string) error {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if strings.HasPrefix(name, "trusted.overlay.") {
			if err := unix.Lremovexattr(path, name); err != nil {
				return fmt.Errorf("removing %s from %s: %w", name, path, err)
			}
		}
	}
	return nil
}

// mkdirLike makes dir with fi's mode and owner unless it exists (an existing
// directory of the commit keeps its own metadata anyway).
func mkdirLike(dir string, fi fs.FileInfo, st *syscall.Stat_t) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, fi.Mode().Perm()|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return os.Lchown(dir, int(st.Uid), int(st.Gid))
}
