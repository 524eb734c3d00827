package layering

import (
	"context"
	"fmt"

	"github.com/strata-os/strata/internal/rpmimport"
)

// importStage turns each fetched package into its own commit, owners mapped
// through the base's users and groups.
func (c *Composer) importStage(ctx context.Context, cs *composition) error {
	accounts, err := c.accounts(ctx, cs.base.Checksum, cs.work)
	if err != nil {
		return fmt.Errorf("reading the base's users and groups: %w", err)
	}
	cs.layers, err = c.importAll(ctx, cs.rpms, accounts, cs.res, cs.p)
	return err
}

// importAll turns each package into its own commit, reusing earlier imports.
func (c *Composer) importAll(ctx context.Context, pkgs []fetched, accounts rpmimport.Options, res *Result, p Progress) ([]*rpmimport.Result, error) {
	p.TaskBegin("Importing packages") // rpm-ostree's words; the counts follow "done"
	var layers []*rpmimport.Result
	for _, f := range pkgs {
		opts := accounts
		opts.RepoID = f.pkg.RepoID
		r, err := rpmimport.Import(ctx, c.Repo, f.path, opts)
		if err != nil {
			return nil, err
		}
		if r.Reused {
			res.Reused++
		} else {
			res.Imported++
		}
		layers = append(layers, r)
	}
	p.TaskEnd(fmt.Sprintf("done (%d imported, %d reused)", res.Imported, res.Reused))
	if c.Log != nil {
		c.Log.WithFields(map[string]any{"imported": res.Imported, "reused": res.Reused}).Info("packages imported")
	}
	return layers, nil
}
