package ostree

// #cgo pkg-config: ostree-1
// #include <fcntl.h>
// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"
)

// Repo is an open OSTree repository.
type Repo struct {
	ptr  *C.OstreeRepo
	path string
	// borrowed is set for the repo handed out by Sysroot.Repo: its reference
	// belongs to the Sysroot, so Close does nothing.
	borrowed bool
	// written lists the commits the running transaction wrote, marked
	// partial until it completes (see transactionSetRef).
	written []string
	// batch is set while Batch runs: writes join its transaction instead
	// of opening their own. Like a libostree transaction (one per
	// OstreeRepo), it belongs to the one goroutine writing the repo.
	batch bool
}

// Commit is the parsed form of a commit object.
type Commit struct {
	Checksum, Parent, Subject, Body, Version string // Version = metadata "version"
	Timestamp                                time.Time
	// Metadata is the commit's a{sv}: s->string, b->bool, u->uint32,
	// t->uint64, i->int32, x->int64, as->[]string, ay->[]byte,
	// a(sssss)->[][5]string, anything else -> its g_variant_print text.
	Metadata map[string]any
}

// OpenRepo opens the repository at path.
func OpenRepo(path string) (*Repo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening repo %s: %w", path, err)
	}
	cpath := C.CString(abs)
	defer C.free(unsafe.Pointer(cpath))
	file := C.g_file_new_for_path(cpath)
	defer C.g_object_unref(C.gpointer(file))
	repo := C.ostree_repo_new(file)
	var gerr *C.GError
	if C.ostree_repo_open(repo, nil, &gerr) == 0 {
		C.g_object_unref(C.gpointer(repo))
		return nil, fmt.Errorf("opening repo %s: %w", abs, takeError(gerr))
	}
	return &Repo{ptr: repo, path: abs}, nil
}

// wrapRepo takes a new reference on repo for a Repo owned by someone else.
// path is passed in because a sysroot opens its repo through a directory fd,
// so libostree only knows it as /proc/self/fd/N.
func wrapRepo(repo *C.OstreeRepo, path string) *Repo {
	C.g_object_ref(C.gpointer(repo))
	return &Repo{ptr: repo, path: path, borrowed: true}
}

// Close releases the repository. It is safe to call more than once, and does
// nothing on the repo returned by Sysroot.Repo (the Sysroot owns that one).
func (r *Repo) Close() {
	if r == nil || r.borrowed || r.ptr == nil {
		return
	}
	C.g_object_unref(C.gpointer(r.ptr))
	r.ptr = nil
}

// release drops a borrowed repo's reference; only its Sysroot calls it.
func (r *Repo) release() {
	if r != nil && r.ptr != nil {
		C.g_object_unref(C.gpointer(r.ptr))
		r.ptr = nil
	}
}

// Path is the absolute path of the repository.
func (r *Repo) Path() string { return r.path }

func (r *Repo) check() error {
	if r == nil || r.ptr == nil {
		return errClosed
	}
	return nil
}

// ResolveRev resolves a ref ("ref" or "remote:ref") or checksum to a commit
// checksum. A missing ref gives "" and nil when allowNoent is set.
func (r *Repo) ResolveRev(ref string, allowNoent bool) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	cref := C.CString(ref)
	defer C.free(unsafe.Pointer(cref))
	noent := C.gboolean(C.FALSE)
	if allowNoent {
		noent = C.TRUE
	}
	var out *C.char
	var gerr *C.GError
	if C.ostree_repo_resolve_rev(r.ptr, cref, noent, &out, &gerr) == 0 {
		return "", fmt.Errorf("resolving %s: %w", ref, takeError(gerr))
	}
	return takeString(out), nil
}

// ReadCommit loads and parses a commit object. checksum may also be a ref.
func (r *Repo) ReadCommit(checksum string) (*Commit, error) {
	csum, err := r.ResolveRev(checksum, false)
	if err != nil {
		return nil, fmt.Errorf("reading commit: %w", err)
	}
	ccsum := C.CString(csum)
	defer C.free(unsafe.Pointer(ccsum))
	var v *C.GVariant
	var gerr *C.GError
	if C.ostree_repo_load_variant(r.ptr, C.OSTREE_OBJECT_TYPE_COMMIT, ccsum, &v, &gerr) == 0 {
		return nil, fmt.Errorf("reading commit %s: %w", csum, takeError(gerr))
	}
	defer C.g_variant_unref(v)

	c := &Commit{
		Checksum:  csum,
		Parent:    takeString(C.ostree_commit_get_parent(v)),
		Subject:   C.GoString(C.strata_commit_string(v, 3)),
		Body:      C.GoString(C.strata_commit_string(v, 4)),
		Timestamp: time.Unix(int64(C.ostree_commit_get_timestamp(v)), 0).UTC(),
	}
	md := C.strata_commit_metadata(v)
	c.Metadata = vardictToGo(md)
	C.g_variant_unref(md)
	if s, ok := c.Metadata["version"].(string); ok {
		c.Version = s
	}
	return c, nil
}

