package transactions

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/layering"
)

// Cleanup elements, as rpm-ostree names them on the wire.
const (
	CleanupBase     = "base"            // unreferenced base commits and cached package commits
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
	return e.run(ctx, func(s *ostree.Sysroot) error {
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
