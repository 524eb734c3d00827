package image_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/tests/fixture"
)

// TestPullOSImagesUpgradeOneLayer pulls the fixture's two OS tags from the
// registry in order: the second pull downloads only the layer that differs,
// and both merge into bootable trees with their own version.
func TestPullOSImagesUpgradeOneLayer(t *testing.T) {
	ctx, w := setup(t)
	layout := filepath.Join(t.TempDir(), "os-layout")
	tags, err := fixture.BuildOSImages(ctx, layout)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if _, err := w.reg.Push(ctx, layout+":"+tag, "demo-os:"+tag); err != nil {
			t.Fatal(err)
		}
	}
	store := &image.Store{Repo: newRepo(t)}
	var pulled []image.Pulled
	for _, tag := range tags {
		var downloaded []string
		got, err := store.Pull(ctx, mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/demo-os:"+tag), w.cfg, func(p image.LayerProgress) {
			if !p.Reused && p.Read == p.Size && p.Size > 0 {
				downloaded = append(downloaded, p.Digest)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v, downloaded %v", tag, got, downloaded)
		if v := ostreeOut(t, store.Repo, "cat", got.Commit, "/"+fixture.OSImageVersionFile); v != "demo image "+tag+"\n" {
			t.Errorf("%s: version file %q", tag, v)
		}
		if show := ostreeOut(t, store.Repo, "show", got.Commit); !strings.Contains(show, "image-"+tag) {
			t.Errorf("%s: commit lacks version image-%s:\n%s", tag, tag, show)
		}
		for _, p := range []string{"/usr/lib/modules/" + fixture.KernelVersion + "/vmlinuz", "/usr/etc/demo.conf", "/usr/share/rpm/rpmdb.sqlite"} {
			ostreeOut(t, store.Repo, "ls", got.Commit, p)
		}
		pulled = append(pulled, got)
		if tag == tags[1] && len(downloaded) != 1 {
			t.Errorf("upgrade to %s downloaded %d layers, want 1", tag, len(downloaded))
		}
	}
	if pulled[0].Imported != 3 || pulled[1].Imported != 1 || pulled[1].Reused != 2 {
		t.Errorf("pulls: %+v", pulled)
	}
	ostreeOut(t, store.Repo, "fsck")
}
