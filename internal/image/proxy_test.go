package image_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
)

// TestImageProxyPath: an explicit helper path (stratad --image-proxy) wins
// over the environment, and a missing helper is an error that says what to do.
func TestImageProxyPath(t *testing.T) {
	ctx, w := setup(t)
	ref := mustParse(t, "ostree-unverified-image:oci:"+w.layout+":v1")

	cfg := w.cfg
	cfg.ProxyPath = filepath.Join(t.TempDir(), "no-such-helper")
	_, err := image.Open(ctx, ref, cfg)
	if err == nil || !strings.Contains(err.Error(), cfg.ProxyPath) || !strings.Contains(err.Error(), ref.String()) {
		t.Fatalf("missing helper: error %v does not name the helper and the image", err)
	}

	cfg.ProxyPath = os.Getenv(image.ProxyEnv)
	t.Setenv(image.ProxyEnv, "/nonexistent/strata-image-proxy")
	img, err := image.Open(ctx, ref, cfg)
	if err != nil {
		t.Fatalf("explicit helper path: %v", err)
	}
	if len(img.Layers) == 0 {
		t.Error("no layers")
	}
	if err := img.Close(); err != nil {
		t.Errorf("close: %v", err)
	}

	cfg.ProxyPath = ""
	if _, err := image.Open(ctx, ref, cfg); err == nil || !strings.Contains(err.Error(), "/nonexistent/strata-image-proxy") {
		t.Errorf("helper from the environment: error %v does not name it", err)
	}
}
