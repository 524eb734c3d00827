package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
// #include "compose_helpers.h"
// #include "objects_helpers.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"unsafe"
)

// ObjectType names the kinds of metadata object that can be written raw.
type ObjectType int

// The metadata object types (libostree's numbering).
const (
	ObjectDirTree ObjectType = C.OSTREE_OBJECT_TYPE_DIR_TREE
	ObjectDirMeta ObjectType = C.OSTREE_OBJECT_TYPE_DIR_META
	ObjectCommit  ObjectType = C.OSTREE_OBJECT_TYPE_COMMIT
)

func (t ObjectType) String() string {
	switch t {
	case ObjectDirTree:
		return "dirtree"
	case ObjectDirMeta:
		return "dirmeta"
	case ObjectCommit:
		return "commit"
	}
	return fmt.Sprintf("object type %d", int(t))
}

// FileObject is the header of a content object.
type FileObject struct {
	UID, GID uint32
	// Mode carries the file type bits (S_IFREG or S_IFLNK) and the permissions.
	Mode uint32
	// Size of a regular file's content.
	Size int64
	// Target of a symlink ("" for a regular file).
	Target string
	// Xattrs is the serialized a(ayay) of the extended attributes (nil = none).
	Xattrs []byte
}

// ObjectWriter writes raw objects inside one repo transaction (see
// WriteObjects). Every object is checked by libostree against the checksum
// it is written under: content that does not hash to it is refused.
type ObjectWriter struct {
	r    *Repo
	ctx  context.Context
	canc *C.GCancellable
}

// WriteObjects runs fn in one repo transaction: everything fn writes lands in
// the repo, refs included, only when fn returns nil; otherwise the
// transaction is aborted and nothing is left but staged garbage libostree
// cleans up.
func (r *Repo) WriteObjects(ctx context.Context, what string, fn func(*ObjectWriter) error) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.inTransaction(ctx, what, func(canc *C.GCancellable) error {
		return fn(&ObjectWriter{r: r, ctx: ctx, canc: canc})
	})
}

// Metadata writes a commit, dirtree or dirmeta object from its serialized
// form.
func (w *ObjectWriter) Metadata(t ObjectType, checksum string, data []byte) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	var gerr *C.GError
	if C.strata_write_metadata_bytes(w.r.ptr, C.int(t), ccsum, cbytes(data), C.gsize(len(data)), w.canc, &gerr) == 0 {
		return opError(w.ctx, fmt.Sprintf("writing %s object %s", t, checksum), gerr)
	}
	return nil
}

// DetachedMetadata writes the detached metadata (serialized a{sv}) of commit.
func (w *ObjectWriter) DetachedMetadata(commit string, data []byte) error {
	ccsum := C.CString(commit)
	defer C.free(unsafe.Pointer(ccsum))
	var gerr *C.GError
	if C.strata_write_detached_bytes(w.r.ptr, ccsum, cbytes(data), C.gsize(len(data)), w.canc, &gerr) == 0 {
		return opError(w.ctx, "writing detached metadata of "+commit, gerr)
	}
	return nil
}

