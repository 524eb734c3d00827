package layering

import (
	"context"
	"os"
	"path/filepath"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/rpmdb"
)

// rpmdbStage writes the new rpmdb: removed base packages out, layered ones
// in, sealed for the commit (no sqlite side files, readable from a read-only
// /usr). The side files the base itself carries are noted so that the
// commit stage drops them too: the overlay only adds and replaces files.
//
// Each rpm or sqlite3 process costs tens of milliseconds of every
// transaction, so none runs twice: Remove and Add seal the database
// themselves, and the new package list is derived rather than read back.
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
	if err := rpmdb.Remove(ctx, cs.root, removeNEVRAs); err != nil {
		return err
	}
	if err := rpmdb.Add(ctx, cs.root, rpmFiles); err != nil {
		return err
	}
	if len(removeNEVRAs) == 0 && len(rpmFiles) == 0 {
		if err := rpmdb.Seal(ctx, cs.root); err != nil {
			return err
		}
	}
	cs.all = newPackageList(cs.basePkgs, cs.res.Removed, cs.layers)
	cs.p.TaskEnd("done")
	return nil
}

// newPackageList is the package list of the rpmdb rpmdbStage wrote: the
// base's, minus the removed packages, plus one entry per added package as
// its header names it (the identity rpmimport read from the same file rpm
// recorded). rpm's one transaction either did exactly that or failed the
// stage, so reading the database back (another rpm process) could only
// repeat it.
func newPackageList(base, removed []rpmdb.Package, added []*rpmimport.Result) []rpmdb.Package {
	gone := map[string]bool{}
	for _, p := range removed {
		gone[p.NEVRA()] = true
	}
	all := []rpmdb.Package{}
	for _, p := range base {
		if !gone[p.NEVRA()] {
			all = append(all, p)
		}
	}
	for _, l := range added {
		all = append(all, l.Package)
	}
	nevra.Sort(all)
	return all
}
