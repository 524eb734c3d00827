package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
// #include "compose_helpers.h"
import "C"

import (
	"context"
	"fmt"
	"path"
	"strings"
	"unsafe"
)

// ComposeSpec describes a commit built from other commits without checking
// anything out: the base's tree, minus Remove, with each of Layers and then
// Overlay laid over it.
//
// Overlay rules, for Layers and Overlay alike: a file (regular or symlink)
// replaces whatever file is at its path; a directory is merged into an
// existing directory, which keeps its own owner, mode and xattrs (as a union
// checkout would); a directory that is new is linked in whole, by checksum,
// with the layer's metadata. A file where the tree has a directory, or a
// directory where it has a file, fails the compose: callers check for such
// conflicts first (ListTree).
type ComposeSpec struct {
	// Base is the commit (checksum or ref) whose tree is the starting point.
	Base string
	// Remove lists absolute paths (files or whole directories) taken out of
	// the base before any layer is applied. A path that does not exist, or
	// goes through a non-directory, fails the compose.
	Remove []string
	// Layers are commits (checksums or refs) overlaid in order; later ones
	// win.
	Layers []string
	// Overlay, when set, is an on-disk directory overlaid last, as if it
	// were the root: owners, modes and xattrs are taken as they are on disk
	// (for directories that do not exist in the tree yet). Typically the new
	// rpmdb: <dir>/usr/share/rpm.
	Overlay string
	// Parent is the new commit's parent ("" = none). Layered commits on
	// rpm-ostree-style hosts use the base.
	Parent  string
	Subject string
	// Metadata is the commit's a{sv}; values as for CommitDir, plus
	// [][5]string for a(sssss) (rpmostree.rpmdb.pkglist).
	Metadata map[string]any
	// Ref, when set, is pointed at the new commit in the same transaction
	// ("remote:ref" accepted).
	Ref string
}

