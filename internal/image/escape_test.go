package image

import "testing"

func TestRefEscaping(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// The examples ostree-rs-ext documents for its own scheme.
		{"localhost:5000/foo:latest", "localhost_3A_5000/foo_3A_latest"},
		{"registry:quay.io/coreos/fedora:latest", "registry_3A_quay_2E_io/coreos/fedora_3A_latest"},
		{"foo/bar/baz-blah/foo", "foo/bar/baz-blah/foo"},
		{"docker://quay.io/os:1", "docker_3A__2F__2F_quay_2E_io/os_3A_1"},
		{"a_b", "a__b"},
		{"/", "_2F_"},
		{"blah/", "blah_2F_"},
		{"é", "_E9_"},
	} {
		if got := escapeForRef(c.in); got != c.want {
			t.Errorf("escapeForRef(%q) = %q, want %q", c.in, got, c.want)
		}
		back, err := unescapeRef(escapeForRef(c.in))
		if err != nil || back != c.in {
			t.Errorf("unescape(escape(%q)) = %q, %v", c.in, back, err)
		}
	}
	d := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got, want := BlobRef(d), "ostree/container/blob/sha256_3A_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; got != want {
		t.Errorf("BlobRef = %q, want %q", got, want)
	}
	if got, want := ImageRef("oci:/srv/img:v1"), "ostree/container/image/oci_3A__2F_srv/img_3A_v1"; got != want {
		t.Errorf("ImageRef = %q, want %q", got, want)
	}
}
