package layering

import (
	"context"
	"os"
	"path/filepath"

	"github.com/strata-os/strata/rpmdb"
)

// rpmdbStage writes the new rpmdb: removed base packages out, layered ones
// in, sealed for the commit (no sqlite side files, readable from a read-only
// /usr). The side files the base itself carries are noted so that the
// commit stage drops them too: the overlay only adds and replaces files.
func (c *Composer) rpmdbStage(ctx context.Context, cs *composition) error {
	cs.p.TaskBegin("Writing rpmdb")
	for _, name := range rpmdb.SideFiles {
		if _, err := os.Lstat(filepath.Join(cs.root, rpmdb.Dir, name)); err == nil {
			cs.baseSideFiles = append(cs.baseSideFiles, "/"+rpmdb.Dir+"/"+name)
		}
	}
	var rpmFiles []string
	for _, r := range cs.rpms {
		rpmFiles = append(rpmFiles, r.path)
	}
	var removeNEVRAs []string
	for _, pkg := range cs.res.Removed {
		removeNEVRAs = append(removeNEVRAs, pkg.NEVRA())
	}
	if len(removeNEVRAs) > 0 {
		if err := rpmdb.Remove(ctx, cs.root, removeNEVRAs); err != nil {
			return err
		}
	}
	if err := rpmdb.Add(ctx, cs.root, rpmFiles); err != nil {
		return err
	}
	if err := rpmdb.Seal(ctx, cs.root); err != nil {
		return err
	}
	all, err := rpmdb.List(ctx, cs.root)
	if err != nil {
		return err
	}
	cs.all = all
	cs.p.TaskEnd("done")
	return nil
}
