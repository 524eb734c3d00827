package ostree

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey is a throw-away ed25519 GPG key in its own GNUPGHOME.
type testKey struct{ home, fingerprint, public string }

func newTestKey(t *testing.T, name string) testKey {
	t.Helper()
	dir := t.TempDir()
	k := testKey{home: filepath.Join(dir, "gnupg"), public: filepath.Join(dir, "pub.gpg")}
	if err := os.Mkdir(k.home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) string {
		return run(t, "env", append([]string{"GNUPGHOME=" + k.home, "gpg", "--batch", "--quiet"}, args...)...)
	}
	gpg("--passphrase", "", "--quick-gen-key", name+" <"+name+"@strata.invalid>", "ed25519", "sign", "never")
	for _, line := range strings.Split(gpg("--with-colons", "--list-secret-keys"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			k.fingerprint = f[9]
			break
		}
	}
	if k.fingerprint == "" {
		t.Fatal("no fingerprint for the new key")
	}
	run(t, "env", "GNUPGHOME="+k.home, "gpg", "--batch", "--output", k.public, "--export", k.fingerprint)
	return k
}

func (k testKey) sign(t *testing.T, repo, commit string) {
	t.Helper()
	run(t, "ostree", "--repo="+repo, "gpg-sign", "--gpg-homedir="+k.home, commit, k.fingerprint)
}

func TestPullGPGVerify(t *testing.T) {
	requireRoot(t)
	good, other := newTestKey(t, "good"), newTestKey(t, "other")
	remote, v1 := newRemote(t)
	dir := newLocalRepo(t, "file://"+remote.dir)
	run(t, "ostree", "--repo="+dir, "config", "set", `remote "demo".gpg-verify`, "true")
	run(t, "ostree", "--repo="+dir, "remote", "gpg-import", "demo", "-k", good.public)
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if on, err := r.RemoteGPGVerify("demo"); err != nil || !on {
		t.Fatalf("RemoteGPGVerify = %v, %v; want true", on, err)
	}
	if keys, err := r.RemoteGPGKeys("demo"); err != nil || len(keys) != 1 || keys[0] != good.fingerprint {
		t.Fatalf("RemoteGPGKeys = %v, %v; want [%s]", keys, err, good.fingerprint)
	}
	pull := func() error {
		return r.Pull(context.Background(), PullOptions{Remote: "demo", Refs: []string{"demo/stable"}}, nil)
	}

	// Unsigned: refused, naming the remote, the commit and the trusted key.
	err = pull()
	var se *SignatureError
	if !errors.As(err, &se) || se.Code != gpgErrNoSignature {
		t.Fatalf("unsigned pull: %v (%T), want a SignatureError for no signature", err, errors.Unwrap(err))
	}
	t.Log(err)
	for _, want := range []string{`remote "demo"`, "not signed", v1, good.fingerprint, "demo.trustedkeys.gpg"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("unsigned pull error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	if got, _ := r.ResolveRev("demo:demo/stable", true); got != "" {
		t.Errorf("refused pull set the ref to %s", got)
	}

	// Signed by a key the remote does not trust: refused, naming that key.
	other.sign(t, remote.dir, v1)
	err = pull()
	if !errors.As(err, &se) || se.Code != gpgErrMissingKey {
		t.Fatalf("pull signed by another key: %v, want a SignatureError for a missing key", err)
	}
	otherID := other.fingerprint[len(other.fingerprint)-16:]
	t.Log(err)
	for _, want := range []string{`remote "demo"`, otherID, good.fingerprint, "gpg-import"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("wrong-key pull error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	fsck(t, dir)

	// Signed by the trusted key as well: accepted, and the signatures are
	// reported.
	good.sign(t, remote.dir, v1)
	if err := pull(); err != nil {
		t.Fatalf("pull of a commit signed by the trusted key: %v", err)
	}
	sigs, err := r.CommitSignatures(v1, "demo")
	if err != nil {
		t.Fatal(err)
	}
	var valid []string
	for _, s := range sigs {
		if s.Valid {
			valid = append(valid, s.Fingerprint)
		}
	}
	if len(sigs) != 2 || len(valid) != 1 || valid[0] != good.fingerprint {
		t.Errorf("CommitSignatures = %+v; want two, valid only by %s", sigs, good.fingerprint)
	}
	for _, s := range sigs {
		if s.Fingerprint == good.fingerprint && (s.UserName != "good" || s.Timestamp == 0 || s.KeyMissing) {
			t.Errorf("trusted signature = %+v", s)
		}
		if s.Fingerprint != good.fingerprint && !s.KeyMissing {
			t.Errorf("untrusted signature %+v not reported as key missing", s)
		}
	}
	fsck(t, dir)

	// An unsigned commit verifies to no signatures, not an error.
	v2 := remote.commit(t, "2.0")
	run(t, "ostree", "--repo="+dir, "config", "set", `remote "demo".gpg-verify`, "false")
	run(t, "ostree", "--repo="+dir, "pull", "demo", "demo/stable")
	run(t, "ostree", "--repo="+dir, "config", "set", `remote "demo".gpg-verify`, "true")
	if err := r.ReloadConfig(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sigs, err := r.CommitSignatures(v2, "demo"); err != nil || len(sigs) != 0 {
		t.Errorf("CommitSignatures(unsigned) = %v, %v; want none, no error", sigs, err)
	}
}