// File writes a content object: a symlink (f.Target set) or a regular file
// whose f.Size bytes are read from content. The content is streamed to
// libostree through a pipe, never held in memory.
func (w *ObjectWriter) File(checksum string, f FileObject, content io.Reader) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	what := "writing file object " + checksum
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	ctarget, free := cstrOrNil(f.Target)
	defer free()
	fd := C.int(-1)
	var pr *os.File
	src := &recordingReader{r: content}
	copied := make(chan error, 1)
	if f.Target == "" {
		var pw *os.File
		var err error
		pr, pw, err = os.Pipe()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		go func() {
			_, err := io.CopyN(pw, src, f.Size)
			pw.Close()
			copied <- err
		}()
		fd = C.int(pr.Fd())
	} else {
		copied <- nil
	}
	var gerr *C.GError
	ok := C.strata_write_content_fd(w.r.ptr, ccsum, C.guint32(f.UID), C.guint32(f.GID), C.guint32(f.Mode),
		C.guint64(f.Size), ctarget, cbytes(f.Xattrs), C.gsize(len(f.Xattrs)), fd, w.canc, &gerr)
	if pr != nil {
		// Closing the read side unblocks a writer libostree did not drain
		// (it had the object already, or failed early).
		pr.Close()
		runtime.KeepAlive(pr)
	}
	cerr := <-copied
	if ok == 0 {
		// A short or failing source explains libostree's error better
		// than the error itself (a checksum mismatch, an early EOF).
		switch {
		case src.err != nil && !errors.Is(src.err, io.EOF):
			takeError(gerr)
			return fmt.Errorf("%s: reading its content: %w", what, src.err)
		case errors.Is(cerr, io.EOF):
			takeError(gerr)
			return fmt.Errorf("%s: its content is shorter than its size, %d bytes", what, f.Size)
		}
		return opError(w.ctx, what, gerr)
	}
	return nil
}

// recordingReader remembers the error of the reader it wraps, so a failure
// of the source is told apart from one of the pipe it is copied into.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}

// CheckComplete fails unless every object the commit reaches is present.
func (w *ObjectWriter) CheckComplete(commit string) error {
	ccsum := C.CString(commit)
	defer C.free(unsafe.Pointer(ccsum))
	var gerr *C.GError
	if C.strata_commit_check_complete(w.r.ptr, ccsum, w.canc, &gerr) == 0 {
		return opError(w.ctx, "checking commit "+commit, gerr)
	}
	return nil
}

// ObjectSet commits a tree that holds each of the content objects once, so
// they stay reachable (and are never pruned) while a ref points at it.
func (w *ObjectWriter) ObjectSet(checksums []string, subject string, metadata map[string]any) (string, error) {
	md, err := vardictFromGo(metadata)
	if err != nil {
		return "", fmt.Errorf("committing object set: %w", err)
	}
	defer C.g_variant_unref(md)
	strv := newStrv(checksums)
	defer C.g_strfreev(strv)
	csubject := C.CString(subject)
	defer C.free(unsafe.Pointer(csubject))
	var out *C.char
	var gerr *C.GError
	if C.strata_commit_object_set(w.r.ptr, (**C.char)(unsafe.Pointer(strv)), csubject, md, &out, w.canc, &gerr) == 0 {
		return "", opError(w.ctx, "committing object set", gerr)
	}
	return takeString(out), nil
}

// SetRef points ref at commit when the transaction completes; the commit is
// marked partial until then.
func (w *ObjectWriter) SetRef(ref, commit string) error {
	cref := C.CString(ref)
	defer C.free(unsafe.Pointer(cref))
	return w.r.transactionSetRef(cref, commit)
}

func cbytes(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// LoadMetadata returns the serialized form of a metadata object.
func (r *Repo) LoadMetadata(t ObjectType, checksum string) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	var v *C.GVariant
	var gerr *C.GError
	if C.ostree_repo_load_variant(r.ptr, C.OstreeObjectType(t), ccsum, &v, &gerr) == 0 {
		return nil, fmt.Errorf("loading %s object %s: %w", t, checksum, takeError(gerr))
	}
	defer C.g_variant_unref(v)
	return variantBytes(v), nil
}

func variantBytes(v *C.GVariant) []byte {
	n := int(C.g_variant_get_size(v))
	if n == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(C.g_variant_get_data(v)), C.int(n))
}

