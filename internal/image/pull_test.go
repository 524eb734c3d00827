package image_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/tests/fixture"
)

// bootableImage pushes a two-layer OS image (kernel in the base layer) built
// by umoci as os:boot and returns its reference.
func bootableImage(t *testing.T, w *world) image.Reference {
	t.Helper()
	ctx := t.Context()
	layout := filepath.Join(t.TempDir(), "boot-layout")
	src, err := fixture.BuildImage(ctx, layout, "boot", map[string]string{"org.opencontainers.image.version": "7.1"},
		map[string]string{"usr/lib/os-release": "ID=demo\nVERSION_ID=7.1\n", "usr/lib/modules/6.1.0-demo/vmlinuz": "kernel",
			"etc/hostname": "demo\n"},
		map[string]string{"usr/share/demo/data": noise(256 << 10)},
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.reg.Push(ctx, src, "os:boot"); err != nil {
		t.Fatal(err)
	}
	return mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:boot")
}

func newRepo(t *testing.T) *ostree.Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("ostree", "init", "--mode=bare", "--repo="+dir).CombinedOutput(); err != nil {
		t.Fatalf("ostree init: %v: %s", err, out)
	}
	repo, err := ostree.OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	return repo
}

func ostreeOut(t *testing.T, repo *ostree.Repo, args ...string) string {
	t.Helper()
	out, err := exec.Command("ostree", append([]string{"--repo=" + repo.Path()}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ostree %v: %v: %s", args, err, out)
	}
	return string(out)
}

func TestPullFromRegistry(t *testing.T) {
	ctx, w := setup(t)
	ref := bootableImage(t, w)
	store := &image.Store{Repo: newRepo(t)}

	var reads int
	got, err := store.Pull(ctx, ref, w.cfg, func(p image.LayerProgress) {
		if !p.Reused {
			reads++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Imported != 2 || got.Reused != 0 || reads == 0 {
		t.Errorf("first pull: %+v, %d progress reports", got, reads)
	}
	want, err := w.reg.Digest(ctx, "os:boot")
	if err != nil {
		t.Fatal(err)
	}
	if got.ManifestDigest != want {
		t.Errorf("manifest digest %s, skopeo says %s", got.ManifestDigest, want)
	}
	refs := ostreeOut(t, store.Repo, "refs")
	if !strings.Contains(refs, image.ImageRef(ref.ImageRef())) || strings.Count(refs, "ostree/container/blob/") != 2 {
		t.Errorf("refs after pull:\n%s", refs)
	}
	if rev := strings.TrimSpace(ostreeOut(t, store.Repo, "rev-parse", image.ImageRef(ref.ImageRef()))); rev != got.Commit {
		t.Errorf("image ref at %s, pull says %s", rev, got.Commit)
	}
	if cat := ostreeOut(t, store.Repo, "cat", got.Commit, "/usr/etc/hostname"); cat != "demo\n" {
		t.Errorf("/etc/hostname in the image commit: %q", cat)
	}
	if show := ostreeOut(t, store.Repo, "show", got.Commit); !strings.Contains(show, "7.1") {
		t.Errorf("commit has no version 7.1:\n%s", show)
	}
	ostreeOut(t, store.Repo, "fsck")

	// The same image again: nothing is downloaded, the same commit results.
	again, err := store.Pull(ctx, ref, w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Imported != 0 || again.Reused != 2 || again.Commit != got.Commit {
		t.Errorf("second pull: %+v (first %+v)", again, got)
	}
}

func TestPullCorruptLayerLeavesCompleteLayers(t *testing.T) {
	ctx, w := setup(t)
	ref := bootableImage(t, w)
	img, err := image.Open(ctx, ref, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	layers := img.Layers
	img.Close()
	// Corrupt the second layer's blob in the registry's storage (same size).
	blob := w.reg.BlobPath(layers[1].Digest)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	store := &image.Store{Repo: newRepo(t)}
	if _, err := store.Pull(ctx, ref, w.cfg, nil); err == nil || !strings.Contains(err.Error(), ref.String()) {
		t.Fatalf("pull of a corrupt layer: err %v (want an error naming %s)", err, ref)
	}
	if _, ok := store.LayerCommit(layers[1].Digest); ok {
		t.Errorf("the corrupt layer was committed")
	}
	if _, ok := store.LayerCommit(layers[0].Digest); !ok {
		t.Errorf("the complete first layer was not kept for the next pull")
	}
	if refs := ostreeOut(t, store.Repo, "refs"); strings.Contains(refs, "ostree/container/image/") {
		t.Errorf("image ref written after a failed pull:\n%s", refs)
	}
	ostreeOut(t, store.Repo, "fsck")
}
