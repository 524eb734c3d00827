package rpmdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/strata-os/strata/internal/fsutil"
	"github.com/strata-os/strata/internal/nevra"
)

// Dir is where a tree keeps its rpmdb, relative to the tree's root (rpm-ostree
// moves it out of /var so it belongs to the immutable /usr).
const Dir = "usr/share/rpm"

// queryFormat prints one tab-separated line per package; EPOCHNUM is 0 when
// the package has no epoch.
const queryFormat = `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n`

// List returns the packages in the rpmdb of the tree at root, sorted by
// name (then arch, then EVR). rpm's gpg-pubkey pseudo-packages are left out:
// they are keys, not software, and rpm-ostree's package lists skip them too.
//
// The tree is not touched: rpm reads a private copy (withPrivateCopy).
func List(ctx context.Context, root string) ([]Package, error) {
	var pkgs []Package
	err := withPrivateCopy(root, func(dbpath string) error {
		out, err := runRPM(ctx, "-qa", "--dbpath", dbpath, "--qf", queryFormat)
		if err != nil {
			return err
		}
		pkgs, err = parseQuery(out)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing packages of %s: %w", root, err)
	}
	return pkgs, nil
}

// withPrivateCopy runs read with the path of a private copy of the rpmdb of
// the tree at root. Every query goes through one: rpm's sqlite backend
// cannot open a WAL-mode database in a read-only directory, and where it can
// write it creates lock and side files, which in a deployment or checkout
// would sit next to (or, for a committed -shm, be) hardlinks into the object
// store.
func withPrivateCopy(root string, read func(dbpath string) error) error {
	tmp, err := os.MkdirTemp("", "strata-rpmdb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := copyDBFiles(filepath.Join(root, Dir), tmp); err != nil {
		return err
	}
	return read(tmp)
}

// parseQuery reads rpm's output in queryFormat.
func parseQuery(out []byte) ([]Package, error) {
	pkgs := []Package{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("unexpected rpm output line %q", line)
		}
		if f[0] == "gpg-pubkey" {
			continue
		}
		epoch, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("package %s: bad epoch %q", f[0], f[1])
		}
		pkgs = append(pkgs, Package{Name: f[0], Epoch: uint32(epoch), Version: f[2], Release: f[3], Arch: f[4]})
	}
	nevra.Sort(pkgs)
	return pkgs, nil
}

// Add registers the packages of rpmFiles in the rpmdb of the tree at root,
// creating the database if there is none, without unpacking a single file:
// the tree's content comes from composing their ostree commits. It runs
//
//	rpm --root ROOT --dbpath /usr/share/rpm -i --justdb --nodeps --noscripts
//	    --notriggers --ignoresize --ignorearch --ignoreos --nosignature
//
// Dependencies, scriptlets and disk space are the composer's business
// (resolved by the depsolver, run in bwrap, not relevant to a header-only
// install); arch and OS are checked when the packages are chosen, not
// against the host running the daemon; signatures are checked when the
// packages are fetched, and the tree's rpmdb usually holds no keys. Digests
// are still verified, and file conflicts with installed packages still fail
// (rpm names both packages), as does installing a NEVRA already present.
// All packages go in one rpm transaction: either all are added or none.
func Add(ctx context.Context, root string, rpmFiles []string) error {
	if len(rpmFiles) == 0 {
		return nil
	}
	args := []string{"--root", root, "--dbpath", "/" + Dir, "-i", "--justdb", "--nodeps", "--noscripts",
		"--notriggers", "--ignoresize", "--ignorearch", "--ignoreos", "--nosignature", "--"}
	for _, f := range rpmFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("adding packages to rpmdb of %s: %w", root, err)
		}
		args = append(args, abs)
	}
	if err := modify(ctx, root, args); err != nil {
		return fmt.Errorf("adding %s to rpmdb of %s: %w", baseNames(rpmFiles), root, err)
	}
	return nil
}

// Remove erases the packages named by nevras (as Package.NEVRA prints them;
// rpm also accepts plain names when they are unambiguous) from the rpmdb of
// the tree at root, in one rpm transaction, with
//
//	rpm --root ROOT --dbpath /usr/share/rpm -e --justdb --nodeps --noscripts --notriggers
//
// A package that is not installed fails the whole call.
func Remove(ctx context.Context, root string, nevras []string) error {
	if len(nevras) == 0 {
		return nil
	}
	args := []string{"--root", root, "--dbpath", "/" + Dir, "-e", "--justdb", "--nodeps", "--noscripts", "--notriggers", "--"}
	args = append(args, nevras...)
	if err := modify(ctx, root, args); err != nil {
		return fmt.Errorf("removing %s from rpmdb of %s: %w", strings.Join(nevras, ", "), root, err)
	}
	return nil
}

