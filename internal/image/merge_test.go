package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// manifestOf returns the manifest digest and bytes, and the config bytes,
// of tag in an OCI layout.
func manifestOf(t *testing.T, layout, tag string) (string, []byte, []byte) {
	t.Helper()
	digest, man := tagManifest(t, layout, tag)
	var parsed struct{ Config struct{ Digest string } }
	if err := json.Unmarshal(man, &parsed); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(blobPath(layout, parsed.Config.Digest))
	if err != nil {
		t.Fatal(err)
	}
	return digest, man, cfg
}

// snapshot describes every path below dir: type, mode, owner and content
// (or target), keyed by path relative to dir.
func snapshot(t *testing.T, dir string, skip func(rel string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := st.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%o %d:%d", sys.Mode, sys.Uid, sys.Gid)
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case st.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s %s: merged %q, umoci %q", what, k, got[k], want[k])
		}
	}
}

func TestMergeMatchesUmociUnpack(t *testing.T) {
	requireRoot(t)
	layout := umociImage(t)
	// A third layer with an opaque directory and a replaced file; no tool
	// here writes opaque markers on request, so the tar is written here and
	// added with umoci itself.
	opq := makeTar(t, []tar.Header{
		{Name: "usr/share/doc/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 0, Gid: 0},
		{Name: "usr/share/doc/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "usr/share/doc/c", Typeflag: tar.TypeReg, Mode: 0o640, Size: 2},
		{Name: "usr/bin/.wh.hi", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o600, Size: 2},
	}, "c\n")
	opqPath := filepath.Join(t.TempDir(), "opq.tar")
	if err := os.WriteFile(opqPath, opq, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "umoci", "raw", "add-layer", "--image", layout+":os", opqPath)
	run(t, "umoci", "config", "--image", layout+":os", "--config.label", "org.opencontainers.image.version=42.1")

	digests, tars := ociLayers(t, layout, "os")
	s := newStore(t)
	ctx := context.Background()
	for i := range digests {
		if _, err := s.ImportLayer(ctx, digests[i], bytes.NewReader(tars[i])); err != nil {
			t.Fatal(err)
		}
	}
	mdigest, man, cfg := manifestOf(t, layout, "os")
	ref := "oci:" + layout + ":os"
	commit, err := s.Merge(ctx, MergeSpec{Reference: ref, ManifestDigest: mdigest, Manifest: man, Config: cfg, Layers: digests})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, "ostree", "rev-parse", "--repo="+s.Repo.Path(), ImageRef(ref)); got != commit {
		t.Fatalf("%s = %s, want %s", ImageRef(ref), got, commit)
	}
	c, err := s.Repo.ReadCommit(commit)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metadata[MetaManifestDigest] != mdigest || c.Metadata[MetaManifest] != string(man) || c.Metadata[MetaImageConfig] != string(cfg) || c.Version != "42.1" {
		t.Errorf("metadata = %v", c.Metadata)
	}

	dir := t.TempDir()
	run(t, "umoci", "unpack", "--image", layout+":os", filepath.Join(dir, "bundle"))
	rootfs := filepath.Join(dir, "bundle", "rootfs")
	co := filepath.Join(dir, "checkout")
	run(t, "ostree", "checkout", "--repo="+s.Repo.Path(), commit, co)
	got := snapshot(t, filepath.Join(co, "usr"), func(rel string) bool {
		return rel == "etc" || strings.HasPrefix(rel, "lib/tmpfiles.d")
	})
	want := snapshot(t, filepath.Join(rootfs, "usr"), nil)
	// The comparison only means something if umoci's tree has the cases.
	for _, p := range []string{"share/doc/c", "share/doc", "bin/su", "bin/hello2", "bin/new", "share/doc/b"} {
		if _, ok := want[p]; !ok && p != "share/doc/b" {
			t.Fatalf("umoci's rootfs lacks %s: %v", p, want)
		} else if ok && p == "share/doc/b" {
			t.Fatalf("umoci kept share/doc/b below the opaque layer")
		}
	}
	if !strings.HasPrefix(want["share/doc"], "40750 ") || !strings.HasPrefix(want["bin/su"], "104755 ") {
		t.Fatalf("umoci's modes: doc %q su %q", want["share/doc"], want["bin/su"])
	}
	diffSnapshots(t, "/usr", got, want)
	diffSnapshots(t, "/etc", snapshot(t, filepath.Join(co, "usr/etc"), nil), snapshot(t, filepath.Join(rootfs, "etc"), nil))
	for _, p := range []string{"usr/share/doc/a", "usr/share/doc/b", "usr/bin/hi", "usr/share/doc/.wh..wh..opq", "usr/share/doc/.wh.a"} {
		if _, err := os.Lstat(filepath.Join(co, p)); err == nil {
			t.Errorf("merged tree has %s", p)
		}
	}
	run(t, "ostree", "fsck", "--repo="+s.Repo.Path())
}

func TestMergeRefusesImageWithoutKernel(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	tarb := makeTar(t, []tar.Header{{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2}}, "x\n")
	d := digestOf(tarb)
	if _, err := s.ImportLayer(context.Background(), d, bytes.NewReader(tarb)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Merge(context.Background(), MergeSpec{Reference: "docker://example.test/app:1", ManifestDigest: d, Layers: []string{d}})
	if err == nil || !strings.Contains(err.Error(), "not bootable") || !strings.Contains(err.Error(), "example.test/app:1") {
		t.Fatalf("err = %v, want not bootable naming the image", err)
	}
	if refs, _ := s.Repo.ListRefs(ImageRefPrefix); len(refs) != 0 {
		t.Errorf("image refs left: %v", refs)
	}
}