// OpenFile opens a content object: its header, and for a regular file a
// reader of its content (nil for a symlink) that the caller closes.
func (r *Repo) OpenFile(ctx context.Context, checksum string) (FileObject, io.ReadCloser, error) {
	if err := r.check(); err != nil {
		return FileObject{}, nil, err
	}
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	var uid, gid, mode C.guint32
	var size C.guint64
	var target *C.char
	var xattrs *C.GVariant
	var in *C.GInputStream
	var gerr *C.GError
	if C.strata_open_content(r.ptr, ccsum, &uid, &gid, &mode, &size, &target, &xattrs, &in, nil, &gerr) == 0 {
		return FileObject{}, nil, fmt.Errorf("loading file object %s: %w", checksum, takeError(gerr))
	}
	f := FileObject{UID: uint32(uid), GID: uint32(gid), Mode: uint32(mode), Size: int64(size), Target: takeString(target)}
	if C.g_variant_n_children(xattrs) > 0 {
		f.Xattrs = variantBytes(xattrs)
	}
	C.g_variant_unref(xattrs)
	if f.Target != "" {
		f.Size = 0
		if in != nil {
			C.g_object_unref(C.gpointer(in))
		}
		return f, nil, nil
	}
	if in == nil {
		return FileObject{}, nil, fmt.Errorf("loading file object %s: no content stream", checksum)
	}
	return f, &gstreamReader{ctx: ctx, in: in, what: "reading file object " + checksum}, nil
}

// gstreamReader reads a GInputStream.
type gstreamReader struct {
	ctx  context.Context
	in   *C.GInputStream
	what string
}

