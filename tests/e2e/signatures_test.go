package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// TestSignedCommits: with gpg-verify=true on the remote, upgrade, rebase and
// deploy refuse an unsigned commit and one signed only by a key the remote
// does not trust, naming the remote and the keys, and change nothing; a
// commit signed by the trusted key deploys and status shows its signature.
func TestSignedCommits(t *testing.T) {
	e := newEnv(t, envOptions{})
	trusted, err := fixture.NewGPGKey(e.ctx, filepath.Join(e.dir, "trusted"), "trusted")
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewGPGKey(e.ctx, filepath.Join(e.dir, "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.host.RequireSignedCommits(e.ctx, trusted); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
	v2 := e.host.Versions["2.0"]

	// The 1.0 deployment predates gpg-verify: status says it is unsigned
	// (where `ostree admin status` fails outright).
	if out := e.mustStrata("status"); !strings.Contains(out, "GPGSignature: (unsigned)") {
		t.Errorf("status of an unsigned deployment from a gpg-verify remote lacks GPGSignature: (unsigned):\n%s", out)
	}
	// From here on the host runs signed content, as a real one would.
	for _, repo := range []string{e.host.RemoteRepo, filepath.Join(e.host.Sysroot, "ostree/repo")} {
		if err := fixture.SignCommitIn(e.ctx, repo, e.host.Versions["1.0"], trusted); err != nil {
			t.Fatal(err)
		}
	}

	// Unsigned commits.
	e.expectFailure(`remote "demo" verifies GPG signatures (gpg-verify=true) but commit `+v2+` is not signed; it trusts `+trusted.Fingerprint, "upgrade")
	e.expectFailure("is not signed", "upgrade", "--check")
	e.expectFailure("is not signed", "rebase", fixture.Remote+":"+fixture.DevelRef)
	e.expectFailure("is not signed", "deploy", v2)

	// Signed, but by a key the remote does not trust.
	if err := e.host.SignCommit(e.ctx, v2, other); err != nil {
		t.Fatal(err)
	}
	otherID := other.Fingerprint[len(other.Fingerprint)-16:]
	e.expectFailure("is signed by key "+otherID+` that remote "demo" does not trust; it trusts `+trusted.Fingerprint, "upgrade")
	e.expectFailure("does not trust", "deploy", v2)
	if got := e.versions(); got != "1.0" {
		t.Fatalf("refused updates changed the deployments: %s", got)
	}

	// Signed by the trusted key too: accepted.
	if err := e.host.SignCommit(e.ctx, v2, trusted); err != nil {
		t.Fatal(err)
	}
	// The check's AvailableUpdate block shows the update's signatures.
	if out := e.mustStrata("upgrade", "--check"); !strings.Contains(out, "AvailableUpdate:") ||
		!strings.Contains(out, "GPGSignature: Valid signature by "+trusted.Fingerprint) {
		t.Errorf("upgrade --check does not show the update's valid signature:\n%s", out)
	}
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Fatalf("after a signed upgrade: versions %q, want \"2.0 1.0\"", got)
	}
	out := e.mustStrata("status")
	if !strings.Contains(out, "GPGSignature: Valid signature by "+trusted.Fingerprint) {
		t.Errorf("status lacks the valid signature by %s:\n%s", trusted.Fingerprint, out)
	}
	if !strings.Contains(out, "public key "+other.Fingerprint+" not found") {
		t.Errorf("status does not report the untrusted signature by %s:\n%s", other.Fingerprint, out)
	}

	var s struct {
		Deployments []struct {
			Checksum   string  `json:"checksum"`
			GPGEnabled bool    `json:"gpg-enabled"`
			Signatures [][]any `json:"signatures"`
		} `json:"deployments"`
	}
	raw := e.mustStrata("status", "--json")
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, raw)
	}
	d := s.Deployments[0]
	if d.Checksum != v2 || !d.GPGEnabled || len(d.Signatures) != 2 {
		t.Fatalf("deployment %s: gpg-enabled %v, %d signatures; want v2 %s, true, 2:\n%s", d.Checksum, d.GPGEnabled, len(d.Signatures), v2, raw)
	}
	valid := 0
	for _, sig := range d.Signatures {
		// (bbbbbsxxsssssxx): valid first, the fingerprint sixth.
		if len(sig) != 15 {
			t.Fatalf("signature %v has %d fields, want libostree's 15", sig, len(sig))
		}
		if sig[0] == true {
			valid++
			if sig[5] != trusted.Fingerprint {
				t.Errorf("valid signature by %v, want %s", sig[5], trusted.Fingerprint)
			}
		}
	}
	if valid != 1 {
		t.Errorf("%d valid signatures, want 1: %v", valid, d.Signatures)
	}
}

