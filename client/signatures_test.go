package client

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

// TestDeploymentSignatures decodes signatures as they arrive from the bus:
// each a (bbbbbsxxsssssxx) struct, which godbus hands over as []any.
func TestDeploymentSignatures(t *testing.T) {
	wire := func(valid, missing bool, fpr string) dbus.Variant {
		return dbus.MakeVariant([]any{valid, false, false, false, missing, fpr, int64(1700000000), int64(0),
			"EdDSA", "SHA256", "k", "k@x", fpr, int64(0), int64(0)})
	}
	d := DecodeDeployment(map[string]dbus.Variant{
		"gpg-enabled": dbus.MakeVariant(true),
		"signatures":  dbus.MakeVariant([]dbus.Variant{wire(false, true, "OTHER"), wire(true, false, "GOOD"), dbus.MakeVariant("junk")}),
	})
	sigs := d.Signatures()
	if !d.GPGEnabled || len(sigs) != 2 {
		t.Fatalf("GPGEnabled %v, signatures %+v; want true and two (junk skipped)", d.GPGEnabled, sigs)
	}
	if sigs[1].Fingerprint != "GOOD" || !sigs[1].Valid || sigs[1].Timestamp != 1700000000 || sigs[1].UserEmail != "k@x" {
		t.Errorf("second signature = %+v", sigs[1])
	}
	for _, c := range []struct {
		s    Signature
		want string
	}{
		{sigs[1], "Valid signature by GOOD"},
		{sigs[0], "Can't check signature: public key OTHER not found"},
		{Signature{KeyRevoked: true, Fingerprint: "R"}, "Signature by revoked key R"},
		{Signature{KeyExpired: true, Fingerprint: "E"}, "Signature by expired key E"},
		{Signature{SigExpired: true, Fingerprint: "S"}, "Expired signature by S"},
		{Signature{Fingerprint: "B"}, "Invalid signature by B"},
	} {
		if got := c.s.Describe(); got != c.want {
			t.Errorf("Describe() = %q, want %q", got, c.want)
		}
	}
	if got := DecodeDeployment(map[string]dbus.Variant{}).Signatures(); got != nil {
		t.Errorf("no signatures key: %v", got)
	}
}
