package transactions

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/ostree"
)

func TestSignVerifyEnabled(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "false": false, "0": false, "ed25519": true, "ed25519;": true} {
		got, err := signVerifyEnabled(v)
		if err != nil || got != want {
			t.Errorf("sign-verify=%s: %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := signVerifyEnabled("ed25519;spki"); err == nil || !strings.Contains(err.Error(), `not "spki"`) {
		t.Errorf("an unknown signature type: %v", err)
	}
}

// signRepo is the part of Repo the verifier reads, over fixed values.
type signRepo struct {
	Repo
	options map[string]string
	object  []byte
	sigs    [][]byte
}

func (r *signRepo) RemoteOption(remote, option string) (string, bool, error) {
	v, ok := r.options[option]
	return v, ok, nil
}
func (r *signRepo) CommitObject(string) ([]byte, error) { return r.object, nil }
func (r *signRepo) ReadDetachedMetadata(string) (map[string]any, error) {
	if r.sigs == nil {
		return map[string]any{}, nil
	}
	return map[string]any{ostree.Ed25519SignatureKey: r.sigs}, nil
}

func TestVerifyCommitSigned(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	b64 := base64.StdEncoding.EncodeToString
	object := []byte("the serialized commit")
	good := ed25519.Sign(priv, object)
	keyFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keyFile, []byte("# trusted\n\n"+b64(otherPub)+"\n"+b64(pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		options map[string]string
		sigs    [][]byte
		signers []string
		err     string
	}{
		{"off", map[string]string{"sign-verify": "false"}, nil, nil, ""},
		{"unset", nil, nil, nil, ""},
		{"unsigned", map[string]string{"sign-verify": "true", "verification-ed25519-key": b64(pub)}, nil, nil, "is not signed; it trusts key " + b64(pub)},
		{"signed", map[string]string{"sign-verify": "true", "verification-ed25519-key": b64(pub)}, [][]byte{good}, []string{b64(pub)}, ""},
		{"other key", map[string]string{"sign-verify": "true", "verification-ed25519-key": b64(pub)}, [][]byte{ed25519.Sign(otherPriv, object)}, nil, "carries 1 ed25519 signature(s), none valid"},
		{"other bytes", map[string]string{"sign-verify": "true", "verification-ed25519-key": b64(pub)}, [][]byte{ed25519.Sign(priv, []byte("another commit"))}, nil, "none valid"},
		{"short signature", map[string]string{"sign-verify": "true", "verification-ed25519-key": b64(pub)}, [][]byte{good[:10]}, nil, "none valid"},
		{"key file", map[string]string{"sign-verify": "true", "verification-ed25519-file": keyFile}, [][]byte{good}, []string{b64(pub)}, ""},
		{"bad key", map[string]string{"sign-verify": "true", "verification-ed25519-key": "bm90IGEga2V5"}, [][]byte{good}, nil, "an ed25519 public key is 32 bytes, this is 9"},
		{"missing key file", map[string]string{"sign-verify": "true", "verification-ed25519-file": "/nonexistent"}, [][]byte{good}, nil, "reading ed25519 keys"},
	} {
		r := &signRepo{options: c.options, object: object, sigs: c.sigs}
		signers, err := verifyCommitSigned(r, "demo:stable", "abc")
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case strings.Join(signers, ",") != strings.Join(c.signers, ","):
			t.Errorf("%s: signers %v, want %v", c.name, signers, c.signers)
		}
		var refused *SignatureRefusedError
		if err != nil && strings.Contains(c.err, "signature") && !errors.As(err, &refused) {
			t.Errorf("%s: %T is not a SignatureRefusedError", c.name, err)
		}
	}
	// A local refspec has no remote to ask.
	if s, err := verifyCommitSigned(&signRepo{}, "stable", "abc"); s != nil || err != nil {
		t.Errorf("local refspec: %v %v", s, err)
	}
}
