package initrd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The archive is read back with the real cpio tool: names (parents first),
// contents, a symlink and a whole directory.
func TestWriteOverlayReadByCpio(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "etc/cmdline.d"), 0o755))
	must(os.WriteFile(filepath.Join(root, "etc/cmdline.d/foo.conf"), []byte("rd.foo=1\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "etc/tree/sub"), 0o700))
	must(os.WriteFile(filepath.Join(root, "etc/tree/sub/x"), []byte("x"), 0o600))
	must(os.Symlink("sub/x", filepath.Join(root, "etc/tree/link")))
	must(os.WriteFile(filepath.Join(root, "etc/untracked"), []byte("no"), 0o644))

	var buf bytes.Buffer
	must(WriteOverlay(&buf, root, []string{"/etc/cmdline.d/foo.conf", "/etc/tree"}))
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", "gzip -dc | cpio -idm --quiet && find . | sort")
	cmd.Dir = out
	cmd.Stdin = &buf
	listing, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unpacking: %v\n%s", err, listing)
	}
	want := ". ./etc ./etc/cmdline.d ./etc/cmdline.d/foo.conf ./etc/tree ./etc/tree/link ./etc/tree/sub ./etc/tree/sub/x"
	if got := strings.Join(strings.Fields(string(listing)), " "); got != want {
		t.Errorf("unpacked:\n%s\nwant:\n%s", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "etc/cmdline.d/foo.conf")); string(b) != "rd.foo=1\n" {
		t.Errorf("foo.conf = %q", b)
	}
	if l, _ := os.Readlink(filepath.Join(out, "etc/tree/link")); l != "sub/x" {
		t.Errorf("link -> %q", l)
	}
	if fi, err := os.Stat(filepath.Join(out, "etc/tree/sub")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("etc/tree/sub: %v %v", fi, err)
	}

	// The same files give the same bytes.
	var again bytes.Buffer
	must(WriteOverlay(&again, root, []string{"/etc/cmdline.d/foo.conf", "/etc/tree"}))
	var first bytes.Buffer
	must(WriteOverlay(&first, root, []string{"/etc/cmdline.d/foo.conf", "/etc/tree"}))
	if !bytes.Equal(first.Bytes(), again.Bytes()) {
		t.Error("two archives of the same files differ")
	}

	if err := WriteOverlay(&bytes.Buffer{}, root, []string{"/etc/missing"}); err == nil || !strings.Contains(err.Error(), "/etc/missing") {
		t.Errorf("missing file: %v", err)
	}
}
