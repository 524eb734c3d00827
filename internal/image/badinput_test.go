package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/tests/fixture"
)

// badWorld is a registry holding a good bootable image, a store that already
// pulled it, and the layout its base layer came from: every bad image below
// shares that base blob, so a refused pull that changes nothing leaves the
// store's refs exactly as they were.
type badWorld struct {
	*world
	layout string // umoci layout whose "base" tag is the shared base layer
	store  *image.Store
	refs   string // ostree refs of store after the good pull
}

func setupBad(t *testing.T) (context.Context, *badWorld) {
	t.Helper()
	ctx, w := setup(t)
	bw := &badWorld{world: w, layout: filepath.Join(t.TempDir(), "layout")}
	// The base has no kernel: alone it is the not-bootable image.
	if _, err := fixture.BuildImage(ctx, bw.layout, "base", map[string]string{"org.opencontainers.image.version": "1"},
		map[string]string{"usr/lib/os-release": "ID=demo\n", "usr/bin/hello": "#!/bin/sh\necho hello\n"}); err != nil {
		t.Fatal(err)
	}
	good := bw.derive(t, "good")
	bw.insert(t, good, map[string]string{"usr/lib/modules/" + fixture.KernelVersion + "/vmlinuz": "kernel\n"})
	if _, err := w.reg.Push(ctx, good, "os:good"); err != nil {
		t.Fatal(err)
	}
	bw.store = &image.Store{Repo: newRepo(t)}
	if _, err := bw.store.Pull(ctx, mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:good"), w.cfg, nil); err != nil {
		t.Fatal(err)
	}
	bw.refs = ostreeOut(t, bw.store.Repo, "refs")
	return ctx, bw
}

// derive tags the base as tag and returns "layout:tag"; layers added to it
// come on top of the shared base blob.
func (bw *badWorld) derive(t *testing.T, tag string) string {
	t.Helper()
	umoci(t, "tag", "--image", bw.layout+":base", tag)
	return bw.layout + ":" + tag
}

// insert adds a layer made by umoci from a directory tree holding files.
func (bw *badWorld) insert(t *testing.T, src string, files map[string]string) {
	t.Helper()
	tree := t.TempDir()
	for p, content := range files {
		writeFile(t, filepath.Join(tree, p), content)
	}
	umoci(t, "insert", "--image", src, tree, "/")
}

// insertTree adds a layer umoci makes from the directory fill populates, for
// entries (devices, fifos, links) that a map of files cannot describe.
func (bw *badWorld) insertTree(t *testing.T, src string, fill func(root string)) {
	t.Helper()
	tree := t.TempDir()
	fill(tree)
	umoci(t, "insert", "--image", src, tree, "/")
}

