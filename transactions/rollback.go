package transactions

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-os/strata/internal/ostree"
)

// Rollback makes the previous deployment of osname the default again. On a host
// booted from this sysroot that is the deployment after the booted one (or the
// booted one itself when a newer one is pending); on a host that is not booted
// from it, the first two deployments swap. Twice in a row returns to the start.
func (e *Engine) Rollback(ctx context.Context, osname string, p Progress) error {
	return e.run(ctx, func(s Sysroot) error {
		deployments := s.Deployments()
		target := rollbackTarget(deployments, osname)
		if target == nil {
			return errors.New("No rollback deployment found")
		}
		order := []*ostree.Deployment{target}
		for _, d := range deployments {
			if d != target {
				order = append(order, d)
			}
		}
		p.TaskBegin(fmt.Sprintf("Moving '%s.%d' to be first deployment", target.Checksum, target.Serial))
		if err := s.WriteDeployments(context.WithoutCancel(ctx), order); err != nil {
			return err
		}
		p.TaskEnd("done")
		return nil
	})
}

// rollbackTarget picks the deployment Rollback moves to the front, or nil.
func rollbackTarget(deployments []*ostree.Deployment, osname string) *ostree.Deployment {
	var mine []*ostree.Deployment
	for _, d := range deployments {
		if d.Osname == osname && !d.Staged {
			mine = append(mine, d)
		}
	}
	if len(mine) < 2 {
		return nil
	}
	for i, d := range mine {
		if !d.Booted {
			continue
		}
		if i > 0 { // something newer is pending: go back to what is running
			return d
		}
		return mine[1]
	}
	return mine[1] // not booted from this sysroot: swap the first two
}
