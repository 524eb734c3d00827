package image

import (
	"strings"
	"testing"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		in        string
		want      Reference
		canonical string
		imageRef  string
	}{
		{
			in:        "ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable",
			want:      Reference{Verification: Unverified, Transport: Registry, Name: "quay.io/fedora/fedora-coreos:stable"},
			canonical: "ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable",
			imageRef:  "docker://quay.io/fedora/fedora-coreos:stable",
		},
		{
			in:        "ostree-unverified-registry:127.0.0.1:5000/os@" + testDigest,
			want:      Reference{Verification: Unverified, Transport: Registry, Name: "127.0.0.1:5000/os@" + testDigest},
			canonical: "ostree-unverified-registry:127.0.0.1:5000/os@" + testDigest,
			imageRef:  "docker://127.0.0.1:5000/os@" + testDigest,
		},
		{
			// The long form of the line above's kind: same value, shown short.
			in:        "ostree-unverified-image:docker://quay.io/exampleos/blah",
			want:      Reference{Verification: Unverified, Transport: Registry, Name: "quay.io/exampleos/blah"},
			canonical: "ostree-unverified-registry:quay.io/exampleos/blah",
			imageRef:  "docker://quay.io/exampleos/blah",
		},
		{
			in:        "ostree-unverified-image:registry:quay.io/exampleos/blah",
			want:      Reference{Verification: Unverified, Transport: Registry, Name: "quay.io/exampleos/blah"},
			canonical: "ostree-unverified-registry:quay.io/exampleos/blah",
			imageRef:  "docker://quay.io/exampleos/blah",
		},
		{
			in:        "ostree-unverified-image:oci:/var/lib/images/os:v1",
			want:      Reference{Verification: Unverified, Transport: OCIDir, Name: "/var/lib/images/os:v1"},
			canonical: "ostree-unverified-image:oci:/var/lib/images/os:v1",
			imageRef:  "oci:/var/lib/images/os:v1",
		},
		{
			in:        "ostree-unverified-image:oci:/var/lib/images/os",
			want:      Reference{Verification: Unverified, Transport: OCIDir, Name: "/var/lib/images/os"},
			canonical: "ostree-unverified-image:oci:/var/lib/images/os",
			imageRef:  "oci:/var/lib/images/os",
		},
		{
			in:        "ostree-unverified-image:oci-archive:/tmp/os.tar:latest",
			want:      Reference{Verification: Unverified, Transport: OCIArchive, Name: "/tmp/os.tar:latest"},
			canonical: "ostree-unverified-image:oci-archive:/tmp/os.tar:latest",
			imageRef:  "oci-archive:/tmp/os.tar:latest",
		},
		{
			in:        "ostree-image-signed:docker://quay.io/exampleos/blah:1.2",
			want:      Reference{Verification: ImageSigned, Transport: Registry, Name: "quay.io/exampleos/blah:1.2"},
			canonical: "ostree-image-signed:docker://quay.io/exampleos/blah:1.2",
			imageRef:  "docker://quay.io/exampleos/blah:1.2",
		},
		{
			in:        "ostree-image-signed:registry:quay.io/exampleos/blah",
			want:      Reference{Verification: ImageSigned, Transport: Registry, Name: "quay.io/exampleos/blah"},
			canonical: "ostree-image-signed:docker://quay.io/exampleos/blah",
			imageRef:  "docker://quay.io/exampleos/blah",
		},
		{
			in:        "ostree-image-signed:oci:/srv/os",
			want:      Reference{Verification: ImageSigned, Transport: OCIDir, Name: "/srv/os"},
			canonical: "ostree-image-signed:oci:/srv/os",
			imageRef:  "oci:/srv/os",
		},
		{
			in:        "ostree-remote-image:myremote:registry:quay.io/exampleos/blah",
			want:      Reference{Verification: OstreeRemote, Remote: "myremote", Transport: Registry, Name: "quay.io/exampleos/blah"},
			canonical: "ostree-remote-image:myremote:docker://quay.io/exampleos/blah",
			imageRef:  "docker://quay.io/exampleos/blah",
		},
		{
			in:        "ostree-remote-registry:myremote:quay.io/exampleos/blah",
			want:      Reference{Verification: OstreeRemote, Remote: "myremote", Transport: Registry, Name: "quay.io/exampleos/blah"},
			canonical: "ostree-remote-image:myremote:docker://quay.io/exampleos/blah",
			imageRef:  "docker://quay.io/exampleos/blah",
		},
		{
			in:        "ostree-remote-image:fedora:docker://quay.io/fedora/fedora-coreos:stable",
			want:      Reference{Verification: OstreeRemote, Remote: "fedora", Transport: Registry, Name: "quay.io/fedora/fedora-coreos:stable"},
			canonical: "ostree-remote-image:fedora:docker://quay.io/fedora/fedora-coreos:stable",
			imageRef:  "docker://quay.io/fedora/fedora-coreos:stable",
		},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseReference(tc.in)
			if err != nil {
				t.Fatalf("ParseReference: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.canonical {
				t.Errorf("String() = %q, want %q", s, tc.canonical)
			}
			if s := got.ImageRef(); s != tc.imageRef {
				t.Errorf("ImageRef() = %q, want %q", s, tc.imageRef)
			}
			again, err := ParseReference(got.String())
			if err != nil || again != got {
				t.Errorf("canonical form does not parse back: %+v, %v", again, err)
			}
			if !IsImageReference(tc.in) {
				t.Errorf("IsImageReference(%q) = false", tc.in)
			}
		})
	}
}

func TestParseReferenceRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, why string
	}{
		{"", "unknown scheme"},
		{"quay.io/fedora/fedora-coreos:stable", "unknown scheme"},
		{"fedora:fedora/x86_64/coreos/stable", "unknown scheme"},
		{"docker://quay.io/x/y", "unknown scheme"},
		{"ostree-unverified-registry:", "empty image name"},
		{"ostree-unverified-registry:Quay.io/UPPER/Case", "repository name must be lowercase"},
		{"ostree-unverified-registry:quay.io/x/y:tag@" + testDigest, "both a tag and digest"},
		{"ostree-unverified-registry:quay.io/x/y@sha256:abc", "invalid"},
		{"ostree-unverified-registry:quay.io/x y", "invalid"},
		{"ostree-unverified-image:quay.io/x/y", "missing transport"},
		{"ostree-unverified-image:quay.io:5000/x/y", "unsupported transport \"quay.io\""},
		{"ostree-unverified-image:docker:quay.io/x/y", "docker://HOST/REPO"},
		{"ostree-unverified-image:containers-storage:localhost/os", "unsupported transport \"containers-storage\""},
		{"ostree-unverified-image:dir:/srv/os", "unsupported transport \"dir\""},
		{"ostree-unverified-image:oci:relative/dir", "must be absolute"},
		{"ostree-unverified-image:oci:/srv/../os", "not clean"},
		{"ostree-unverified-image:oci:/srv/os:bad tag", "invalid image name"},
		{"ostree-unverified-image:oci-archive:", "empty image name"},
		{"ostree-image-signed:", "missing transport"},
		{"ostree-image-signed:docker://", "empty image name"},
		{"ostree-remote-image:myremote", "missing ':' after the remote name"},
		{"ostree-remote-image:my/remote:docker://quay.io/x", "not a valid OSTree remote name"},
		{"ostree-remote-registry::quay.io/x", "not a valid OSTree remote name"},
		{"ostree-remote-registry:r:", "empty image name"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseReference(tc.in)
			if err == nil {
				t.Fatalf("ParseReference(%q) succeeded", tc.in)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.why) {
				t.Errorf("error %q does not say %q", msg, tc.why)
			}
			if !strings.Contains(msg, "accepted forms: ostree-unverified-registry:") {
				t.Errorf("error %q does not name the accepted forms", msg)
			}
		})
	}
}

func TestIsImageReference(t *testing.T) {
	for in, want := range map[string]bool{
		"ostree-unverified-registry:quay.io/x":         true,
		"ostree-unverified-image:bogus":                true, // an image refspec, even if invalid
		"ostree-image-signed:docker://quay.io/x":       true,
		"ostree-remote-image:r:docker://quay.io/x":     true,
		"ostree-remote-registry:r:quay.io/x":           true,
		"fedora:fedora/x86_64/coreos/stable":           false,
		"demo/x86_64/stable":                           false,
		"ostree-unverified-registry":                   false,
		"docker://quay.io/x":                           false,
		"":                                             false,
		"0123456789abcdef0123456789abcdef0123456789ab": false,
	} {
		if got := IsImageReference(in); got != want {
			t.Errorf("IsImageReference(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParseReference checks that ParseReference never panics, that whatever it
// accepts prints in a canonical form that parses back to the same value, and
// that the printed form is stable.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable",
		"ostree-unverified-registry:127.0.0.1:5000/os@" + testDigest,
		"ostree-unverified-image:docker://quay.io/exampleos/blah",
		"ostree-unverified-image:oci:/var/lib/images/os:v1",
		"ostree-unverified-image:oci-archive:/tmp/os.tar",
		"ostree-image-signed:docker://quay.io/exampleos/blah:1.2",
		"ostree-remote-image:myremote:registry:quay.io/exampleos/blah",
		"ostree-remote-registry:myremote:quay.io/exampleos/blah",
		"ostree-unverified-image:containers-storage:localhost/os",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if r != (Reference{}) {
				t.Fatalf("error with a non-zero reference: %+v", r)
			}
			return
		}
		if !IsImageReference(s) {
			t.Fatalf("accepted %q but IsImageReference says no", s)
		}
		out := r.String()
		r2, err := ParseReference(out)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", out, s, err)
		}
		if r2 != r {
			t.Fatalf("round trip changed %+v into %+v", r, r2)
		}
		if out2 := r2.String(); out2 != out {
			t.Fatalf("canonical form not stable: %q then %q", out, out2)
		}
	})
}
