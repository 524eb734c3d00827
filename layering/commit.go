package layering

import (
	"context"
	"fmt"

	"github.com/strata-os/strata/internal/ostree"
)

// commitStage composes the layered commit in the object store: the base,
// minus the removed packages' files and the base's sqlite side files, plus
// each layer and the new rpmdb.
func (c *Composer) commitStage(ctx context.Context, cs *composition) error {
	cs.p.TaskBegin("Committing layered tree")
	var layerCommits []string
	for _, l := range cs.layers {
		layerCommits = append(layerCommits, l.Commit)
	}
	cs.spec = ostree.ComposeSpec{
		Base:     cs.base.Checksum,
		Layers:   layerCommits,
		Remove:   append(append([]string{}, cs.removePaths...), cs.baseSideFiles...),
		Overlay:  cs.root, // the new usr/share/rpm (and /etc as scriptlets left it)
		Parent:   cs.base.Checksum,
		Subject:  "strata layered commit",
		Metadata: layeredMetadata(cs.base, cs.req, cs.all, cs.res),
	}
	commit, err := c.Repo.Compose(ctx, cs.spec)
	if err != nil {
		return fmt.Errorf("committing layered tree: %w", err)
	}
	cs.res.Commit = commit
	cs.p.TaskEnd("done")
	return nil
}
