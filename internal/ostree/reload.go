package ostree

// #cgo pkg-config: ostree-1
// #include "helpers.h"
import "C"

import "context"

// ReloadConfig re-reads the repo's config file (remotes and their URLs), which
// other tools such as `ostree remote add` may have changed since it was opened.
func (r *Repo) ReloadConfig(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	c, release := cancellable(ctx)
	defer release()
	var gerr *C.GError
	if C.ostree_repo_reload_config(r.ptr, c, &gerr) == 0 {
		return opError(ctx, "reloading repo config", gerr)
	}
	return nil
}
