package image_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/tests/fixture"
)

// signedWorld is the loopback registry of setup plus what signed images need:
// two GPG keys (the trusted one and another), a lookaside signature store
// that skopeo writes and strata reads, and a policy that rejects everything
// but this registry's images signed by the trusted key.
type signedWorld struct {
	*world
	trusted, other *fixture.GPGKey
	sigs           *fixture.Lookaside
}

func setupSigned(t *testing.T) (context.Context, *signedWorld) {
	t.Helper()
	ctx, w := setup(t)
	dir := t.TempDir()
	sw := &signedWorld{world: w}
	var err error
	if sw.trusted, err = fixture.NewGPGKey(ctx, filepath.Join(dir, "trusted"), "trusted"); err != nil {
		t.Fatal(err)
	}
	if sw.other, err = fixture.NewGPGKey(ctx, filepath.Join(dir, "other"), "other"); err != nil {
		t.Fatal(err)
	}
	if sw.sigs, err = fixture.NewLookaside(dir, w.reg.Addr); err != nil {
		t.Fatal(err)
	}
	// The host's own places, under cfg.Root: what an administrator would write.
	policy := filepath.Join(w.cfg.Root, "etc/containers/policy.json")
	if err := fixture.WriteSignedByPolicy(policy, w.reg.Addr, sw.trusted.PublicKey); err != nil {
		t.Fatal(err)
	}
	sw.cfg.RegistriesDir = sw.sigs.RegistriesDir
	return ctx, sw
}