// Compose writes the commit described by spec and returns its checksum. The
// whole compose runs in one repo transaction; nothing is written if it fails.
//
// It never reads or re-hashes the content of the base or the layers: trees
// are combined by checksum, so the cost grows with the number of directories
// touched by the layers and the size of Overlay, not with the size of the
// base.
func (r *Repo) Compose(ctx context.Context, spec ComposeSpec) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	what := "composing on " + spec.Base
	base, err := r.ResolveRev(spec.Base, false)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	layers := make([]string, len(spec.Layers))
	for i, l := range spec.Layers {
		if layers[i], err = r.ResolveRev(l, false); err != nil {
			return "", fmt.Errorf("%s: layer: %w", what, err)
		}
	}
	md, err := vardictFromGo(spec.Metadata)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer C.g_variant_unref(md)

	var checksum string
	err = r.inTransaction(ctx, what, func(canc *C.GCancellable) error {
		var gerr *C.GError
		cbase := C.CString(base)
		defer C.free(unsafe.Pointer(cbase))
		mtree := C.ostree_mutable_tree_new_from_commit(r.ptr, cbase, &gerr)
		if mtree == nil {
			return opError(ctx, what+": loading base", gerr)
		}
		defer C.g_object_unref(C.gpointer(mtree))

		for _, p := range spec.Remove {
			rel := strings.Trim(path.Clean("/"+p), "/")
			if rel == "" {
				return fmt.Errorf("%s: cannot remove the root", what)
			}
			crel := C.CString(rel)
			ok := C.strata_mtree_remove_path(mtree, crel, &gerr)
			C.free(unsafe.Pointer(crel))
			if ok == 0 {
				return opError(ctx, fmt.Sprintf("%s: removing %s", what, p), gerr)
			}
		}
		for i, l := range layers {
			if err := r.mergeCommit(ctx, mtree, l, canc); err != nil {
				return fmt.Errorf("%s: layer %s: %w", what, spec.Layers[i], err)
			}
		}
		if spec.Overlay != "" {
			if err := r.mergeDir(ctx, mtree, spec.Overlay, canc); err != nil {
				return fmt.Errorf("%s: overlay %s: %w", what, spec.Overlay, err)
			}
		}
		var err error
		checksum, err = r.writeCommit(ctx, mtree, commitSpec{parent: spec.Parent, subject: spec.Subject, metadata: md, ref: spec.Ref}, canc)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return checksum, nil
}

// commitSpec is what writeCommit needs besides the tree.
type commitSpec struct {
	parent, subject string
	metadata        *C.GVariant // borrowed a{sv}
	timestamp       uint64      // seconds since the epoch; 0 = now
	ref             string      // "" = none; "remote:ref" accepted
}

// writeCommit is the one tail of every commit this package builds in a
// transaction: it writes mtree's objects and a commit of its root, then
// marks the commit partial and queues its ref until the transaction
// completes (transactionSetRef).
func (r *Repo) writeCommit(ctx context.Context, mtree *C.OstreeMutableTree, spec commitSpec, canc *C.GCancellable) (string, error) {
	cparent, f1 := cstrOrNil(spec.parent)
	defer f1()
	csubject := C.CString(spec.subject)
	defer C.free(unsafe.Pointer(csubject))
	cref, f2 := cstrOrNil(spec.ref)
	defer f2()
	var out *C.char
	var gerr *C.GError
	if C.strata_write_mtree_commit(r.ptr, mtree, cparent, csubject, spec.metadata, C.guint64(spec.timestamp), &out, canc, &gerr) == 0 {
		return "", opError(ctx, "writing commit", gerr)
	}
	checksum := takeString(out)
	return checksum, r.transactionSetRef(cref, checksum)
}

// mergeCommit overlays the root of commit onto mtree.
func (r *Repo) mergeCommit(ctx context.Context, mtree *C.OstreeMutableTree, commit string, canc *C.GCancellable) error {
	ccommit := C.CString(commit)
	defer C.free(unsafe.Pointer(ccommit))
	var contents, meta *C.char
	var gerr *C.GError
	if C.strata_commit_root(r.ptr, ccommit, &contents, &meta, &gerr) == 0 {
		return opError(ctx, "reading commit", gerr)
	}
	defer C.g_free(C.gpointer(contents))
	defer C.g_free(C.gpointer(meta))
	opts := C.StrataMergeOpts{layer: C.FALSE}
	if C.strata_mtree_merge(r.ptr, mtree, contents, meta, &opts, canc, &gerr) == 0 {
		return opError(ctx, "merging", gerr)
	}
	return nil
}

// mergeDir writes the on-disk directory dir into the repo as a tree and
// overlays it onto mtree.
func (r *Repo) mergeDir(ctx context.Context, mtree *C.OstreeMutableTree, dir string, canc *C.GCancellable) error {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var contents, meta *C.char
	var gerr *C.GError
	if C.strata_write_dir_tree(r.ptr, cdir, &contents, &meta, canc, &gerr) == 0 {
		return opError(ctx, "writing", gerr)
	}
	defer C.g_free(C.gpointer(contents))
	defer C.g_free(C.gpointer(meta))
	opts := C.StrataMergeOpts{layer: C.FALSE}
	if C.strata_mtree_merge(r.ptr, mtree, contents, meta, &opts, canc, &gerr) == 0 {
		return opError(ctx, "merging", gerr)
	}
	return nil
}

// TreeEntry is one entry of a committed tree.
type TreeEntry struct {
	// Path is absolute ("/usr/bin/foo"); the root is "/".
	Path string
	// Type is 'f' (regular file), 'd' (directory) or 'l' (symlink).
	Type byte
	// Mode holds the permission bits, setuid/setgid/sticky included
	// (mode & 07777).
	Mode, UID, GID uint32
	// Checksum is the content object's checksum for files and symlinks, and
	// the dirtree checksum for directories (equal checksums, equal
	// subtrees).
	Checksum string
	// Target is a symlink's target.
	Target string
}

// ListTree walks commit (checksum or ref) from subpath ("" or "/" = the
// root) and returns subpath's entry followed by everything below it, depth
// first, each directory's files before its subdirectories, names in byte
// order (ostree's own order). A subpath naming a file gives that one entry.
//
// It reads dirtree and dirmeta objects directly and, for owners and modes,
// each file object's header; file contents are never read.
func (r *Repo) ListTree(ctx context.Context, commit, subpath string) ([]TreeEntry, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("listing %s:%s", commit, subpath)
	csum, err := r.ResolveRev(commit, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ccsum := C.CString(csum)
	defer C.free(unsafe.Pointer(ccsum))
	var contents, meta *C.char
	var gerr *C.GError
	if C.strata_commit_root(r.ptr, ccsum, &contents, &meta, &gerr) == 0 {
		return nil, fmt.Errorf("%s: %w", what, takeError(gerr))
	}
	dir := dirRef{contents: takeString(contents), meta: takeString(meta)}

	// Descend to subpath through the dirtrees.
	cur := "/"
	for _, name := range strings.Split(strings.Trim(path.Clean("/"+subpath), "/"), "/") {
		if name == "" {
			continue
		}
		w := treeWalker{r: r, ctx: ctx}
		ent, sub, err := w.child(dir, path.Join(cur, name), name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		cur = path.Join(cur, name)
		if sub == nil {
			if ent == nil {
				return nil, fmt.Errorf("%s: %s does not exist", what, cur)
			}
			if cur != path.Clean("/"+subpath) {
				return nil, fmt.Errorf("%s: %s is not a directory", what, cur)
			}
			return []TreeEntry{*ent}, nil
		}
		dir = *sub
	}
	w := treeWalker{r: r, ctx: ctx}
	if err := w.walk(dir, cur); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return w.out, nil
}

// dirRef names a directory by its dirtree and dirmeta checksums.
type dirRef struct{ contents, meta string }

type treeWalker struct {
	r   *Repo
	ctx context.Context
	out []TreeEntry
}

// walk appends the entry of dir (at p) and everything below it.
func (w *treeWalker) walk(dir dirRef, p string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	ent, err := w.dirEntry(dir, p)
	if err != nil {
		return err
	}
	w.out = append(w.out, ent)

	t, err := w.load(dir.contents)
	if err != nil {
		return err
	}
	defer freeDirtree(t)
	var csumBuf [65]C.char
	nf := int(C.strata_dirtree_n_files(t))
	for i := 0; i < nf; i++ {
		name := C.GoString(C.strata_dirtree_file(t, C.guint(i), &csumBuf[0]))
		ent, err := w.fileEntry(C.GoString(&csumBuf[0]), path.Join(p, name))
		if err != nil {
			return err
		}
		w.out = append(w.out, ent)
	}
	var metaBuf [65]C.char
	nd := int(C.strata_dirtree_n_dirs(t))
	for i := 0; i < nd; i++ {
		name := C.GoString(C.strata_dirtree_dir(t, C.guint(i), &csumBuf[0], &metaBuf[0]))
		sub := dirRef{contents: C.GoString(&csumBuf[0]), meta: C.GoString(&metaBuf[0])}
		if err := w.walk(sub, path.Join(p, name)); err != nil {
			return err
		}
	}
	return nil
}

// child finds name in dir: a directory gives its dirRef (and no entry), a
// file its entry, a missing name neither.
func (w *treeWalker) child(dir dirRef, p, name string) (*TreeEntry, *dirRef, error) {
	t, err := w.load(dir.contents)
	if err != nil {
		return nil, nil, err
	}
	defer freeDirtree(t)
	var csumBuf, metaBuf [65]C.char
	for i := 0; i < int(C.strata_dirtree_n_dirs(t)); i++ {
		if C.GoString(C.strata_dirtree_dir(t, C.guint(i), &csumBuf[0], &metaBuf[0])) == name {
			return nil, &dirRef{contents: C.GoString(&csumBuf[0]), meta: C.GoString(&metaBuf[0])}, nil
		}
	}
	for i := 0; i < int(C.strata_dirtree_n_files(t)); i++ {
		if C.GoString(C.strata_dirtree_file(t, C.guint(i), &csumBuf[0])) == name {
			ent, err := w.fileEntry(C.GoString(&csumBuf[0]), p)
			return &ent, nil, err
		}
	}
	return nil, nil, nil
}

func (w *treeWalker) load(contents string) (*C.StrataDirtree, error) {
	cc := C.CString(contents)
	defer C.free(unsafe.Pointer(cc))
	t := (*C.StrataDirtree)(C.malloc(C.sizeof_StrataDirtree))
	var gerr *C.GError
	if C.strata_dirtree_load(w.r.ptr, cc, t, &gerr) == 0 {
		C.free(unsafe.Pointer(t))
		return nil, fmt.Errorf("loading dirtree %s: %w", contents, takeError(gerr))
	}
	return t, nil
}

func freeDirtree(t *C.StrataDirtree) {
	C.strata_dirtree_free(t)
	C.free(unsafe.Pointer(t))
}

func (w *treeWalker) dirEntry(dir dirRef, p string) (TreeEntry, error) {
	cm := C.CString(dir.meta)
	defer C.free(unsafe.Pointer(cm))
	var uid, gid, mode C.guint32
	var gerr *C.GError
	if C.strata_dirmeta_read(w.r.ptr, cm, &uid, &gid, &mode, &gerr) == 0 {
		return TreeEntry{}, fmt.Errorf("%s: %w", p, takeError(gerr))
	}
	return TreeEntry{Path: p, Type: 'd', Mode: uint32(mode) & 0o7777, UID: uint32(uid), GID: uint32(gid), Checksum: dir.contents}, nil
}

func (w *treeWalker) fileEntry(csum, p string) (TreeEntry, error) {
	cc := C.CString(csum)
	defer C.free(unsafe.Pointer(cc))
	var uid, gid, mode C.guint32
	var target *C.char
	var gerr *C.GError
	if C.strata_file_read(w.r.ptr, cc, &uid, &gid, &mode, &target, &gerr) == 0 {
		return TreeEntry{}, fmt.Errorf("%s: %w", p, takeError(gerr))
	}
	e := TreeEntry{Path: p, Type: 'f', Mode: uint32(mode) & 0o7777, UID: uint32(uid), GID: uint32(gid), Checksum: csum}
	if target != nil {
		e.Type = 'l'
		e.Target = takeString(target)
	}
	return e, nil
}

// CheckoutSubpath checks out one part of commit (subpath, e.g.
// "/usr/share/rpm") into destDir, which must not exist yet. Files are always
// copied, never hardlinked to the repo's objects, so the caller may modify
// them (sqlite writes an rpmdb in place); owners are kept.
func (r *Repo) CheckoutSubpath(ctx context.Context, commit, subpath, destDir string) error {
	if err := r.check(); err != nil {
		return err
	}
	what := fmt.Sprintf("checking out %s:%s to %s", commit, subpath, destDir)
	csum, err := r.ResolveRev(commit, false)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	cdest := C.CString(destDir)
	defer C.free(unsafe.Pointer(cdest))
	ccsum := C.CString(csum)
	defer C.free(unsafe.Pointer(ccsum))
	csub := C.CString(path.Clean("/" + subpath))
	defer C.free(unsafe.Pointer(csub))
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.strata_checkout_subpath(r.ptr, cdest, ccsum, csub, canc, &gerr) == 0 {
		return opError(ctx, what, gerr)
	}
	return nil
}

// tuple5ArrayToVariant builds a floating a(sssss).
func tuple5ArrayToVariant(rows [][5]string) *C.GVariant {
	cells := make([]*C.char, 0, 5*len(rows)+1)
	for _, row := range rows {
		for _, s := range row {
			cells = append(cells, C.CString(s))
		}
	}
	defer func() {
		for _, p := range cells {
			C.free(unsafe.Pointer(p))
		}
	}()
	cellsC := (**C.char)(C.malloc(C.size_t(len(cells)+1) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(cellsC))
	copy(unsafe.Slice(cellsC, len(cells)+1), cells)
	return C.strata_variant_new_tuple5_array(cellsC, C.gsize(len(rows)))
}

// tuple5ArrayFromVariant reads a borrowed a(sssss).
func tuple5ArrayFromVariant(v *C.GVariant) [][5]string {
	n := int(C.g_variant_n_children(v))
	if n == 0 {
		return [][5]string{}
	}
	cells := (**C.char)(C.malloc(C.size_t(5*n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(cells))
	C.strata_variant_get_tuple5_array(v, cells)
	flat := unsafe.Slice(cells, 5*n)
	out := make([][5]string, n)
	for i := range out {
		for j := 0; j < 5; j++ {
			out[i][j] = C.GoString(flat[5*i+j])
		}
	}
	return out
}
