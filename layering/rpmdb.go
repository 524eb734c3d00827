package layering

import (
	"context"

	"github.com/strata-os/strata/rpmdb"
)

// rpmdbStage writes the new rpmdb: removed base packages out, layered ones in.
func (c *Composer) rpmdbStage(ctx context.Context, cs *composition) error {
	cs.p.TaskBegin("Writing rpmdb")
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
	all, err := rpmdb.List(ctx, cs.root)
	if err != nil {
		return err
	}
	cs.all = all
	cs.p.TaskEnd("done")
	return nil
}
