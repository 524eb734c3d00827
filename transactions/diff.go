package transactions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/rpmdb"
)

// DeploymentPackages lists the packages of a revision, sorted as rpmdb.List
// returns them: the rpmdb of the deployment with the given id, or of a
// commit of the sysroot's repo given by its full checksum (rpm-ostree's db
// commands read any commit of the repo, not only deployed ones).
func (e *Engine) DeploymentPackages(ctx context.Context, id string) ([]nevra.Package, error) {
	var pkgs []nevra.Package
	err := e.view(ctx, true, func(s Sysroot) error {
		var err error
		pkgs, err = revisionPackages(ctx, s, id)
		return err
	})
	return pkgs, err
}

// PackageDiff compares the rpmdbs of two revisions, each a deployment id or
// a commit checksum (see DeploymentPackages).
func (e *Engine) PackageDiff(ctx context.Context, fromID, toID string) ([]nevra.Change, error) {
	var changes []nevra.Change
	err := e.view(ctx, true, func(s Sysroot) error {
		lists := make([][]nevra.Package, 2)
		for i, id := range []string{fromID, toID} {
			pkgs, err := revisionPackages(ctx, s, id)
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

// revisionPackages reads the packages of a deployment (by id) or of a
// commit (by full checksum). A commit whose tree is gone (pruned) but whose
// commit object stays is read from its rpmostree.rpmdb.pkglist metadata, as
// rpm-ostree does.
func revisionPackages(ctx context.Context, s Sysroot, id string) ([]nevra.Package, error) {
	if d := deploymentByID(s, id); d != nil {
		return rpmdb.List(ctx, s.DeploymentPath(d))
	}
	if !isChecksum(id) {
		return nil, fmt.Errorf("no deployment with id %q", id)
	}
	repo := s.Repo()
	c, err := repo.ReadCommit(id)
	if err != nil {
		return nil, fmt.Errorf("no deployment with id %q and no commit %s in the repo: %w", id, id, err)
	}
	pkgs, err := commitPackages(ctx, repo, id)
	if err == nil {
		return pkgs, nil
	}
	if rows, ok := c.Metadata["rpmostree.rpmdb.pkglist"].([][5]string); ok {
		if list, perr := rpmdb.ParsePkgList(rows); perr == nil {
			return list, nil
		}
	}
	return nil, fmt.Errorf("reading the packages of commit %s: %w", id, err)
}

// UpdateDiff compares the packages of the base osname would upgrade from with
// those of the cached update (fetched by CheckUpdate). It returns no changes
// and a nil update when there is none.
func (e *Engine) UpdateDiff(ctx context.Context, osname string) ([]nevra.Change, *Update, error) {
	var changes []nevra.Change
	var update *Update
	err := e.view(ctx, true, func(s Sysroot) error {
		update = cachedUpdate(s, osname)
		if update == nil {
			return nil
		}
		repo := s.Repo()
		from, err := commitPackages(ctx, repo, readBase(repo, s.MergeDeployment(osname)).checksum)
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
func commitPackages(ctx context.Context, repo Repo, commit string) ([]nevra.Package, error) {
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
