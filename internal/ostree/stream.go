package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include <sys/stat.h>
// #include "helpers.h"
// #include "stream_helpers.h"
import "C"

import (
	"context"
	"fmt"
	"io"
	"sort"
	"unsafe"
)

// ObjectMeta is the owner, mode and xattrs of an object written by a
// TreeBuilder.
type ObjectMeta struct {
	UID, GID uint32
	// Mode holds the permission bits (mode & 07777); the file type comes
	// from the method called.
	Mode uint32
	// Xattrs maps names to values; they are stored sorted by name.
	Xattrs map[string][]byte
}

// TreeBuilder writes objects one at a time from values (a tar stream, say)
// into the running repo transaction of CommitTree and places them in the
// tree being built. Nothing is written to a directory first.
type TreeBuilder struct {
	r    *Repo
	ctx  context.Context
	canc *C.GCancellable
	root *C.OstreeMutableTree
	// dirmetas caches dirmeta checksums: most directories share a few
	// owner/mode combinations.
	dirmetas map[string]string
	buf      []byte
}

// Dir is a directory of the tree a TreeBuilder builds.
type Dir struct{ t *C.OstreeMutableTree }

// inlineMax is the largest file read into memory and written in one call;
// larger files are streamed through a content writer in chunks of this size.
const inlineMax = 1 << 20

