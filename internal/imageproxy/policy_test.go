package imageproxy

import (
	"testing"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/signature"
)

// TestDescribeRequirements: a refusal names the requirement of the most
// specific scope, as containers/image chooses it.
func TestDescribeRequirements(t *testing.T) {
	policy, err := signature.NewPolicyFromBytes([]byte(`{
		"default": [{"type": "reject"}],
		"transports": {
			"docker": {
				"reg.test": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/keys/registry.gpg"}],
				"reg.test/org": [{"type": "sigstoreSigned", "keyPath": "/keys/org.pub"}],
				"reg.test/org/os:1": [{"type": "insecureAcceptAnything"}],
				"reg.test/multi": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a.gpg", "/b.gpg"]},
					{"type": "sigstoreSigned", "keyData": "AAAA"}]
			}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ref, want string }{
		{"reg.test/other/os:1", `a GPGKeys signature by the key in /keys/registry.gpg (signedBy) (docker scope "reg.test")`},
		{"reg.test/org/os:2", `a sigstore signature by the key in /keys/org.pub (sigstoreSigned) (docker scope "reg.test/org")`},
		{"reg.test/org/os:1", `nothing (insecureAcceptAnything) (docker scope "reg.test/org/os:1")`},
		{"reg.test/multi:1", `a GPGKeys signature by a key in /a.gpg, /b.gpg (signedBy) and a sigstore signature by a key given inline (keyData) (sigstoreSigned) (docker scope "reg.test/multi")`},
		{"elsewhere.test/os:1", `that every image be rejected (reject) (the default)`},
	} {
		ref, err := docker.ParseReference("//" + c.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := describeRequirements(policy, ref); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.ref, got, c.want)
		}
	}
}
