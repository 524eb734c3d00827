package rpmdb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

func TestExplainChecksig(t *testing.T) {
	for _, c := range []struct{ name, out, reason, signer string }{
		{"unsigned", "x.rpm:\n    Header RSA signature: NOTFOUND\n    Header SHA256 digest: OK\n    Payload SHA256 digest: OK\n", "not signed", ""},
		{"unknown key", "x.rpm:\n    Header V4 EdDSA/SHA256 Signature, key ID 849ff71e: NOKEY\n    Header SHA256 digest: OK\n", "signed by key 849ff71e, which is not trusted", "849ff71e"},
		{"tampered payload", "x.rpm:\n    Header V4 EdDSA/SHA256 Signature, key ID 849ff71e: OK\n    Payload SHA256 digest: BAD (Expected 23 != 6a)\n    MD5 digest: BAD (Expected 70 != e4)\n",
			"damaged or tampered with (Payload SHA256 digest, MD5 digest does not match)", "849ff71e"},
		{"bad signature", "x.rpm:\n    Header V4 RSA/SHA256 Signature, key ID 0badc0de: BAD\n", "damaged or tampered with (signature by key 0badc0de does not match)", "0badc0de"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := explainChecksig("x.rpm", c.out)
			if e.Reason != c.reason || e.SignerID != c.signer {
				t.Errorf("got reason %q signer %q, want %q %q", e.Reason, e.SignerID, c.reason, c.signer)
			}
		})
	}
}

// TestKeyringCheck signs a real package with a throw-away key and checks it
// with rpmkeys against keyrings that do and do not trust that key.
func TestKeyringCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rpms := buildRPMs(t, []fixture.Package{simplePkg("sigtest", "1.0", "1", "a")})
	var unsigned string
	for _, p := range rpms {
		unsigned = p
	}
	good, err := fixture.NewGPGKey(ctx, filepath.Join(dir, "good"), "good")
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewGPGKey(ctx, filepath.Join(dir, "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "signed.rpm")
	copyFile(t, unsigned, signed)
	if err := good.SignRPMs(ctx, signed); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.rpm")
	copyFile(t, signed, tampered)
	data, _ := os.ReadFile(tampered)
	data[len(data)-20] ^= 0xff // in the compressed payload
	os.WriteFile(tampered, data, 0o644)

	keyring := func(k *fixture.GPGKey) *Keyring {
		t.Helper()
		asc := filepath.Join(t.TempDir(), "key.asc")
		if err := k.ExportArmored(ctx, asc); err != nil {
			t.Fatal(err)
		}
		db := t.TempDir()
		r, err := NewKeyring(ctx, db, []KeyFile{{Source: "file://" + asc, Path: asc}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ring := keyring(good)
	goodID := strings.ToLower(good.Fingerprint[len(good.Fingerprint)-8:])
	if keys := ring.Keys(); len(keys) != 1 || keys[0].ID != goodID || !strings.Contains(keys[0].Name, "good") {
		t.Fatalf("Keys() = %+v, want the good key %s", keys, goodID)
	}
	if err := ring.Check(ctx, signed); err != nil {
		t.Errorf("signed package refused: %v", err)
	}
	for _, c := range []struct {
		name, path string
		ring       *Keyring
		want       string
	}{
		{"unsigned", unsigned, ring, "not signed"},
		{"tampered", tampered, ring, "tampered"},
		{"untrusted key", signed, keyring(other), "signed by key " + goodID + ", which is not trusted"},
	} {
		err := c.ring.Check(ctx, c.path)
		var se *SignatureError
		if !errors.As(err, &se) || !strings.Contains(se.Reason, c.want) {
			t.Errorf("%s: Check = %v, want a SignatureError saying %q", c.name, err, c.want)
		}
	}
	if _, err := NewKeyring(ctx, t.TempDir(), []KeyFile{{Source: "not-a-key", Path: unsigned}}); err == nil || !strings.Contains(err.Error(), "not-a-key") {
		t.Errorf("importing a non-key: %v, want an error naming its source", err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
