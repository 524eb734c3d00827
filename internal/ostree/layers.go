package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
// #include "compose_helpers.h"
// #include "layers_helpers.h"
import "C"

import (
	"context"
	"fmt"
	"time"
	"unsafe"
)

// LayerSpec is one container-image layer commit for MergeLayers.
type LayerSpec struct {
	// Commit is the layer's commit (checksum or ref).
	Commit string
	// Dirty lists the directories (relative, "" = root) that hold a
	// whiteout marker, and their ancestors: only those are walked when the
	// lower layers do not have them yet; everything else is linked in by
	// checksum.
	Dirty []string
	// Implicit lists directories the layer did not carry itself: a lower
	// layer's metadata wins for them, and they may not replace a lower
	// file or symlink (that would be writing through it).
	Implicit []string
}

// LayerMergeSpec describes an image commit made of layer commits.
type LayerMergeSpec struct {
	Layers   []LayerSpec
	Subject  string
	Metadata map[string]any
	// Timestamp of the commit; zero = now.
	Timestamp time.Time
	// Ref, when set, points at the new commit in the same transaction.
	Ref string
	// Check, when set, inspects the merged tree before anything is
	// committed; an error aborts the merge.
	Check func(TreeLister) error
}

// TreeLister reads the merged tree for LayerMergeSpec.Check.
type TreeLister interface {
	// List gives the file (regular and symlink) and directory names of
	// directory dir (relative, "" = root); ok is false when dir is not a
	// directory.
	List(dir string) (files, dirs []string, ok bool)
}

type mtreeLister struct{ root *C.OstreeMutableTree }

func (l mtreeLister) List(dir string) (files, dirs []string, ok bool) {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var nf C.guint
	strv := C.strata_mtree_list(l.root, cdir, &nf)
	if strv == nil {
		return nil, nil, false
	}
	defer C.g_strfreev(strv)
	all := goStrv(strv)
	return all[:int(nf)], all[int(nf):], true
}

// MergeLayers applies the layers in order onto an empty tree (later layers
// win; ".wh.NAME" markers delete NAME from lower layers, ".wh..wh..opq"
// empties its directory of lower content; markers are not in the result) and
// commits it, all in one repo transaction. Content is never read or hashed
// again: trees are combined by checksum.
func (r *Repo) MergeLayers(ctx context.Context, spec LayerMergeSpec) (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	what := "merging layers"
	if len(spec.Layers) == 0 {
		return "", fmt.Errorf("%s: no layers", what)
	}
	commits := make([]string, len(spec.Layers))
	for i, l := range spec.Layers {
		var err error
		if commits[i], err = r.ResolveRev(l.Commit, false); err != nil {
			return "", fmt.Errorf("%s: layer %d: %w", what, i, err)
		}
	}
	md, err := vardictFromGo(spec.Metadata)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer C.g_variant_unref(md)
	var ts uint64
	if !spec.Timestamp.IsZero() {
		ts = uint64(spec.Timestamp.Unix())
	}

	var checksum string
	err = r.inTransaction(ctx, what, func(canc *C.GCancellable) error {
		root := C.ostree_mutable_tree_new()
		defer C.g_object_unref(C.gpointer(root))
		for i, l := range spec.Layers {
			if err := r.mergeLayer(ctx, root, commits[i], l, canc); err != nil {
				return fmt.Errorf("%s: layer %s: %w", what, l.Commit, err)
			}
		}
		if spec.Check != nil {
			if err := spec.Check(mtreeLister{root}); err != nil {
				return err
			}
		}
		var err error
		checksum, err = r.writeCommit(ctx, root, commitSpec{subject: spec.Subject, metadata: md, timestamp: ts, ref: spec.Ref}, canc)
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

// mergeLayer overlays the root of layer commit onto root, whiteouts
// applied.
func (r *Repo) mergeLayer(ctx context.Context, root *C.OstreeMutableTree, commit string, l LayerSpec, canc *C.GCancellable) error {
	ccommit := C.CString(commit)
	defer C.free(unsafe.Pointer(ccommit))
	var contents, meta *C.char
	var gerr *C.GError
	if C.strata_commit_root(r.ptr, ccommit, &contents, &meta, &gerr) == 0 {
		return opError(ctx, "reading commit", gerr)
	}
	defer C.g_free(C.gpointer(contents))
	defer C.g_free(C.gpointer(meta))
	opts := C.StrataMergeOpts{layer: C.TRUE, dirty: strSet(l.Dirty), implicit: strSet(l.Implicit)}
	defer C.g_hash_table_unref(opts.dirty)
	defer C.g_hash_table_unref(opts.implicit)
	if C.strata_mtree_merge(r.ptr, root, contents, meta, &opts, canc, &gerr) == 0 {
		return opError(ctx, "merging", gerr)
	}
	return nil
}

func strSet(ss []string) *C.GHashTable {
	set := C.strata_str_set_new()
	for _, s := range ss {
		cs := C.CString(s)
		C.strata_str_set_add(set, cs)
		C.free(unsafe.Pointer(cs))
	}
	return set
}