// ListRefs lists refs (local, and remote ones as "remote:ref") whose refspec
// starts with prefix ("" = all), mapped to their checksums.
func (r *Repo) ListRefs(prefix string) (map[string]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	cprefix, free := cstrOrNil(prefix)
	defer free()
	var tbl *C.GHashTable
	var gerr *C.GError
	if C.ostree_repo_list_refs_ext(r.ptr, cprefix, &tbl, C.OSTREE_REPO_LIST_REFS_EXT_NONE, nil, &gerr) == 0 {
		return nil, fmt.Errorf("listing refs %q: %w", prefix, takeError(gerr))
	}
	defer C.g_hash_table_unref(tbl)
	out := map[string]string{}
	var it C.GHashTableIter
	C.g_hash_table_iter_init(&it, tbl)
	var k, v C.gpointer
	for C.g_hash_table_iter_next(&it, &k, &v) != 0 {
		out[C.GoString((*C.char)(k))] = C.GoString((*C.char)(v))
	}
	return out, nil
}

// SetRef points remote:ref (remote "" = local ref) at checksum in its own
// transaction; checksum "" deletes the ref.
func (r *Repo) SetRef(remote, ref, checksum string) error {
	if err := r.check(); err != nil {
		return err
	}
	cremote, f1 := cstrOrNil(remote)
	defer f1()
	cref := C.CString(ref)
	defer C.free(unsafe.Pointer(cref))
	ccsum, f2 := cstrOrNil(checksum)
	defer f2()
	return r.inTransaction(context.Background(), "setting ref "+ref, func(*C.GCancellable) error {
		C.ostree_repo_transaction_set_ref(r.ptr, cremote, cref, ccsum)
		return nil
	})
}

// Batch runs fn with every write it makes through r (commits, refs,
// objects) in one repo transaction, committed when fn returns nil and
// aborted otherwise: nothing fn wrote is then in the repo, no ref moved.
//
// Why: each transaction ends in libostree's commit_transaction, which
// syncs the filesystem (syncfs) before the staged objects are renamed into
// the repo, and on a busy machine that sync waits for everyone's dirty
// pages. A composition writes one commit per imported package and then
// the layered commit; in one batch it pays one sync instead of one per
// commit, with the same guarantee for each object (synced before it
// becomes visible) and the same all-or-nothing outcome after a kill.
// Objects written earlier in the batch are readable through r before the
// batch commits (libostree looks in its staging directory first); refs set
// in it are not, until it commits. A Batch inside a Batch joins it.
func (r *Repo) Batch(ctx context.Context, what string, fn func() error) error {
	if err := r.check(); err != nil {
		return err
	}
	if r.batch {
		return fn()
	}
	return r.inTransaction(ctx, what, func(*C.GCancellable) error {
		r.batch = true
		defer func() { r.batch = false }()
		return fn()
	})
}

