package transactions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/layering"
	"github.com/strata-os/strata/rpmdb"
)

// Cleanup elements, as rpm-ostree names them on the wire.
const (
	CleanupBase     = "base"            // unreferenced base commits, cached package commits, undeployed images
	CleanupPending  = "pending-deploy"  // deployments newer than the booted one
	CleanupRollback = "rollback-deploy" // deployments older than the booted (or default) one
	CleanupRepomd   = "repomd"          // cached rpm-md repository metadata
)

// Cleanup removes what elements name for osname, then lets libostree delete
// unreferenced deployment directories and prune the repo.
func (e *Engine) Cleanup(ctx context.Context, osname string, elements []string, p Progress) error {
	want := map[string]bool{}
	for _, el := range elements {
		switch el {
		case CleanupBase, CleanupPending, CleanupRollback, CleanupRepomd:
			want[el] = true
		default:
			return fmt.Errorf("unknown cleanup element %q (known: base, pending-deploy, rollback-deploy, repomd)", el)
		}
	}
	return e.run(ctx, func(s Sysroot) error {
		deployments := s.Deployments()
		keep := keepAfterCleanup(deployments, osname, want[CleanupPending], want[CleanupRollback])
		if len(keep) != len(deployments) {
			p.TaskBegin("Removing deployments")
			if err := s.WriteDeployments(context.WithoutCancel(ctx), keep); err != nil {
				return err
			}
			p.TaskEnd("done")
		}
		if err := syncBaseRefs(s.Repo(), s.Deployments()); err != nil {
			return fmt.Errorf("updating base commit refs: %w", err)
		}
		if want[CleanupBase] {
			n, err := dropUnusedPackages(s)
			if err != nil {
				return err
			}
			if n > 0 {
				p.Message(fmt.Sprintf("Removed %d cached package(s) no deployment uses", n))
			}
			images, layers, err := s.PruneImages(deployedBases(s))
			if err != nil {
				return fmt.Errorf("pruning container images: %w", err)
			}
			if images+layers > 0 {
				p.Message(fmt.Sprintf("Removed %d container image(s) and %d image layer(s) no deployment uses", images, layers))
			}
		}
		if want[CleanupRepomd] {
			c := layering.Composer{CacheDir: filepath.Join(s.Path(), CacheDir)}
			if err := c.MetadataCache().Clean(); err != nil {
				return fmt.Errorf("removing metadata cache: %w", err)
			}
		}
		p.TaskBegin("Pruning unused objects")
		if err := s.Cleanup(ctx); err != nil {
			return fmt.Errorf("cleaning up sysroot: %w", err)
		}
		p.TaskEnd("done")
		return nil
	})
}

// deployedBases lists the commits the deployments use as bases (the
// deployed commit itself when nothing is layered).
func deployedBases(s Sysroot) []string {
	var bases []string
	for _, d := range s.Deployments() {
		bases = append(bases, d.Checksum, baseOfCommit(s.Repo(), d.Checksum))
	}
	return bases
}

// keepAfterCleanup drops pending deployments (those before the booted one) and/or
// rollback deployments (those after the booted one; after the default one on a
// host not booted from this sysroot) of osname. Other stateroots are kept.
func keepAfterCleanup(deployments []*ostree.Deployment, osname string, pending, rollback bool) []*ostree.Deployment {
	anchor := -1
	for i, d := range deployments {
		if d.Osname == osname && d.Booted {
			anchor = i
		}
	}
	if anchor < 0 {
		for i, d := range deployments {
			if d.Osname == osname {
				anchor = i
				break
			}
		}
	}
	var keep []*ostree.Deployment
	for i, d := range deployments {
		drop := d.Osname == osname && !d.Pinned && ((pending && i < anchor) || (rollback && i > anchor))
		if !drop {
			keep = append(keep, d)
		}
	}
	return keep
}

// dropUnusedPackages deletes the imported-package refs (rpmostree/pkg/…) and
// downloaded RPMs of packages no deployment contains, so pruning can free
// them; they are imported again if ever requested again.
func dropUnusedPackages(s Sysroot) (int, error) {
	repo := s.Repo()
	refInUse := map[string]bool{}
	fileInUse := map[string]bool{} // downloaded RPMs are named <nevra>.rpm
	for _, d := range s.Deployments() {
		c, err := repo.ReadCommit(d.Checksum)
		if err != nil {
			return 0, err
		}
		list, _ := c.Metadata["rpmostree.rpmdb.pkglist"].([][5]string)
		pkgs, err := rpmdb.ParsePkgList(list)
		if err != nil {
			return 0, fmt.Errorf("reading package list of %s: %w", d.ID(), err)
		}
		for _, p := range pkgs {
			refInUse[rpmimport.Ref(p.Name, p.Epoch, p.Version, p.Release, p.Arch)] = true
			fileInUse[p.NEVRA()+".rpm"] = true
		}
	}
	refs, err := repo.ListRefs(strings.TrimSuffix(rpmimport.RefPrefix, "/"))
	if err != nil {
		return 0, err
	}
	dropped := 0
	for ref := range refs {
		if refInUse[ref] {
			continue
		}
		if err := repo.SetRef("", ref, ""); err != nil {
			return dropped, err
		}
		dropped++
	}
	cached, _ := filepath.Glob(filepath.Join(s.Path(), CacheDir, "rpms", "*.rpm"))
	for _, path := range cached {
		if !fileInUse[filepath.Base(path)] {
			if err := os.Remove(path); err != nil {
				return dropped, err
			}
		}
	}
	return dropped, nil
}
