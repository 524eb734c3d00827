package units

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestPolkitPolicyInstalled: `make install` puts the polkit actions where
// polkitd reads them, unchanged and world-readable (polkitd runs as its own
// user). tests/e2e/polkit_test.go has polkitd itself read the file.
func TestPolkitPolicyInstalled(t *testing.T) {
	root := install(t)
	installed := filepath.Join(root, "usr/share/polkit-1/actions/org.projectatomic.rpmostree1.policy")
	got, err := os.ReadFile(installed)
	if err != nil {
		t.Fatalf("make install did not install the polkit policy: %v", err)
	}
	want, err := os.ReadFile("../../dbus-policy/org.projectatomic.rpmostree1.policy")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from dbus-policy/org.projectatomic.rpmostree1.policy", installed)
	}
	st, err := os.Stat(installed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("%s has mode %v, want 0644", installed, st.Mode().Perm())
	}
}