func (g *gstreamReader) Read(p []byte) (int, error) {
	if g.in == nil {
		return 0, os.ErrClosed
	}
	if err := g.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var gerr *C.GError
	n := C.g_input_stream_read(g.in, unsafe.Pointer(&p[0]), C.gsize(len(p)), nil, &gerr)
	if n < 0 {
		return 0, fmt.Errorf("%s: %w", g.what, takeError(gerr))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

func (g *gstreamReader) Close() error {
	if g.in != nil {
		C.g_object_unref(C.gpointer(g.in))
		g.in = nil
	}
	return nil
}

// ObjectTree lists the objects of a commit's tree with their paths.
type ObjectTree struct {
	RootContents, RootMeta string
	// Dirs are every directory below the root, parents before children.
	Dirs []ObjectDir
	// Files are every file (regular or symlink), in walk order.
	Files []ObjectFile
}

// ObjectDir is one directory of an ObjectTree.
type ObjectDir struct{ Path, Contents, Meta string }

// ObjectFile is one file of an ObjectTree.
type ObjectFile struct{ Path, Checksum string }

// WalkObjects lists commit's directories and files with their object
// checksums (paths relative, no leading slash), reading dirtrees only.
func (r *Repo) WalkObjects(ctx context.Context, commit string) (*ObjectTree, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	ccsum := C.CString(commit)
	defer C.free(unsafe.Pointer(ccsum))
	var contents, meta *C.char
	var gerr *C.GError
	if C.strata_commit_root(r.ptr, ccsum, &contents, &meta, &gerr) == 0 {
		return nil, fmt.Errorf("walking %s: %w", commit, takeError(gerr))
	}
	t := &ObjectTree{RootContents: takeString(contents), RootMeta: takeString(meta)}
	w := treeWalker{r: r, ctx: ctx}
	if err := r.walkObjects(&w, t, t.RootContents, ""); err != nil {
		return nil, fmt.Errorf("walking %s: %w", commit, err)
	}
	return t, nil
}

func (r *Repo) walkObjects(w *treeWalker, t *ObjectTree, contents, p string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	dt, err := w.load(contents)
	if err != nil {
		return err
	}
	defer freeDirtree(dt)
	var csumBuf, metaBuf [65]C.char
	for i := 0; i < int(C.strata_dirtree_n_files(dt)); i++ {
		name := C.GoString(C.strata_dirtree_file(dt, C.guint(i), &csumBuf[0]))
		t.Files = append(t.Files, ObjectFile{Path: path.Join(p, name), Checksum: C.GoString(&csumBuf[0])})
	}
	for i := 0; i < int(C.strata_dirtree_n_dirs(dt)); i++ {
		name := C.GoString(C.strata_dirtree_dir(dt, C.guint(i), &csumBuf[0], &metaBuf[0]))
		d := ObjectDir{Path: path.Join(p, name), Contents: C.GoString(&csumBuf[0]), Meta: C.GoString(&metaBuf[0])}
		t.Dirs = append(t.Dirs, d)
		if err := r.walkObjects(w, t, d.Contents, d.Path); err != nil {
			return err
		}
	}
	return nil
}

// DirMeta reads a dirmeta object's owner and mode (with S_IFDIR).
func (r *Repo) DirMeta(checksum string) (uid, gid, mode uint32, err error) {
	cc := C.CString(checksum)
	defer C.free(unsafe.Pointer(cc))
	var cuid, cgid, cmode C.guint32
	var gerr *C.GError
	if C.strata_dirmeta_read(r.ptr, cc, &cuid, &cgid, &cmode, &gerr) == 0 {
		return 0, 0, 0, fmt.Errorf("reading dirmeta %s: %w", checksum, takeError(gerr))
	}
	return uint32(cuid), uint32(cgid), uint32(cmode), nil
}

// EditDetachedMetadata rewrites commit's detached metadata: the keys in drop
// and in set are removed, then set's entries added as strings; everything
// else (signatures, say) is kept. It writes outside any transaction.
func (r *Repo) EditDetachedMetadata(ctx context.Context, commit string, set map[string]string, drop []string) error {
	what := "updating detached metadata of " + commit
	old, err := r.readDetached(commit)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if old != nil {
		defer C.g_variant_unref(old)
	}
	ccsum := C.CString(commit)
	defer C.free(unsafe.Pointer(ccsum))
	var gerr *C.GError
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = set[k]
	}
	cdrop, ckeys, cvals := newStrv(drop), newStrv(keys), newStrv(vals)
	defer C.g_strfreev(cdrop)
	defer C.g_strfreev(ckeys)
	defer C.g_strfreev(cvals)
	v := C.strata_vardict_edit(old, cdrop, ckeys, cvals)
	defer C.g_variant_unref(v)
	var nv *C.GVariant
	if C.g_variant_n_children(v) > 0 {
		nv = v
	}
	canc, release := cancellable(ctx)
	defer release()
	if C.ostree_repo_write_commit_detached_metadata(r.ptr, ccsum, nv, canc, &gerr) == 0 {
		return opError(ctx, what, gerr)
	}
	return nil
}

// ReadDetachedMetadata returns commit's detached metadata as Go values (the
// conversions of Commit.Metadata); an empty map when there is none.
func (r *Repo) ReadDetachedMetadata(commit string) (map[string]any, error) {
	v, err := r.readDetached(commit)
	if err != nil || v == nil {
		return map[string]any{}, err
	}
	defer C.g_variant_unref(v)
	return vardictToGo(v), nil
}

// readDetached loads commit's detached metadata (a new reference, to unref),
// nil when there is none.
func (r *Repo) readDetached(commit string) (*C.GVariant, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	ccsum := C.CString(commit)
	defer C.free(unsafe.Pointer(ccsum))
	var v *C.GVariant
	var gerr *C.GError
	if C.strata_read_detached(r.ptr, ccsum, &v, &gerr) == 0 {
		return nil, fmt.Errorf("reading detached metadata of %s: %w", commit, takeError(gerr))
	}
	return v, nil
}

// DetachedMetadataBytes returns the serialized a{sv} of commit's detached
// metadata without the keys in drop; nil when nothing is left.
func (r *Repo) DetachedMetadataBytes(commit string, drop []string) ([]byte, error) {
	v, err := r.readDetached(commit)
	if err != nil || v == nil {
		return nil, err
	}
	defer C.g_variant_unref(v)
	cdrop := newStrv(drop)
	defer C.g_strfreev(cdrop)
	kept := C.strata_vardict_edit(v, cdrop, nil, nil)
	defer C.g_variant_unref(kept)
	if C.g_variant_n_children(kept) == 0 {
		return nil, nil
	}
	return variantBytes(kept), nil
}