// osLayout builds a small bootable image (kernel in the base layer) whose
// content is unique to name, so every repository gets its own manifest
// digest and its own signatures. It returns the "layout:tag" source.
func osLayout(t *testing.T, name string) string {
	t.Helper()
	src, err := fixture.BuildImage(t.Context(), filepath.Join(t.TempDir(), "layout"), "1",
		map[string]string{"org.opencontainers.image.version": "1"},
		map[string]string{"usr/lib/modules/" + fixture.KernelVersion + "/vmlinuz": "kernel\n", "usr/lib/os-release": "ID=demo\n"},
		map[string]string{"usr/share/demo/name": name + "\n", "usr/share/demo/noise": noise(64 << 10)},
	)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// wantNothingStored checks a refused pull left the repository as it found
// it: no image or layer refs, and a clean fsck.
func wantNothingStored(t *testing.T, store *image.Store) {
	t.Helper()
	if refs := strings.TrimSpace(ostreeOut(t, store.Repo, "refs")); refs != "" {
		t.Errorf("refs after a refused pull:\n%s", refs)
	}
	ostreeOut(t, store.Repo, "fsck")
}

// wantRefused pulls ref into a fresh store, expects an error naming the
// image, the policy file, the trusted key's requirement and the reason, and
// checks nothing was stored.
func wantRefused(t *testing.T, ctx context.Context, sw *signedWorld, ref image.Reference, why string) {
	t.Helper()
	requirement := "a GPGKeys signature by the key in " + sw.trusted.PublicKey + " (signedBy)"
	wantRefusedBy(t, ctx, sw, sw.cfg, ref, requirement, why)
}

// wantRefusedBy is wantRefused for the policy cfg names, whose requirement
// for the registry is described as requirement.
func wantRefusedBy(t *testing.T, ctx context.Context, sw *signedWorld, cfg image.Config, ref image.Reference, requirement, why string) {
	t.Helper()
	store := &image.Store{Repo: newRepo(t)}
	_, err := store.Pull(ctx, ref, cfg, nil)
	policy := cfg.PolicyPath
	if policy == "" {
		policy = filepath.Join(cfg.Root, "etc/containers/policy.json")
	}
	wantErr(t, err, ref, "refused by the signature policy "+policy)
	if err != nil {
		t.Logf("refused: %v", err)
		requirement += " (docker scope \"" + sw.reg.Addr + "\")"
		if !strings.Contains(err.Error(), requirement) {
			t.Errorf("error %q does not name the requirement %q", err, requirement)
		}
		if !strings.Contains(err.Error(), why) {
			t.Errorf("error %q does not say why (%q)", err, why)
		}
	}
	wantNothingStored(t, store)
}

func signedRef(t *testing.T, sw *signedWorld, repoTag string) image.Reference {
	return mustParse(t, "ostree-image-signed:docker://"+sw.reg.Addr+"/"+repoTag)
}

func TestSignedImages(t *testing.T) {
	ctx, sw := setupSigned(t)

	t.Run("signed by the trusted key", func(t *testing.T) {
		digest, err := sw.reg.PushSigned(ctx, osLayout(t, "good"), "good/os:1", sw.trusted, sw.sigs)
		if err != nil {
			t.Fatal(err)
		}
		// The signature really is where the policy's lookaside looks.
		if _, err := os.Stat(filepath.Join(sw.sigs.SignatureDir("good/os", digest), "signature-1")); err != nil {
			t.Fatalf("skopeo left no signature: %v", err)
		}
		ref := signedRef(t, sw, "good/os:1")
		store := &image.Store{Repo: newRepo(t)}
		got, err := store.Pull(ctx, ref, sw.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.ManifestDigest != digest {
			t.Errorf("pulled %s, pushed %s", got.ManifestDigest, digest)
		}
		if rev := strings.TrimSpace(ostreeOut(t, store.Repo, "rev-parse", image.ImageRef(ref.ImageRef()))); rev != got.Commit {
			t.Errorf("image ref at %q, pull says %s", rev, got.Commit)
		}
		if name := ostreeOut(t, store.Repo, "cat", got.Commit, "/usr/share/demo/name"); name != "good\n" {
			t.Errorf("content %q", name)
		}
		ostreeOut(t, store.Repo, "fsck")
		// By digest too: the signature covers the manifest, not the tag.
		if _, err := (&image.Store{Repo: newRepo(t)}).Pull(ctx, signedRef(t, sw, "good/os@"+digest), sw.cfg, nil); err != nil {
			t.Errorf("by digest: %v", err)
		}
	})

	t.Run("unsigned", func(t *testing.T) {
		if _, err := sw.reg.Push(ctx, osLayout(t, "unsigned"), "unsigned/os:1"); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, ctx, sw, signedRef(t, sw, "unsigned/os:1"), "no signature exists")
		// The same image is accepted unverified: the refusal was the policy's.
		store := &image.Store{Repo: newRepo(t)}
		if _, err := store.Pull(ctx, mustParse(t, "ostree-unverified-registry:"+sw.reg.Addr+"/unsigned/os:1"), sw.cfg, nil); err != nil {
			t.Errorf("unverified pull of the unsigned image: %v", err)
		}
	})

	t.Run("signed by another key", func(t *testing.T) {
		if _, err := sw.reg.PushSigned(ctx, osLayout(t, "other"), "other/os:1", sw.other, sw.sigs); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, ctx, sw, signedRef(t, sw, "other/os:1"), "Key not found")
	})

	t.Run("signature of other content", func(t *testing.T) {
		// The trusted key signed one image; then different content was pushed
		// under the same tag and the old signature copied next to it, as an
		// attacker with write access to registry and lookaside could.
		signed, err := sw.reg.PushSigned(ctx, osLayout(t, "original"), "swapped/os:1", sw.trusted, sw.sigs)
		if err != nil {
			t.Fatal(err)
		}
		swapped, err := sw.reg.Push(ctx, osLayout(t, "replacement"), "swapped/os:1")
		if err != nil {
			t.Fatal(err)
		}
		if swapped == signed {
			t.Fatal("the replacement has the signed image's digest")
		}
		sig, err := os.ReadFile(filepath.Join(sw.sigs.SignatureDir("swapped/os", signed), "signature-1"))
		if err != nil {
			t.Fatal(err)
		}
		dir := sw.sigs.SignatureDir("swapped/os", swapped)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "signature-1"), sig, 0o644); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, ctx, sw, signedRef(t, sw, "swapped/os:1"), "does not match")
	})

	t.Run("tampered signature", func(t *testing.T) {
		digest, err := sw.reg.PushSigned(ctx, osLayout(t, "tampered"), "tampered/os:1", sw.trusted, sw.sigs)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sw.sigs.SignatureDir("tampered/os", digest), "signature-1")
		sig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// A byte in the middle: inside the signed (compressed) payload.
		sig[len(sig)/2] ^= 0x01
		if err := os.WriteFile(p, sig, 0o644); err != nil {
			t.Fatal(err)
		}
		// The message is compressed, so what the flipped bit breaks varies:
		// the EdDSA check, the packet structure, or the stream itself
		// ("unexpected EOF"); the refusal and its requirement do not.
		wantRefused(t, ctx, sw, signedRef(t, sw, "tampered/os:1"), "")
	})

	// Debian's skopeo cannot sign with sigstore (see fixture.NewSigstoreKey),
	// so only refusals under a sigstoreSigned policy are tested: they show
	// the requirement is read and applied, signatures looked for in the
	// registry's attachments, and a GPG signature not taken for a sigstore one.
	t.Run("sigstoreSigned policy", func(t *testing.T) {
		key, err := fixture.NewSigstoreKey(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := sw.cfg
		cfg.PolicyPath = filepath.Join(t.TempDir(), "policy.json")
		if err := fixture.WriteSigstorePolicy(cfg.PolicyPath, sw.reg.Addr, key.PublicKey); err != nil {
			t.Fatal(err)
		}
		requirement := "a sigstore signature by the key in " + key.PublicKey + " (sigstoreSigned)"
		if _, err := sw.reg.Push(ctx, osLayout(t, "sigstore-unsigned"), "sigstore-unsigned/os:1"); err != nil {
			t.Fatal(err)
		}
		wantRefusedBy(t, ctx, sw, cfg, signedRef(t, sw, "sigstore-unsigned/os:1"), requirement, "no signature exists")
		if _, err := sw.reg.PushSigned(ctx, osLayout(t, "sigstore-gpg"), "sigstore-gpg/os:1", sw.trusted, sw.sigs); err != nil {
			t.Fatal(err)
		}
		// containers/image sees the GPG signature and says it does not count.
		wantRefusedBy(t, ctx, sw, cfg, signedRef(t, sw, "sigstore-gpg/os:1"), requirement, "1 non-sigstore")
	})

	t.Run("insecure default policy", func(t *testing.T) {
		// A policy whose default accepts anything verifies nothing, even with
		// a signedBy scope for this registry: signed references are refused
		// before any request is made.
		policy := filepath.Join(t.TempDir(), "policy.json")
		os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"`+
			sw.reg.Addr+`":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"`+sw.trusted.PublicKey+`"}]}}}`), 0o644)
		cfg := sw.cfg
		cfg.PolicyPath = policy
		ref := signedRef(t, sw, "good/os:1")
		store := &image.Store{Repo: newRepo(t)}
		_, err := store.Pull(ctx, ref, cfg, nil)
		wantErr(t, err, ref, "insecureAcceptAnything")
		wantNothingStored(t, store)
	})

	t.Run("no policy", func(t *testing.T) {
		cfg := sw.cfg
		cfg.PolicyPath = filepath.Join(t.TempDir(), "absent.json")
		ref := signedRef(t, sw, "good/os:1")
		store := &image.Store{Repo: newRepo(t)}
		_, err := store.Pull(ctx, ref, cfg, nil)
		wantErr(t, err, ref, "signature policy")
		wantNothingStored(t, store)
	})
}
