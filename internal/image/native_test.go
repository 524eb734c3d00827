package image_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/tests/fixture"
)

// demoHost builds the fixture host (commits 1.0 and 2.0 differ in one
// package, base-files) and opens its remote repo.
func demoHost(t *testing.T, ctx context.Context) (*fixture.Host, *ostree.Repo) {
	t.Helper()
	h, err := fixture.BuildHost(ctx, filepath.Join(t.TempDir(), "host"), fixture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	repo, err := ostree.OpenRepo(h.RemoteRepo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	return h, repo
}

func encapsulate(t *testing.T, ctx context.Context, repo *ostree.Repo, commit, dest string, cfg image.Config) image.Encapsulated {
	t.Helper()
	return encapsulateN(t, ctx, repo, commit, dest, cfg, 8)
}

func encapsulateN(t *testing.T, ctx context.Context, repo *ostree.Repo, commit, dest string, cfg image.Config, max int) image.Encapsulated {
	t.Helper()
	res, err := image.Encapsulate(ctx, repo, commit, mustParse(t, "ostree-unverified-image:"+dest), image.EncapsulateOptions{
		MaxLayers: max, Labels: map[string]string{"demo.label": "yes"}, Config: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != commit || len(res.Layers) < 1 || len(res.Layers) > max {
		t.Fatalf("encapsulated in at most %d layers: %+v", max, res)
	}
	return res
}

func TestEncapsulateRoundTripThroughRegistry(t *testing.T) {
	ctx, w := setup(t)
	h, src := demoHost(t, ctx)
	v1, v2 := h.Versions["1.0"], h.Versions["2.0"]

	e1 := encapsulate(t, ctx, src, v1, "docker://"+w.reg.Addr+"/os:native1", w.cfg)
	e2 := encapsulate(t, ctx, src, v2, "docker://"+w.reg.Addr+"/os:native2", w.cfg)
	if len(e1.Layers) != len(e2.Layers) {
		t.Fatalf("layer counts differ: %d and %d", len(e1.Layers), len(e2.Layers))
	}
	differ := 0
	for i := range e1.Layers {
		if e1.Layers[i] != e2.Layers[i] {
			differ++
		}
	}
	t.Logf("%d layers, %d differ between 1.0 and 2.0", len(e1.Layers), differ)
	// One package changed: its layer, and the commit layer (commit, rpmdb).
	if differ < 1 || differ > 2 {
		t.Errorf("%d of %d layers differ between 1.0 and 2.0:\n%v\n%v", differ, len(e1.Layers), e1.Layers, e2.Layers)
	}

	ref := mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:native1")
	img, err := image.Open(ctx, ref, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"ostree.commit": v1, "ostree.bootable": "true", "containers.bootc": "1",
		"org.opencontainers.image.version": "1.0", "demo.label": "yes"} {
		if img.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, img.Labels[k], v)
		}
	}
	img.Close()

	store := &image.Store{Repo: newRepo(t)}
	got, err := store.Pull(ctx, ref, w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != v1 || got.BaseCommit != v1 || got.Imported != len(e1.Layers) {
		t.Errorf("pull: %+v, want commit %s from %d layers", got, v1, len(e1.Layers))
	}
	if rev := strings.TrimSpace(ostreeOut(t, store.Repo, "rev-parse", image.ImageRef(ref.ImageRef()))); rev != v1 {
		t.Errorf("image ref at %s, want %s", rev, v1)
	}
	ostreeOut(t, store.Repo, "fsck")
	if refs := ostreeOut(t, store.Repo, "refs"); strings.Count(refs, "ostree/container/blob/") != len(e1.Layers) {
		t.Errorf("refs:\n%s", refs)
	}
	info, err := store.ImageInfo(ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.Commit != v1 || info.BaseCommit != v1 || info.ManifestDigest != got.ManifestDigest || info.Version != "1.0" || !json.Valid(info.Manifest) || !json.Valid(info.Config) {
		t.Errorf("image info %+v", info)
	}

	// What was pulled encapsulates again to the very same image: the
	// layers are reproducible, and what the pull recorded about the image
	// (in the commit's detached metadata) is not exported.
	again := filepath.Join(t.TempDir(), "again")
	re := encapsulate(t, ctx, store.Repo, v1, "oci:"+again+":v1", w.cfg)
	if re.ManifestDigest != e1.ManifestDigest {
		t.Errorf("re-encapsulating the pulled commit gave manifest %s, first %s", re.ManifestDigest, e1.ManifestDigest)
	}
	third := &image.Store{Repo: newRepo(t)}
	if got, err := third.Pull(ctx, mustParse(t, "ostree-unverified-image:oci:"+again+":v1"), w.cfg, nil); err != nil || got.Commit != v1 {
		t.Fatalf("re-encapsulated pull: %+v, %v", got, err)
	}

	// 2.0 shares all but about one layer with 1.0: only those are read.
	ref2 := mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:native2")
	got2, err := store.Pull(ctx, ref2, w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got2.Commit != v2 || got2.Imported != differ || got2.Reused != len(e2.Layers)-differ {
		t.Errorf("pull of 2.0: %+v, want %s with %d layers imported", got2, v2, differ)
	}
	ostreeOut(t, store.Repo, "fsck")
}

func TestEncapsulateOCIAndDerivedImage(t *testing.T) {
	ctx, w := setup(t)
	h, src := demoHost(t, ctx)
	v1 := h.Versions["1.0"]
	layout := filepath.Join(t.TempDir(), "native")
	encapsulate(t, ctx, src, v1, "oci:"+layout+":base", w.cfg)
	encapsulate(t, ctx, src, v1, "oci:"+layout+":derived", w.cfg)

	store := &image.Store{Repo: newRepo(t)}
	base, err := store.Pull(ctx, mustParse(t, "ostree-unverified-image:oci:"+layout+":base"), w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if base.Commit != v1 {
		t.Fatalf("oci: pull gave %s, want %s", base.Commit, v1)
	}

	// The image is also a plain container image: umoci unpacks it to the
	// commit's files (with /usr/etc as /etc).
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command("umoci", "unpack", "--image", layout+":base", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v: %s", err, out)
	}
	kernel := "/usr/lib/modules/" + fixture.KernelVersion + "/vmlinuz"
	if data, err := os.ReadFile(filepath.Join(bundle, "rootfs", kernel)); err != nil || string(data) != ostreeOut(t, store.Repo, "cat", v1, kernel) {
		t.Errorf("unpacked %s: %q, %v", kernel, data, err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/etc")); err != nil {
		t.Errorf("unpacked image has no /etc: %v", err)
	}

	// An oci-archive round-trips too.
	archive := filepath.Join(t.TempDir(), "out", "native.tar")
	encapsulate(t, ctx, src, v1, "oci-archive:"+archive+":v1", w.cfg)
	if got, err := (&image.Store{Repo: newRepo(t)}).Pull(ctx, mustParse(t, "ostree-unverified-image:oci-archive:"+archive+":v1"), w.cfg, nil); err != nil || got.Commit != v1 {
		t.Errorf("oci-archive pull: %+v, %v", got, err)
	}

	// One layer: everything goes with the commit.
	single := encapsulateN(t, ctx, src, v1, "oci:"+layout+":single", w.cfg, 1)
	if len(single.Layers) != 1 {
		t.Errorf("--max-layers=1 wrote %d layers", len(single.Layers))
	}
	if got, err := (&image.Store{Repo: newRepo(t)}).Pull(ctx, mustParse(t, "ostree-unverified-image:oci:"+layout+":single"), w.cfg, nil); err != nil || got.Commit != v1 {
		t.Errorf("single-layer pull: %+v, %v", got, err)
	}

	// A derived image: umoci adds a plain layer on top of the native ones.
	extra := filepath.Join(t.TempDir(), "extra")
	if err := os.MkdirAll(filepath.Join(extra, "usr/share/derived"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(extra, "usr/share/derived/added"), []byte("from a RUN layer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("umoci", "insert", "--image", layout+":derived", extra, "/").CombinedOutput(); err != nil {
		t.Fatalf("umoci insert: %v: %s", err, out)
	}
	ref := mustParse(t, "ostree-unverified-image:oci:"+layout+":derived")
	got, err := store.Pull(ctx, ref, w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseCommit != v1 || got.Commit == v1 || got.Imported != 1 {
		t.Errorf("derived pull: %+v (base %s); want a new commit on %s, one layer imported", got, base.Commit, v1)
	}
	if cat := ostreeOut(t, store.Repo, "cat", got.Commit, "/usr/share/derived/added"); cat != "from a RUN layer\n" {
		t.Errorf("derived file: %q", cat)
	}
	c, err := store.Repo.ReadCommit(got.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := store.ImageInfo(ref); err != nil || info.Commit != got.Commit || info.BaseCommit != v1 || info.ManifestDigest != got.ManifestDigest {
		t.Errorf("derived image info %+v, %v", info, err)
	}
	if c.Metadata[image.MetaBaseCommit] != v1 {
		t.Errorf("merged commit metadata: %v", c.Metadata)
	}
	// The base's own files are all there.
	if diff := ostreeOut(t, store.Repo, "diff", v1, got.Commit); strings.TrimSpace(diff) != "A    /usr/share/derived\nA    /usr/share/derived/added" && !strings.Contains(diff, "/usr/share/derived/added") {
		t.Errorf("diff base -> derived:\n%s", diff)
	} else if strings.Contains(diff, "D ") {
		t.Errorf("derived image lost files:\n%s", diff)
	}
	ostreeOut(t, store.Repo, "fsck")
}

func TestNativeImageWithCorruptObjectIsRefused(t *testing.T) {
	ctx, w := setup(t)
	h, _ := demoHost(t, ctx)
	v1 := h.Versions["1.0"]
	// A bare copy of the commit whose file object no longer hashes to its
	// name: export reads it as it is, the import must notice.
	bare := newRepo(t)
	ostreeOut(t, bare, "pull-local", h.RemoteRepo, v1)
	ls := ostreeOut(t, bare, "ls", "-C", v1, "/usr/lib/modules/"+fixture.KernelVersion+"/vmlinuz")
	fields := strings.Fields(ls)
	csum := fields[len(fields)-2]
	obj := filepath.Join(bare.Path(), "objects", csum[:2], csum[2:]+".file")
	data, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0x20
	if err := os.WriteFile(obj, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := "oci:" + filepath.Join(t.TempDir(), "bad") + ":bad"
	encapsulate(t, ctx, bare, v1, dest, w.cfg)

	store := &image.Store{Repo: newRepo(t)}
	_, err = store.Pull(ctx, mustParse(t, "ostree-unverified-image:"+dest), w.cfg, nil)
	if err == nil || !strings.Contains(err.Error(), csum) {
		t.Fatalf("pull of an image with a corrupt object: %v (want an error naming %s)", err, csum)
	}
	refs := ostreeOut(t, store.Repo, "refs")
	if strings.Contains(refs, "ostree/container/image/") {
		t.Errorf("image ref after a refused pull:\n%s", refs)
	}
	if _, err := store.Repo.ReadCommit(v1); err == nil {
		t.Errorf("the commit landed")
	}
	ostreeOut(t, store.Repo, "fsck")
}

func TestNativePullCancelledKeepsCompleteLayers(t *testing.T) {
	ctx, w := setup(t)
	h, src := demoHost(t, ctx)
	e := encapsulate(t, ctx, src, h.Versions["1.0"], "docker://"+w.reg.Addr+"/os:cancel", w.cfg)
	ref := mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:cancel")
	store := &image.Store{Repo: newRepo(t)}

	// Cancel as soon as the second content layer is being read: the first
	// is complete by then.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err := store.Pull(cctx, ref, w.cfg, func(p image.LayerProgress) {
		if p.Index == 2 && p.Read > 0 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull: %v", err)
	}
	if refs := ostreeOut(t, store.Repo, "refs"); strings.Contains(refs, "ostree/container/image/") || strings.Count(refs, "ostree/container/blob/") != 1 {
		t.Errorf("refs after a cancelled pull:\n%s", refs)
	}
	ostreeOut(t, store.Repo, "fsck")
	got, err := store.Pull(ctx, ref, w.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != h.Versions["1.0"] || got.Reused != 1 || got.Imported != len(e.Layers)-1 {
		t.Errorf("pull after cancel: %+v", got)
	}
	ostreeOut(t, store.Repo, "fsck")
}
