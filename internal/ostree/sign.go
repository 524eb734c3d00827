package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
// #include "objects_helpers.h"
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// Ed25519SignatureKey is the detached-metadata key under which libostree's
// sign API (`ostree sign`) keeps a commit's ed25519 signatures: an aay,
// one 64-byte signature of the commit object per element.
const Ed25519SignatureKey = "ostree.sign.ed25519"

// RemoteOption reads option of remote from the repo configuration (the
// remote's own file in remotes.d included); set is false when the remote
// does not have it.
func (r *Repo) RemoteOption(remote, option string) (value string, set bool, err error) {
	if err := r.check(); err != nil {
		return "", false, err
	}
	cremote := C.CString(remote)
	defer C.free(unsafe.Pointer(cremote))
	copt := C.CString(option)
	defer C.free(unsafe.Pointer(copt))
	var out *C.char
	var gerr *C.GError
	if C.ostree_repo_get_remote_option(r.ptr, cremote, copt, nil, &out, &gerr) == 0 {
		return "", false, fmt.Errorf("reading option %s of remote %q: %w", option, remote, takeError(gerr))
	}
	if out == nil {
		return "", false, nil
	}
	return takeString(out), true, nil
}

// CommitObject returns the serialized commit object of commit: the bytes
// its checksum is computed over, and the bytes an ed25519 signature signs.
func (r *Repo) CommitObject(commit string) ([]byte, error) {
	return r.LoadMetadata(ObjectCommit, commit)
}

// SetDetachedByteArrays sets key in commit's detached metadata to an aay of
// values, keeping every other key (GPG signatures, say). It writes outside
// any transaction, as `ostree sign` does.
func (r *Repo) SetDetachedByteArrays(ctx context.Context, commit, key string, values [][]byte) error {
	what := "writing " + key + " to the detached metadata of " + commit
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
	n := len(values)
	ptrSize, lenSize := C.size_t(unsafe.Sizeof(unsafe.Pointer(nil))), C.size_t(unsafe.Sizeof(C.gsize(0)))
	items := (*[1 << 20]unsafe.Pointer)(C.malloc(ptrSize * C.size_t(n+1)))[: n+1 : n+1]
	lens := (*[1 << 20]C.gsize)(C.malloc(lenSize * C.size_t(n+1)))[: n+1 : n+1]
	defer C.free(unsafe.Pointer(&items[0]))
	defer C.free(unsafe.Pointer(&lens[0]))
	for i, v := range values {
		items[i] = C.CBytes(v)
		lens[i] = C.gsize(len(v))
		defer C.free(items[i])
	}
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	nv := C.strata_vardict_set_bytes_array(old, ckey, (*unsafe.Pointer)(unsafe.Pointer(&items[0])), &lens[0], C.gsize(n))
	defer C.g_variant_unref(nv)
	canc, release := cancellable(ctx)
	defer release()
	if C.ostree_repo_write_commit_detached_metadata(r.ptr, ccsum, nv, canc, &gerr) == 0 {
		return opError(ctx, what, gerr)
	}
	return nil
}
