package image_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/tests/fixture"
)

// world is a loopback registry with one image pushed by skopeo, the layout
// umoci built it in, and the configuration strata reads.
type world struct {
	reg    *fixture.Registry
	layout string
	cfg    image.Config
	digest string // skopeo inspect's digest of os:v1
}

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"docker-registry", "umoci", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make deps installs it): %v", tool, err)
		}
	}
}

func setup(t *testing.T) (context.Context, *world) {
	t.Helper()
	needTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	reg, err := fixture.StartRegistry(ctx, filepath.Join(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop() })
	w := &world{reg: reg, layout: filepath.Join(dir, "layout")}
	src, err := fixture.BuildImage(ctx, w.layout, "v1", map[string]string{"org.opencontainers.image.version": "1.0", "containers.bootc": "1"},
		map[string]string{"usr/lib/os-release": "ID=demo\nVERSION_ID=1.0\n", "usr/bin/hello": "#!/bin/sh\necho hello\n"},
		map[string]string{"usr/share/demo/data": strings.Repeat("layer two ", 1000), "usr/share/demo/random": noise(1 << 20)},
	)
	if err != nil {
		t.Fatal(err)
	}
	if w.digest, err = reg.Push(ctx, src, "os:v1"); err != nil {
		t.Fatal(err)
	}
	conf, err := reg.WriteRegistriesConf()
	if err != nil {
		t.Fatal(err)
	}
	// A root with only what the test writes: no host policy, auth or mirrors leak in.
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "etc/containers"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.cfg = image.Config{Root: root, RegistriesConf: conf, TmpDir: dir}
	return ctx, w
}

