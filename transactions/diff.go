package transactions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/rpmdb"
)

// PackageDiff compares the rpmdbs of two deployments, given by id.
func (e *Engine) PackageDiff(ctx context.Context, fromID, toID string) ([]rpmdb.Change, error) {
	var changes []rpmdb.Change
	err := e.View(ctx, func(s *ostree.Sysroot) error {
		lists := make([][]rpmdb.Package, 2)
		for i, id := range []string{fromID, toID} {
			d := deploymentByID(s, id)
			if d == nil {
				return fmt.Errorf("no deployment with id %q", id)
			}
			pkgs, err := rpmdb.List(ctx, s.DeploymentPath(d))
			if err != nil {
				return err
			}
			lists[i] = pkgs
		}
		changes = rpmdb.Diff(lists[0], lists[1])
		return nil
	})
	return changes, err
}

func deploymentByID(s *ostree.Sysroot, id string) *ostree.Deployment {
	for _, d := range s.Deployments() {
		if d.ID() == id {
			return d
		}
	}
	return nil
}

// UpdateDiff compares the packages of the base osname would upgrade from with
// those of the cached update (fetched by CheckUpdate). It returns no changes
// and a nil update when there is none.
func (e *Engine) UpdateDiff(ctx context.Context, osname string) ([]rpmdb.Change, *Update, error) {
	var changes []rpmdb.Change
	var update *Update
	err := e.View(ctx, func(s *ostree.Sysroot) error {
		update = CachedUpdate(s, osname)
		if update == nil {
			return nil
		}
		merge := s.MergeDeployment(osname)
		repo := s.Repo()
		from, err := commitPackages(ctx, repo, BaseChecksum(repo, merge))
		if err != nil {
			return err
		}
		to, err := commitPackages(ctx, repo, update.Checksum)
		if err != nil {
			return fmt.Errorf("reading the update's packages (run `strata upgrade --check` first): %w", err)
		}
		changes = rpmdb.Diff(from, to)
		return nil
	})
	return changes, update, err
}

// commitPackages lists the packages in a commit's rpmdb without checking out
// more than the rpmdb.
func commitPackages(ctx context.Context, repo *ostree.Repo, commit string) ([]rpmdb.Package, error) {
	root, err := os.MkdirTemp("", "strata-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	if err := os.MkdirAll(filepath.Join(root, "usr/share"), 0o755); err != nil {
		return nil, err
	}
	if err := repo.CheckoutSubpath(ctx, commit, "/"+rpmdb.Dir, filepath.Join(root, rpmdb.Dir)); err != nil {
		return nil, err
	}
	return rpmdb.List(ctx, root)
}
