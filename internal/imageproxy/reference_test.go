package imageproxy

import (
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
)

func TestContainersReference(t *testing.T) {
	r, err := image.ParseReference("ostree-unverified-registry:127.0.0.1:5000/os:v1")
	if err != nil {
		t.Fatal(err)
	}
	cref, err := ContainersReference(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := cref.Transport().Name(); got != "docker" {
		t.Errorf("transport %q, want docker", got)
	}
	if got := cref.StringWithinTransport(); got != "//127.0.0.1:5000/os:v1" {
		t.Errorf("reference %q", got)
	}

	dir := t.TempDir()
	r, err = image.ParseReference("ostree-unverified-image:oci:" + dir + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	cref, err = ContainersReference(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := cref.Transport().Name(); got != "oci" {
		t.Errorf("transport %q, want oci", got)
	}

	// The OCI path is only resolved here, not when parsing.
	r, err = image.ParseReference("ostree-unverified-image:oci:/nonexistent-strata-dir/sub/os")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ContainersReference(r); err == nil || !strings.Contains(err.Error(), r.String()) {
		t.Errorf("missing directory: error %v does not name the image", err)
	}
}