// addRawLayer adds a hand-written tar with umoci raw add-layer (which
// compresses it), for entries no tool writes from a real directory tree.
func (bw *badWorld) addRawLayer(t *testing.T, src string, hdrs ...tar.Header) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range hdrs {
		h := hdrs[i]
		if h.Typeflag == tar.TypeReg {
			h.Size = 2
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("x\n"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	umoci(t, "raw", "add-layer", "--image", src, p)
}

func umoci(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("umoci", args...).CombinedOutput(); err != nil {
		t.Fatalf("umoci %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantUnchanged pulls ref, wants an error naming the image and every one of
// whys, and checks the store's refs are what the good pull left and fsck
// passes.
func (bw *badWorld) wantUnchanged(t *testing.T, ctx context.Context, ref image.Reference, whys ...string) {
	t.Helper()
	_, err := bw.store.Pull(ctx, ref, bw.cfg, nil)
	t.Logf("refused: %v", err)
	for _, why := range whys {
		wantErr(t, err, ref, why)
	}
	bw.wantRefsUnchanged(t)
}

// wantRefsUnchanged checks the store's refs are what the good pull left and
// fsck passes.
func (bw *badWorld) wantRefsUnchanged(t *testing.T) {
	t.Helper()
	if refs := ostreeOut(t, bw.store.Repo, "refs"); refs != bw.refs {
		t.Errorf("refs changed by a refused pull:\nbefore:\n%s\nafter:\n%s", bw.refs, refs)
	}
	ostreeOut(t, bw.store.Repo, "fsck")
}

// push pushes src as bad:<tag> and returns its unverified reference.
func (bw *badWorld) push(t *testing.T, ctx context.Context, src, tag string) image.Reference {
	t.Helper()
	if _, err := bw.reg.Push(ctx, src, "bad:"+tag); err != nil {
		t.Fatal(err)
	}
	return mustParse(t, "ostree-unverified-registry:"+bw.reg.Addr+"/bad:"+tag)
}

func TestPullRefusesBadImages(t *testing.T) {
	ctx, bw := setupBad(t)

	t.Run("unknown transport", func(t *testing.T) {
		// Refused by the parser, before a Reference (and so a Pull) exists.
		_, err := image.ParseReference("ostree-unverified-image:containers-storage:" + bw.reg.Addr + "/os:good")
		if err == nil || !strings.Contains(err.Error(), `unsupported transport "containers-storage"`) || !strings.Contains(err.Error(), "accepted forms") {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("missing tag", func(t *testing.T) {
		ref := mustParse(t, "ostree-unverified-registry:"+bw.reg.Addr+"/os:nosuchtag")
		bw.wantUnchanged(t, ctx, ref, "no such tag", "skopeo list-tags docker://"+bw.reg.Addr+"/os")
	})

	t.Run("registry down", func(t *testing.T) {
		// A port nothing listens on: the free port a stopped registry leaves.
		ref := mustParse(t, "ostree-unverified-registry:127.0.0.1:1/os:good")
		bw.wantUnchanged(t, ctx, ref, "connection refused", "could not be reached")
	})

	t.Run("not bootable", func(t *testing.T) {
		ref := bw.push(t, ctx, bw.layout+":base", "notboot")
		// Merge names the image as containers/image spells it (docker://…),
		// which the canonical ostree-unverified-registry: form does not contain.
		_, err := bw.store.Pull(ctx, ref, bw.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), ref.ImageRef()) || !strings.Contains(err.Error(), "not bootable") ||
			!strings.Contains(err.Error(), "/usr/lib/modules/<kver>/vmlinuz") {
			t.Errorf("err = %v, want not bootable naming %s and the kernel path", err, ref.ImageRef())
		}
		bw.wantRefsUnchanged(t)
	})

	// The layers below are written by umoci from real directories where it
	// can make the bad thing, and by hand (added verbatim with umoci raw
	// add-layer) where a real directory cannot hold it.
	type layerCase struct {
		name  string
		build func(t *testing.T, src string)
		whys  []string
	}
	cases := []layerCase{
		{"dotdot path", func(t *testing.T, src string) {
			bw.addRawLayer(t, src, tar.Header{Name: "usr/../../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644})
		}, []string{`".."`}},
		{"relative symlink leaving the tree", func(t *testing.T, src string) {
			bw.insertTree(t, src, func(root string) {
				writeFile(t, filepath.Join(root, "usr/share/keep"), "k\n")
				if err := os.Symlink("../../../../etc/shadow", filepath.Join(root, "usr/share/shadow")); err != nil {
					t.Fatal(err)
				}
			})
		}, []string{"leaves the tree"}},
		{"write through an absolute symlink", func(t *testing.T, src string) {
			bw.addRawLayer(t, src,
				tar.Header{Name: "usr/lib/evil", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
				tar.Header{Name: "usr/lib/evil/passwd", Typeflag: tar.TypeReg, Mode: 0o644})
		}, []string{"written through /usr/lib/evil"}},
		{"hardlink outside the tree", func(t *testing.T, src string) {
			bw.addRawLayer(t, src, tar.Header{Name: "usr/shadow", Typeflag: tar.TypeLink, Linkname: "../etc/shadow"})
		}, []string{"leaves the tree"}},
		{"char device", func(t *testing.T, src string) {
			bw.insertTree(t, src, func(root string) { mknod(t, filepath.Join(root, "usr/null"), unix.S_IFCHR, 1, 3) })
		}, []string{"usr/null", "device node"}},
		{"block device", func(t *testing.T, src string) {
			bw.insertTree(t, src, func(root string) { mknod(t, filepath.Join(root, "usr/sda"), unix.S_IFBLK, 8, 0) })
		}, []string{"usr/sda", "device node"}},
		{"fifo", func(t *testing.T, src string) {
			bw.insertTree(t, src, func(root string) { mknod(t, filepath.Join(root, "usr/pipe"), unix.S_IFIFO, 0, 0) })
		}, []string{"usr/pipe", "fifo"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tag := "layer" + string(rune('a'+i))
			src := bw.derive(t, tag)
			c.build(t, src)
			ref := bw.push(t, ctx, src, tag)
			bw.wantUnchanged(t, ctx, ref, c.whys...)
		})
	}

	t.Run("write through an absolute symlink of a lower layer", func(t *testing.T) {
		src := bw.derive(t, "lowerlink")
		// umoci archives the symlink as it finds it; the next layer (by
		// hand: no directory tree holds a file below a symlink) writes below
		// it without a directory entry of its own.
		bw.insertTree(t, src, func(root string) {
			if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc", filepath.Join(root, "usr/lib/evil")); err != nil {
				t.Fatal(err)
			}
		})
		bw.addRawLayer(t, src, tar.Header{Name: "usr/lib/evil/passwd", Typeflag: tar.TypeReg, Mode: 0o644})
		ref := bw.push(t, ctx, src, "lowerlink")
		// Each layer is harmless alone, so both are imported (and kept for
		// reuse, as complete layers always are); the merge refuses the pair.
		// A store of its own keeps those layer refs out of the other cases.
		store := &image.Store{Repo: newRepo(t)}
		_, err := store.Pull(ctx, ref, bw.cfg, nil)
		t.Logf("refused: %v", err)
		// Merge names the image as containers/image spells it (docker://…).
		if err == nil || !strings.Contains(err.Error(), ref.ImageRef()) || !strings.Contains(err.Error(), "/usr/lib/evil") ||
			!strings.Contains(err.Error(), "writes through a non-directory") {
			t.Errorf("err = %v, want a refusal naming %s and /usr/lib/evil", err, ref.ImageRef())
		}
		refs := ostreeOut(t, store.Repo, "refs")
		if strings.Contains(refs, image.ImageRefPrefix) {
			t.Errorf("image ref written by a refused pull:\n%s", refs)
		}
		ostreeOut(t, store.Repo, "fsck")
	})

	// damaged pushes an image with a layer of its own on the shared base and
	// returns its reference and that layer's digest, for the registry's copy
	// to be damaged.
	damaged := func(t *testing.T, tag string) (image.Reference, string) {
		src := bw.derive(t, tag)
		bw.insert(t, src, map[string]string{"usr/lib/modules/" + fixture.KernelVersion + "/vmlinuz": "kernel\n", "usr/share/" + tag: noise(128 << 10)})
		ref := bw.push(t, ctx, src, tag)
		img, err := image.Open(ctx, ref, bw.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		return ref, img.Layers[len(img.Layers)-1].Digest
	}

	t.Run("truncated blob", func(t *testing.T) {
		ref, digest := damaged(t, "truncated")
		blob := bw.reg.BlobPath(digest)
		data, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blob, data[:len(data)/3], 0o644); err != nil {
			t.Fatal(err)
		}
		bw.wantUnchanged(t, ctx, ref, digest, "retry")
	})

	t.Run("digest mismatch", func(t *testing.T) {
		ref, digest := damaged(t, "replaced")
		blob := bw.reg.BlobPath(digest)
		orig, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		// A well-formed layer of the same size: it decompresses and unpacks
		// fine, and only its digest tells it apart.
		other := sameSizeLayer(t, len(orig))
		if err := os.WriteFile(blob, other, 0o644); err != nil {
			t.Fatal(err)
		}
		bw.wantUnchanged(t, ctx, ref, digest, "digest mismatch", "retry")
	})
}

// sameSizeLayer is a gzip-compressed tar of exactly size bytes holding one
// file under /usr: stored (uncompressed) deflate blocks make the size
// predictable, and the gzip header's extra field pads it to the byte (the
// comment field would not do: gzip readers cap its length).
func sameSizeLayer(t *testing.T, size int) []byte {
	t.Helper()
	for n := size - 4096; n > 0; n -= 512 {
		var tarBuf bytes.Buffer
		tw := tar.NewWriter(&tarBuf)
		content := noise(n)
		tw.WriteHeader(&tar.Header{Name: "usr/share/replaced", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n)})
		tw.Write([]byte(content))
		tw.Close()
		compress := func(extra []byte) []byte {
			var out bytes.Buffer
			z, _ := gzip.NewWriterLevel(&out, gzip.NoCompression)
			z.Extra = extra
			z.Write(tarBuf.Bytes())
			z.Close()
			return out.Bytes()
		}
		// The extra field adds its length plus a two-byte length prefix.
		if base := len(compress(nil)); base+2 <= size {
			b := compress(bytes.Repeat([]byte("x"), size-base-2))
			if len(b) != size {
				t.Fatalf("padded layer is %d bytes, want %d", len(b), size)
			}
			return b
		}
	}
	t.Fatalf("cannot make a %d-byte layer", size)
	return nil
}

func mknod(t *testing.T, p string, typ uint32, major, minor uint32) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(p, typ|0o600, int(unix.Mkdev(major, minor))); err != nil {
		t.Fatalf("mknod %s (the test needs root): %v", p, err)
	}
}