// modify runs an rpm command that writes the rpmdb of root in place, then
// seals the database for a commit (see Seal).
func modify(ctx context.Context, root string, args []string) error {
	dir := filepath.Join(root, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unshareFiles(dir); err != nil {
		return err
	}
	if _, err := runRPM(ctx, args...); err != nil {
		cleanLeftovers(dir)
		return err
	}
	return seal(ctx, dir)
}

// SideFiles are the files sqlite keeps beside a database in WAL mode: the
// shared-memory index and the write-ahead log. They never belong in a
// commit. A reader writes to -shm in place, and in a checkout that file is a
// hardlink into the object store, so a plain `rpm -q --dbpath` on a
// deployment would corrupt the repo.
var SideFiles = []string{"rpmdb.sqlite-shm", "rpmdb.sqlite-wal"}

// sqliteDB is the database file of rpm's sqlite backend.
const sqliteDB = "rpmdb.sqlite"

// Seal makes the rpmdb of the tree at root fit for a commit: everything in
// the write-ahead log is checkpointed into rpmdb.sqlite, the database is
// switched out of WAL mode (journal_mode=DELETE), and the side files and
// rpm's lock file are removed. Database files hardlinked from a checkout are
// replaced by private copies first.
//
// Why not just delete the side files: rpm always leaves its database in WAL
// mode, and sqlite cannot open a WAL-mode database on a read-only mount (a
// booted host's /usr) or as a user who cannot write the directory unless the
// -shm file is there. In DELETE mode no side file is needed or created by a
// reader; rpm switches back to WAL by itself the next time it writes. The
// rpm CLI cannot change the journal mode (it forces WAL on every write), so
// this one pragma goes through sqlite's own CLI.
//
// A tree without a sqlite database (an older backend) is left as it is.
func Seal(ctx context.Context, root string) error {
	dir := filepath.Join(root, Dir)
	if err := unshareFiles(dir); err != nil {
		return fmt.Errorf("sealing rpmdb of %s: %w", root, err)
	}
	if err := seal(ctx, dir); err != nil {
		return fmt.Errorf("sealing rpmdb of %s: %w", root, err)
	}
	return nil
}

// seal is Seal on a database directory whose files are private.
func seal(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, sqliteDB)); errors.Is(err, fs.ErrNotExist) {
		return cleanLeftovers(dir)
	} else if err != nil {
		return err
	}
	// The checkpoint happens as part of leaving WAL mode: sqlite copies
	// the log into the database before it deletes it.
	cmd := exec.CommandContext(ctx, "sqlite3", "-batch", filepath.Join(dir, sqliteDB), "PRAGMA journal_mode=DELETE;")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("leaving WAL mode: sqlite3: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if mode := strings.TrimSpace(stdout.String()); mode != "delete" {
		return fmt.Errorf("leaving WAL mode: sqlite3 reports journal mode %q (is another process using the database?)", mode)
	}
	return cleanLeftovers(dir)
}

// cleanLeftovers removes rpm's lock file and the sqlite side files from a
// database directory. Callers checkpoint the log first (seal); after a
// failed rpm run the database is thrown away anyway.
func cleanLeftovers(dir string) error {
	for _, name := range append([]string{".rpm.lock"}, SideFiles...) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cleaning rpmdb: %w", err)
		}
	}
	return nil
}

// unshareFiles gives every database file in dir a private copy when it is
// hardlinked: a tree checked out from a bare ostree repo shares its files
// with the repo's objects, and sqlite writes in place, which would corrupt
// the repo.
func unshareFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Nlink <= 1 {
			continue
		}
		tmp := p + ".strata-unshare"
		if err := fsutil.CopyFile(p, tmp, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("unsharing %s: %w", p, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("unsharing %s: %w", p, err)
		}
	}
	return nil
}

// copyDBFiles copies the regular files of an rpmdb directory (sqlite or an
// older backend's files) into dst. A missing directory is an error: a tree
// without an rpmdb has no package list to give.
func copyDBFiles(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("reading rpmdb: %w", err)
	}
	for _, e := range ents {
		// The shared-memory index is rebuilt from the log by sqlite;
		// a copy of a live one could only be stale.
		if !e.Type().IsRegular() || e.Name() == ".rpm.lock" || e.Name() == "rpmdb.sqlite-shm" {
			continue
		}
		if err := fsutil.CopyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runRPM runs the rpm binary and returns its stdout; on failure the error
// carries rpm's stderr, which names the package and the problem.
func runRPM(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "rpm", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("rpm: %w: %s", err, rpmErrors(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// rpmErrors drops the warning Debian's rpm prints on every install (it
// recommends alien), keeping the lines that explain a failure.
func rpmErrors(stderr string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "rpm: RPM should not be used directly") || strings.HasPrefix(l, "rpm: However assuming you know") {
			continue
		}
		keep = append(keep, strings.TrimSpace(l))
	}
	return strings.Join(keep, "; ")
}

func baseNames(paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return strings.Join(names, ", ")
}