// CommitTree runs build inside one repo transaction, then commits the tree
// build filled (parentless, with the metadata build returned, values as for
// CommitDir) and points ref at it when ref is not "". A failing build or a
// cancelled ctx aborts the transaction: no ref moves and nothing stays
// staged.
func (r *Repo) CommitTree(ctx context.Context, subject, ref string, build func(*TreeBuilder) (map[string]any, error)) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	what := "committing " + subject
	var checksum string
	err := r.inTransaction(ctx, what, func(canc *C.GCancellable) error {
		root := C.ostree_mutable_tree_new()
		defer C.g_object_unref(C.gpointer(root))
		b := &TreeBuilder{r: r, ctx: ctx, canc: canc, root: root, dirmetas: map[string]string{}}
		metadata, err := build(b)
		if err != nil {
			return err
		}
		md, err := vardictFromGo(metadata)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer C.g_variant_unref(md)
		checksum, err = r.writeCommit(ctx, root, commitSpec{subject: subject, metadata: md, ref: ref}, canc)
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

// Root is the tree's root directory.
func (b *TreeBuilder) Root() Dir { return Dir{b.root} }

// Subdir returns directory name of d, created empty when missing. name
// must not be a file of d.
func (b *TreeBuilder) Subdir(d Dir, name string) (Dir, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var gerr *C.GError
	sub := C.strata_mtree_subdir(d.t, cname, &gerr)
	if sub == nil {
		return Dir{}, fmt.Errorf("directory %s: %w", name, takeError(gerr))
	}
	return Dir{sub}, nil
}

// SetFile places the content object csum (file or symlink) at name in d.
func (b *TreeBuilder) SetFile(d Dir, name, csum string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	ccsum := C.CString(csum)
	defer C.free(unsafe.Pointer(ccsum))
	var gerr *C.GError
	if C.ostree_mutable_tree_replace_file(d.t, cname, ccsum, &gerr) == 0 {
		return fmt.Errorf("file %s: %w", name, takeError(gerr))
	}
	return nil
}

// SetMeta gives d the dirmeta object csum (from WriteDirMeta).
func (b *TreeBuilder) SetMeta(d Dir, csum string) {
	ccsum := C.CString(csum)
	defer C.free(unsafe.Pointer(ccsum))
	C.ostree_mutable_tree_set_metadata_checksum(d.t, ccsum)
}

// WriteDirMeta writes the dirmeta object of a directory with meta and
// returns its checksum.
func (b *TreeBuilder) WriteDirMeta(meta ObjectMeta) (string, error) {
	key := fmt.Sprintf("%d:%d:%o:%q", meta.UID, meta.GID, meta.Mode&0o7777, sortedXattrs(meta.Xattrs))
	if csum, ok := b.dirmetas[key]; ok {
		return csum, nil
	}
	xattrs := xattrsVariant(meta.Xattrs)
	defer C.g_variant_unref(xattrs)
	var gerr *C.GError
	out := C.strata_write_dirmeta(b.r.ptr, C.guint32(meta.UID), C.guint32(meta.GID), C.guint32(meta.Mode), xattrs, b.canc, &gerr)
	if out == nil {
		return "", opError(b.ctx, "writing directory metadata", gerr)
	}
	csum := takeString(out)
	b.dirmetas[key] = csum
	return csum, nil
}

// WriteSymlink writes a symlink content object and returns its checksum.
func (b *TreeBuilder) WriteSymlink(meta ObjectMeta, target string) (string, error) {
	xattrs := xattrsVariant(meta.Xattrs)
	defer C.g_variant_unref(xattrs)
	ctarget := C.CString(target)
	defer C.free(unsafe.Pointer(ctarget))
	var gerr *C.GError
	out := C.ostree_repo_write_symlink(b.r.ptr, nil, C.guint32(meta.UID), C.guint32(meta.GID), xattrs, ctarget, b.canc, &gerr)
	if out == nil {
		return "", opError(b.ctx, "writing symlink to "+target, gerr)
	}
	return takeString(out), nil
}

// WriteFile writes a regular file's content object from exactly size
// bytes of data and returns its checksum. A short read is an error.
func (b *TreeBuilder) WriteFile(meta ObjectMeta, size int64, data io.Reader) (string, error) {
	if size < 0 {
		return "", fmt.Errorf("writing file: negative size %d", size)
	}
	xattrs := xattrsVariant(meta.Xattrs)
	defer C.g_variant_unref(xattrs)
	mode := C.guint32(C.S_IFREG | (meta.Mode & 0o7777))
	if size <= inlineMax {
		buf := b.buffer(int(size))
		if _, err := io.ReadFull(data, buf); err != nil {
			return "", fmt.Errorf("reading file content: %w", err)
		}
		var p *C.guint8
		if size > 0 {
			p = (*C.guint8)(unsafe.Pointer(&buf[0]))
		}
		var gerr *C.GError
		out := C.ostree_repo_write_regfile_inline(b.r.ptr, nil, C.guint32(meta.UID), C.guint32(meta.GID), mode, xattrs, p, C.gsize(size), b.canc, &gerr)
		if out == nil {
			return "", opError(b.ctx, "writing file", gerr)
		}
		return takeString(out), nil
	}
	var gerr *C.GError
	w := C.ostree_repo_write_regfile(b.r.ptr, nil, C.guint32(meta.UID), C.guint32(meta.GID), mode, C.guint64(size), xattrs, &gerr)
	if w == nil {
		return "", opError(b.ctx, "writing file", gerr)
	}
	defer C.g_object_unref(C.gpointer(w))
	buf := b.buffer(inlineMax)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		if _, err := io.ReadFull(data, buf[:n]); err != nil {
			return "", fmt.Errorf("reading file content: %w", err)
		}
		if C.strata_content_writer_write(w, unsafe.Pointer(&buf[0]), C.gsize(n), b.canc, &gerr) == 0 {
			return "", opError(b.ctx, "writing file", gerr)
		}
		left -= n
	}
	out := C.ostree_content_writer_finish(w, b.canc, &gerr)
	if out == nil {
		return "", opError(b.ctx, "writing file", gerr)
	}
	return takeString(out), nil
}

func (b *TreeBuilder) buffer(n int) []byte {
	if cap(b.buf) < n {
		b.buf = make([]byte, n)
	}
	return b.buf[:n]
}

type xattr struct {
	name  string
	value []byte
}

func sortedXattrs(m map[string][]byte) []xattr {
	out := make([]xattr, 0, len(m))
	for k, v := range m {
		out = append(out, xattr{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// xattrsVariant builds the a(ayay) of m, sorted by name so equal sets give
// equal checksums whatever order a tar header listed them in.
func xattrsVariant(m map[string][]byte) *C.GVariant {
	b := C.strata_xattrs_new()
	for _, x := range sortedXattrs(m) {
		cname := C.CString(x.name)
		var p unsafe.Pointer
		if len(x.value) > 0 {
			p = C.CBytes(x.value)
		}
		C.strata_xattrs_add(b, cname, p, C.gsize(len(x.value)))
		C.free(unsafe.Pointer(cname))
		C.free(p)
	}
	return C.strata_xattrs_end(b)
}
