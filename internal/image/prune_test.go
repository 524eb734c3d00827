package image_test

import (
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
)

func TestPruneKeepsWhatDeploymentsUse(t *testing.T) {
	ctx, w := setup(t)
	ref := bootableImage(t, w)
	store := &image.Store{Repo: newRepo(t)}
	got, err := store.Pull(ctx, ref, w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A deployment uses the image: nothing goes.
	if images, layers, err := store.Prune([]string{got.Commit}); err != nil || images != 0 || layers != 0 {
		t.Fatalf("Prune with the image kept: %d images, %d layers, %v", images, layers, err)
	}
	if refs := ostreeOut(t, store.Repo, "refs"); strings.Count(refs, "ostree/container/") != 3 {
		t.Fatalf("refs after a prune that keeps the image:\n%s", refs)
	}

	// No deployment uses it any more: the image and both layers go, and a
	// repo prune leaves a consistent repo.
	if images, layers, err := store.Prune(nil); err != nil || images != 1 || layers != 2 {
		t.Fatalf("Prune with nothing kept: %d images, %d layers, %v", images, layers, err)
	}
	if refs := ostreeOut(t, store.Repo, "refs"); strings.Contains(refs, "ostree/container/") {
		t.Errorf("refs left after prune:\n%s", refs)
	}
	ostreeOut(t, store.Repo, "prune", "--refs-only")
	ostreeOut(t, store.Repo, "fsck")
	if _, err := store.Repo.ReadCommit(got.Commit); err == nil {
		t.Errorf("the image commit survived the repo prune")
	}
}
