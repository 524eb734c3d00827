package ostree

// #cgo pkg-config: ostree-1
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

// LookupTree describes the given absolute paths of a commit, reading only the
// dirtrees on the way to each (unlike ListTree, which walks everything below
// a subpath). Paths the commit does not have are absent from the result.
func (r *Repo) LookupTree(ctx context.Context, commit string, paths []string) (map[string]TreeEntry, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	csum, err := r.ResolveRev(commit, false)
	if err != nil {
		return nil, fmt.Errorf("looking up paths in %s: %w", commit, err)
	}
	ccsum := C.CString(csum)
	defer C.free(unsafe.Pointer(ccsum))
	var contents, meta *C.char
	var gerr *C.GError
	if C.strata_commit_root(r.ptr, ccsum, &contents, &meta, &gerr) == 0 {
		return nil, fmt.Errorf("looking up paths in %s: %w", commit, takeError(gerr))
	}
	root := dirRef{contents: takeString(contents), meta: takeString(meta)}
	w := treeWalker{r: r, ctx: ctx}
	out := map[string]TreeEntry{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clean := path.Clean("/" + p)
		ent, err := w.lookup(root, clean)
		if err != nil {
			return nil, fmt.Errorf("looking up %s in %s: %w", clean, commit, err)
		}
		if ent != nil {
			out[clean] = *ent
		}
	}
	return out, nil
}

// lookup descends from root to p; nil when p does not exist.
func (w *treeWalker) lookup(root dirRef, p string) (*TreeEntry, error) {
	dir, cur := root, "/"
	names := strings.Split(strings.Trim(p, "/"), "/")
	for i, name := range names {
		if name == "" {
			continue
		}
		cur = path.Join(cur, name)
		ent, sub, err := w.child(dir, cur, name)
		if err != nil {
			return nil, err
		}
		last := i == len(names)-1
		switch {
		case sub != nil && last:
			d, err := w.dirEntry(*sub, cur)
			return &d, err
		case sub != nil:
			dir = *sub
		case ent != nil && last:
			return ent, nil
		default:
			return nil, nil // missing, or a file where a directory was expected
		}
	}
	d, err := w.dirEntry(root, "/")
	return &d, err
}