// noise is incompressible content, so a layer is larger than any read buffer.
func noise(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

func mustParse(t *testing.T, s string) image.Reference {
	t.Helper()
	r, err := image.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readLayers reads every layer through OpenLayer and checks the progress
// callback saw the compressed size.
func readLayers(t *testing.T, ctx context.Context, img *image.Image) [][]byte {
	t.Helper()
	var out [][]byte
	for i, l := range img.Layers {
		var last int64
		rc, err := img.OpenLayer(ctx, i, func(n int64) { last = n })
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("reading layer %d: %v", i, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("closing layer %d: %v", i, err)
		}
		if l.Size >= 0 && last != l.Size {
			t.Errorf("layer %d: progress ended at %d, size %d", i, last, l.Size)
		}
		out = append(out, b)
	}
	return out
}

func checkImage(t *testing.T, ctx context.Context, w *world, img *image.Image, tag string) {
	t.Helper()
	want, err := fixture.LayoutLayers(w.layout, tag)
	if err != nil {
		t.Fatal(err)
	}
	got := readLayers(t, ctx, img)
	if len(got) != len(want) || len(got) != 2 {
		t.Fatalf("%d layers, umoci wrote %d (want 2)", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("layer %d differs from what umoci put in (%d vs %d bytes)", i, len(got[i]), len(want[i]))
		}
	}
	if img.Labels["org.opencontainers.image.version"] != "1.0" || img.Labels["containers.bootc"] != "1" {
		t.Errorf("labels %v", img.Labels)
	}
	if !bytes.Contains(img.Config, []byte(`"containers.bootc"`)) || len(img.Manifest) == 0 {
		t.Errorf("config or manifest missing")
	}
}

func TestOpenFromRegistry(t *testing.T) {
	ctx, w := setup(t)
	for _, spelling := range []string{
		"ostree-unverified-registry:" + w.reg.Addr + "/os:v1",
		"ostree-unverified-registry:" + w.reg.Addr + "/os@" + w.digest,
		"ostree-unverified-image:docker://" + w.reg.Addr + "/os:v1",
	} {
		t.Run(spelling, func(t *testing.T) {
			img, err := image.Open(ctx, mustParse(t, spelling), w.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if img.ManifestDigest != w.digest {
				t.Errorf("manifest digest %s, skopeo inspect says %s", img.ManifestDigest, w.digest)
			}
			checkImage(t, ctx, w, img, "v1")
		})
	}
}

func TestOpenOCIDirAndArchive(t *testing.T) {
	ctx, w := setup(t)
	img, err := image.Open(ctx, mustParse(t, "ostree-unverified-image:oci:"+w.layout+":v1"), w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, ctx, w, img, "v1")
	img.Close()

	archive := filepath.Join(t.TempDir(), "os.tar")
	out, err := exec.CommandContext(ctx, "skopeo", "copy", "--quiet", "oci:"+w.layout+":v1", "oci-archive:"+archive+":v1").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy to oci-archive: %v: %s", err, out)
	}
	img, err = image.Open(ctx, mustParse(t, "ostree-unverified-image:oci-archive:"+archive+":v1"), w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, ctx, w, img, "v1")
	img.Close()
}

// wantErr checks err exists, names the image and says why.
func wantErr(t *testing.T, err error, ref image.Reference, why string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error for %s", ref)
	}
	if !strings.Contains(err.Error(), ref.String()) {
		t.Errorf("error %q does not name the image %s", err, ref)
	}
	if !strings.Contains(err.Error(), why) {
		t.Errorf("error %q does not say %q", err, why)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, w := setup(t)

	t.Run("missing tag", func(t *testing.T) {
		ref := mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:nosuchtag")
		_, err := image.Open(ctx, ref, w.cfg)
		wantErr(t, err, ref, "manifest unknown")
	})

	t.Run("registry down", func(t *testing.T) {
		ref := mustParse(t, "ostree-unverified-registry:127.0.0.1:1/os:v1")
		_, err := image.Open(ctx, ref, w.cfg)
		wantErr(t, err, ref, "connection refused")
	})

	t.Run("signed reference refused by reject policy", func(t *testing.T) {
		policy := filepath.Join(t.TempDir(), "policy.json")
		os.WriteFile(policy, []byte(`{"default":[{"type":"reject"}]}`), 0o644)
		cfg := w.cfg
		cfg.PolicyPath = policy
		ref := mustParse(t, "ostree-image-signed:docker://"+w.reg.Addr+"/os:v1")
		_, err := image.Open(ctx, ref, cfg)
		wantErr(t, err, ref, "refused by the signature policy")
	})

	t.Run("signed reference refused by signedBy policy", func(t *testing.T) {
		dir := t.TempDir()
		key := filepath.Join(dir, "key.gpg")
		os.WriteFile(key, []byte("not a key but the image is unsigned anyway"), 0o644)
		policy := filepath.Join(dir, "policy.json")
		os.WriteFile(policy, []byte(`{"default":[{"type":"reject"}],"transports":{"docker":{"`+w.reg.Addr+`":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"`+key+`"}]}}}`), 0o644)
		cfg := w.cfg
		cfg.PolicyPath = policy
		cfg.RegistriesDir = dir // no lookaside configured: no signatures
		ref := mustParse(t, "ostree-image-signed:docker://"+w.reg.Addr+"/os:v1")
		_, err := image.Open(ctx, ref, cfg)
		wantErr(t, err, ref, "refused by the signature policy")
	})

	t.Run("signed reference under an accept-anything policy", func(t *testing.T) {
		policy := filepath.Join(t.TempDir(), "policy.json")
		os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644)
		cfg := w.cfg
		cfg.PolicyPath = policy
		ref := mustParse(t, "ostree-image-signed:docker://"+w.reg.Addr+"/os:v1")
		_, err := image.Open(ctx, ref, cfg)
		wantErr(t, err, ref, "insecureAcceptAnything")
		// The same image unverified is accepted whatever the policy says.
		img, err := image.Open(ctx, mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:v1"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		img.Close()
	})

	t.Run("closed before the end", func(t *testing.T) {
		img, err := image.Open(ctx, mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:v1"), w.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		// Layer 1 holds a megabyte of noise: far more than one read buffers.
		rc, err := img.OpenLayer(ctx, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		rc.Read(make([]byte, 10))
		if err := rc.Close(); err == nil || !strings.Contains(err.Error(), "not verified") {
			t.Errorf("early Close: %v", err)
		}
		if _, err := img.OpenLayer(ctx, 5, nil); err == nil {
			t.Error("layer 5 of 2 opened")
		}
	})

	// Last: it damages the registry's copy of a layer.
	t.Run("corrupt blob", func(t *testing.T) {
		ref := mustParse(t, "ostree-unverified-registry:"+w.reg.Addr+"/os:v1")
		img, err := image.Open(ctx, ref, w.cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		blob := w.reg.BlobPath(img.Layers[1].Digest)
		data, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		// Same length, one byte of the compressed stream flipped near the end
		// (inside the deflate data or the gzip trailer).
		data[len(data)-12] ^= 0xff
		if err := os.WriteFile(blob, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rc, err := img.OpenLayer(ctx, 1, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		wantErr(t, err, ref, img.Layers[1].Digest)

		// Truncated: the registry serves fewer bytes than the manifest says.
		if err := os.WriteFile(blob, data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		rc, err = img.OpenLayer(ctx, 1, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		wantErr(t, err, ref, img.Layers[1].Digest)
	})
}