// inTransaction runs fn between prepare_transaction and commit_transaction,
// aborting the transaction when fn or the commit fails. Inside Batch, fn
// runs in the batch's transaction, which Batch commits or aborts.
func (r *Repo) inTransaction(ctx context.Context, what string, fn func(*C.GCancellable) error) error {
	canc, release := cancellable(ctx)
	defer release()
	if r.batch {
		return fn(canc)
	}
	var gerr *C.GError
	if C.ostree_repo_prepare_transaction(r.ptr, nil, canc, &gerr) == 0 {
		return opError(ctx, what+": preparing transaction", gerr)
	}
	if err := fn(canc); err != nil {
		r.abortTransaction()
		r.unmarkWritten()
		return err
	}
	if C.ostree_repo_commit_transaction(r.ptr, nil, canc, &gerr) == 0 {
		err := opError(ctx, what+": committing transaction", gerr)
		r.abortTransaction()
		r.unmarkWritten()
		return err
	}
	if err := r.unmarkWritten(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// unmarkWritten clears the partial marks of the commits the transaction
// wrote: they are complete now, or were never moved into the repo.
func (r *Repo) unmarkWritten() error {
	var first error
	for _, checksum := range r.written {
		if err := r.markPartial(checksum, false); err != nil && first == nil {
			first = err
		}
	}
	r.written = nil
	return first
}

func (r *Repo) markPartial(checksum string, partial bool) error {
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	cpartial := C.gboolean(C.FALSE)
	if partial {
		cpartial = C.TRUE
	}
	var gerr *C.GError
	if C.ostree_repo_mark_commit_partial(r.ptr, ccsum, cpartial, &gerr) == 0 {
		return fmt.Errorf("marking commit %s partial=%v: %w", checksum, partial, takeError(gerr))
	}
	return nil
}

func (r *Repo) abortTransaction() {
	var gerr *C.GError
	if C.ostree_repo_abort_transaction(r.ptr, nil, &gerr) == 0 {
		// Nothing more can be done; the next prepare_transaction cleans up
		// the staging directory anyway.
		takeError(gerr)
	}
}

// RemoteList lists the configured remotes.
func (r *Repo) RemoteList() ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	var n C.guint
	strv := C.ostree_repo_remote_list(r.ptr, &n)
	defer C.g_strfreev(strv)
	out := goStrv(strv)
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// RemoteURL returns the URL configured for remote name.
func (r *Repo) RemoteURL(name string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var out *C.char
	var gerr *C.GError
	if C.ostree_repo_remote_get_url(r.ptr, cname, &out, &gerr) == 0 {
		return "", fmt.Errorf("getting URL of remote %s: %w", name, takeError(gerr))
	}
	return takeString(out), nil
}

// Checkout checks commit out into destDir, which must not exist yet. Files
// are hardlinked from the repo when its mode allows (bare repo, same
// filesystem) and copied otherwise; ownership is kept (mode "none").
func (r *Repo) Checkout(ctx context.Context, checksum, destDir string) error {
	if err := r.check(); err != nil {
		return err
	}
	if _, err := os.Lstat(destDir); err == nil {
		return fmt.Errorf("checking out %s: %s already exists", checksum, destDir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking out %s: %w", checksum, err)
	}
	cdest := C.CString(destDir)
	defer C.free(unsafe.Pointer(cdest))
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	canc, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.strata_checkout(r.ptr, cdest, ccsum, canc, &gerr) == 0 {
		return opError(ctx, fmt.Sprintf("checking out %s to %s", checksum, destDir), gerr)
	}
	return nil
}

// CommitDir commits the tree at dir as it is on disk (owners, modes and
// xattrs kept) with the given parent ("" = none), subject and metadata, and
// points ref at it when ref is not "" (a "remote:ref" refspec is accepted).
// It returns the new commit's checksum.
func (r *Repo) CommitDir(ctx context.Context, dir, parent, subject string, metadata map[string]any, ref string) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	md, err := vardictFromGo(metadata)
	if err != nil {
		return "", fmt.Errorf("committing %s: %w", dir, err)
	}
	defer C.g_variant_unref(md)
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))

	var checksum string
	what := "committing " + dir
	err = r.inTransaction(ctx, what, func(canc *C.GCancellable) error {
		var gerr *C.GError
		mtree := C.ostree_mutable_tree_new()
		defer C.g_object_unref(C.gpointer(mtree))
		if C.ostree_repo_write_dfd_to_mtree(r.ptr, C.AT_FDCWD, cdir, mtree, nil, canc, &gerr) == 0 {
			return opError(ctx, what, gerr)
		}
		var err error
		checksum, err = r.writeCommit(ctx, mtree, commitSpec{parent: parent, subject: subject, metadata: md, ref: ref}, canc)
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

// transactionSetRef is called once the running transaction has written the
// commit checksum: it points cref ("remote:ref" or "ref"; nil = none) at it
// when the transaction commits, and marks the commit partial until then.
// libostree moves the staged objects into the repo one by one, in no set
// order, when the transaction commits: a process killed half-way can leave
// the commit object in place without some of its trees. Marked partial, such
// a commit is what it is, incomplete, to libostree and `ostree fsck`, rather
// than corrupt; the mark is cleared once the transaction completes.
func (r *Repo) transactionSetRef(cref *C.char, checksum string) error {
	if err := r.markPartial(checksum, true); err != nil {
		return err
	}
	r.written = append(r.written, checksum)
	if cref == nil {
		return nil
	}
	ccsum := C.CString(checksum)
	defer C.free(unsafe.Pointer(ccsum))
	C.ostree_repo_transaction_set_refspec(r.ptr, cref, ccsum)
	return nil
}