// TestUnverifiedRemoteStatus: a remote without gpg-verify reports
// gpg-enabled false and prints no GPGSignature line.
func TestUnverifiedRemoteStatus(t *testing.T) {
	e := newEnv(t, envOptions{})
	if out := e.mustStrata("status"); strings.Contains(out, "GPGSignature") {
		t.Errorf("status shows a GPGSignature for a remote without gpg-verify:\n%s", out)
	}
	raw := e.mustStrata("status", "--json")
	if !strings.Contains(raw, `"gpg-enabled": false`) {
		t.Errorf("status --json lacks gpg-enabled false:\n%s", raw)
	}
}

// TestEd25519SignedCommits: with sign-verify=true and an ed25519 key on the
// remote (checked by strata: Debian's libostree has no sign-ed25519), an
// unsigned commit, one signed by another key and one with a damaged
// signature are refused after the pull, naming the remote and the key; the
// remote's ref is not left on the refused commit and no deployment
// changes. A commit signed (by openssl, over the commit object) with the
// trusted key deploys, with the key given inline or in a key file.
func TestEd25519SignedCommits(t *testing.T) {
	e := newEnv(t, envOptions{})
	trusted, err := fixture.NewEd25519Key(e.ctx, filepath.Join(e.dir, "trusted"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewEd25519Key(e.ctx, filepath.Join(e.dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.host.RequireEd25519Signatures(e.ctx, map[string]string{"verification-ed25519-key": trusted.Public}); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
	v2 := e.host.Versions["2.0"]
	repo := filepath.Join(e.host.Sysroot, "ostree/repo")
	refAt := func() string {
		out, _ := exec.Command("ostree", "rev-parse", "--repo="+repo, fixture.Remote+":"+fixture.StableRef).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	before := refAt()

	e.expectFailure(`remote "demo" verifies ed25519 signatures (sign-verify=true) but commit `+v2+` is not signed; it trusts key `+trusted.Public+` (verification-ed25519-key)`, "upgrade")
	if got := refAt(); got != before {
		t.Errorf("the refused pull left %s:%s at %s (was %s)", fixture.Remote, fixture.StableRef, got, before)
	}
	e.expectFailure("is not signed", "upgrade", "--check")
	e.expectFailure("is not signed", "deploy", v2)
	e.expectFailure("is not signed", "rebase", fixture.Remote+":"+fixture.DevelRef)
	// Pulled once, the refused commit is in the repo: deploying it from
	// the cache is refused all the same.
	e.expectFailure("is not signed", "deploy", "--cache-only", v2)

	if err := fixture.SignCommitEd25519(e.ctx, e.host.RemoteRepo, v2, other); err != nil {
		t.Fatal(err)
	}
	e.expectFailure(`commit `+v2+` from remote "demo" carries 1 ed25519 signature(s), none valid for a key the remote trusts; it trusts key `+trusted.Public, "upgrade")
	if err := fixture.SignCommitEd25519Garbage(e.ctx, e.host.RemoteRepo, v2); err != nil {
		t.Fatal(err)
	}
	e.expectFailure("carries 2 ed25519 signature(s), none valid", "deploy", v2)
	if got := e.versions(); got != "1.0" {
		t.Fatalf("refused commits changed the deployments: %s", got)
	}
	if got := refAt(); got != before {
		t.Errorf("refused pulls left %s:%s at %s (was %s)", fixture.Remote, fixture.StableRef, got, before)
	}

	// The trusted key, from a key file this time (one key per line, as
	// libostree reads it).
	keyFile := filepath.Join(e.dir, "trusted.ed25519")
	if err := os.WriteFile(keyFile, []byte(other.Public+"\n"+trusted.Public+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Command("ostree", "config", "--repo="+repo, "unset", `remote "demo".verification-ed25519-key`).CombinedOutput(); err != nil {
		t.Fatal(err)
	}
	if err := e.host.RequireEd25519Signatures(e.ctx, map[string]string{"verification-ed25519-file": keyFile}); err != nil {
		t.Fatal(err)
	}
	if err := fixture.SignCommitEd25519(e.ctx, e.host.RemoteRepo, v2, trusted); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Fatalf("after a signed upgrade: versions %q, want \"2.0 1.0\"", got)
	}
	// The key file trusts both keys, and the commit carries a signature
	// by each: both are listed.
	if out := e.mustStrata("status", "-v"); !strings.Contains(out, "Ed25519Signature: Valid signature by ") ||
		!strings.Contains(out, "Valid signature by "+trusted.Public) || !strings.Contains(out, "Valid signature by "+other.Public) {
		t.Errorf("status -v lacks the valid ed25519 signature:\n%s", out)
	}
	if out := e.mustStrata("status"); strings.Contains(out, "Ed25519Signature") {
		t.Errorf("status without -v prints ed25519 details (rpm-ostree prints none):\n%s", out)
	}
}
