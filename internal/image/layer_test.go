package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-os/strata/internal/ostree"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root: bare repos keep owners and setuid bits")
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func newStore(t testing.TB) *Store {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	run(t, "ostree", "init", "--mode=bare", "--repo="+dir)
	repo, err := ostree.OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	return &Store{Repo: repo}
}

// tagManifest finds image tag in an OCI layout dir (index.json) and returns
// its manifest's digest and bytes.
func tagManifest(t *testing.T, layout, tag string) (string, []byte) {
	t.Helper()
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	readJSON(t, filepath.Join(layout, "index.json"), &index)
	for _, m := range index.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] != tag {
			continue
		}
		raw, err := os.ReadFile(blobPath(layout, m.Digest))
		if err != nil {
			t.Fatal(err)
		}
		return m.Digest, raw
	}
	t.Fatalf("no tag %s in %s", tag, layout)
	return "", nil
}

// ociLayers reads the layers of image tag in an OCI layout dir and returns
// each as (digest, uncompressed tar).
func ociLayers(t *testing.T, layout, tag string) (digests []string, tars [][]byte) {
	t.Helper()
	_, raw := tagManifest(t, layout, tag)
	var man struct {
		Layers []struct{ Digest, MediaType string } `json:"layers"`
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	for _, l := range man.Layers {
		f, err := os.Open(blobPath(layout, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if strings.HasSuffix(l.MediaType, "gzip") {
			if r, err = gzip.NewReader(f); err != nil {
				t.Fatal(err)
			}
		}
		b, err := io.ReadAll(r)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, l.Digest)
		tars = append(tars, b)
	}
	return digests, tars
}

func blobPath(layout, digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(layout, "blobs", algo, hex)
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

func write(t testing.TB, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// umociImage builds a two-layer image with umoci: layer 1 is an OS-like
// tree, layer 2 deletes a file and adds one. It returns the layout dir.
func umociImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	layout, bundle := filepath.Join(dir, "layout"), filepath.Join(dir, "bundle")
	run(t, "umoci", "init", "--layout", layout)
	run(t, "umoci", "new", "--image", layout+":os")
	run(t, "umoci", "unpack", "--image", layout+":os", bundle)
	rootfs := filepath.Join(bundle, "rootfs")
	write(t, filepath.Join(rootfs, "usr/bin/hello"), "#!/bin/sh\necho hello\n", 0o755)
	write(t, filepath.Join(rootfs, "usr/bin/su"), "setuid\n", os.ModeSetuid|0o755)
	write(t, filepath.Join(rootfs, "usr/lib/modules/6.1.0/vmlinuz"), "kernel\n", 0o644)
	write(t, filepath.Join(rootfs, "usr/share/doc/a"), "a\n", 0o644)
	write(t, filepath.Join(rootfs, "usr/share/doc/b"), "b\n", 0o644)
	write(t, filepath.Join(rootfs, "etc/os-release"), "ID=test\n", 0o644)
	write(t, filepath.Join(rootfs, "var/lib/app/state"), "state\n", 0o600)
	write(t, filepath.Join(rootfs, "root/.profile"), "profile\n", 0o644)
	if err := os.Link(filepath.Join(rootfs, "usr/bin/hello"), filepath.Join(rootfs, "usr/bin/hello2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hello", filepath.Join(rootfs, "usr/bin/hi")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(rootfs, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(rootfs, "usr/share/doc/b"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(rootfs, "usr/share/doc/a"), "user.test", []byte("xval"), 0); err != nil {
		t.Fatal(err)
	}
	run(t, "umoci", "repack", "--refresh-bundle", "--image", layout+":os", bundle)
	// Layer 2: delete doc/a, add a new file.
	if err := os.Remove(filepath.Join(rootfs, "usr/share/doc/a")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(rootfs, "usr/bin/new"), "new\n", 0o755)
	run(t, "umoci", "repack", "--image", layout+":os", bundle)
	return layout
}

func entries(t *testing.T, s *Store, rev string) map[string]ostree.TreeEntry {
	t.Helper()
	list, err := s.Repo.ListTree(context.Background(), rev, "/")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]ostree.TreeEntry{}
	for _, e := range list {
		m[e.Path] = e
	}
	return m
}

func TestImportUmociLayers(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Fatal("umoci is needed (apt-get install umoci)")
	}
	layout := umociImage(t)
	digests, tars := ociLayers(t, layout, "os")
	if len(digests) != 2 {
		t.Fatalf("got %d layers, want 2", len(digests))
	}
	s := newStore(t)
	ctx := context.Background()
	var commits []string
	for i := range digests {
		c, err := s.ImportLayer(ctx, digests[i], bytes.NewReader(tars[i]))
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, c)
		if got := run(t, "ostree", "rev-parse", "--repo="+s.Repo.Path(), BlobRef(digests[i])); got != c {
			t.Fatalf("ref %s = %s, want %s", BlobRef(digests[i]), got, c)
		}
	}
	l1 := entries(t, s, commits[0])
	want := map[string]struct {
		typ      byte
		mode     uint32
		uid, gid uint32
		target   string
	}{
		"/usr/bin/hello":                 {'f', 0o755, 0, 0, ""},
		"/usr/bin/su":                    {'f', 0o4755, 0, 0, ""},
		"/usr/bin/hi":                    {'l', 0o777, 0, 0, "hello"},
		"/bin":                           {'l', 0o777, 0, 0, "usr/bin"},
		"/usr/share/doc/b":               {'f', 0o644, 1000, 1001, ""},
		"/usr/etc/os-release":            {'f', 0o644, 0, 0, ""},
		"/usr/lib/modules/6.1.0/vmlinuz": {'f', 0o644, 0, 0, ""},
		"/root":                          {'d', 0o755, 0, 0, ""},
	}
	for p, w := range want {
		e, ok := l1[p]
		if !ok {
			t.Errorf("layer 1 lacks %s", p)
			continue
		}
		if e.Type != w.typ || (w.typ != 'l' && e.Mode != w.mode) || e.UID != w.uid || e.GID != w.gid || e.Target != w.target {
			t.Errorf("%s = %+v, want %+v", p, e, w)
		}
	}
	if l1["/usr/bin/hello"].Checksum != l1["/usr/bin/hello2"].Checksum {
		t.Errorf("hardlinked hello2 has its own content object")
	}
	for _, p := range []string{"/etc", "/var/lib/app/state", "/root/.profile"} {
		if _, ok := l1[p]; ok {
			t.Errorf("layer 1 carries %s", p)
		}
	}
	frag := "/usr/lib/tmpfiles.d/strata-layer-" + strings.TrimPrefix(digests[0], "sha256:")[:12] + ".conf"
	body := run(t, "ostree", "cat", "--repo="+s.Repo.Path(), commits[0], frag)
	if !strings.Contains(body, "d /var/lib/app ") {
		t.Errorf("tmpfiles fragment lacks /var/lib/app:\n%s", body)
	}
	xattrs := run(t, "ostree", "ls", "-X", "--repo="+s.Repo.Path(), commits[0], "/usr/share/doc/a")
	if !strings.Contains(xattrs, "user.test") {
		t.Errorf("xattr lost: %s", xattrs)
	}
	c, err := s.Repo.ReadCommit(commits[0])
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := c.Metadata[MetaFiltered].([]string); strings.Join(f, ",") != "root" {
		t.Errorf("filtered = %v, want [root]", c.Metadata[MetaFiltered])
	}

	l2 := entries(t, s, commits[1])
	if _, ok := l2["/usr/share/doc/.wh.a"]; !ok {
		t.Errorf("layer 2 lacks the whiteout marker for doc/a")
	}
	c2, err := s.Repo.ReadCommit(commits[1])
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := c2.Metadata[MetaWhiteouts].([]string); strings.Join(w, ",") != "usr/share/doc/.wh.a" {
		t.Errorf("whiteouts = %v", c2.Metadata[MetaWhiteouts])
	}
	run(t, "ostree", "fsck", "--repo="+s.Repo.Path())
}

// failReader fails the test's import if anything reads it.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("an imported layer was read again")
	return 0, io.EOF
}

func TestImportLayerReused(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	tarb := makeTar(t, []tar.Header{{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2}}, "x\n")
	d := digestOf(tarb)
	c1, err := s.ImportLayer(context.Background(), d, bytes.NewReader(tarb))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.LayerCommit(d); !ok || got != c1 {
		t.Fatalf("LayerCommit = %s %v, want %s", got, ok, c1)
	}
	c2, err := s.ImportLayer(context.Background(), d, failReader{t})
	if err != nil || c2 != c1 {
		t.Fatalf("second import = %s %v, want %s", c2, err, c1)
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// makeTar writes headers in order; regular files get content (all the
// same, sized by the header).
func makeTar(t *testing.T, hdrs []tar.Header, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range hdrs {
		h := hdrs[i]
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, content[:h.Size]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportLayerRefusesMalicious(t *testing.T) {
	requireRoot(t)
	big := strings.Repeat("y", 4000)
	good := makeTar(t, []tar.Header{{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4000}}, big)
	cases := []struct {
		name string
		tar  []byte
		want string
	}{
		{"dotdot", makeTar(t, []tar.Header{{Name: "usr/../../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}}, "x\n"), `".."`},
		{"escaping symlink", makeTar(t, []tar.Header{{Name: "usr/x", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"}}, ""), "leaves the tree"},
		{"write through absolute symlink", makeTar(t, []tar.Header{
			{Name: "usr/lib/evil", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
			{Name: "usr/lib/evil/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}}, "x\n"), "written through /usr/lib/evil"},
		{"device node", makeTar(t, []tar.Header{{Name: "usr/dev-sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o600}}, ""), "device node"},
		{"hardlink outside the layer", makeTar(t, []tar.Header{{Name: "usr/shadow", Typeflag: tar.TypeLink, Linkname: "../etc/shadow"}}, ""), "leaves the tree"},
		{"truncated", good[:2000], "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			d := digestOf(c.tar)
			_, err := s.ImportLayer(context.Background(), d, bytes.NewReader(c.tar))
			if err == nil {
				t.Fatal("import succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), d) {
				t.Errorf("error %q does not name the reason %q and the layer", err, c.want)
			}
			refs, err := s.Repo.ListRefs("")
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 0 {
				t.Errorf("refs left: %v", refs)
			}
			run(t, "ostree", "fsck", "--repo="+s.Repo.Path())
		})
	}
}

func TestImportLayerCancelled(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	tarb := makeTar(t, []tar.Header{{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2}}, "x\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.ImportLayer(ctx, digestOf(tarb), bytes.NewReader(tarb)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if refs, _ := s.Repo.ListRefs(""); len(refs) != 0 {
		t.Errorf("refs left: %v", refs)
	}
}

// BenchmarkImportLayer imports a 20 000-file layer and, for scale, commits
// the same tree with `ostree commit --tree=dir=`, reporting the ratio
// (go test -run '^$' -bench ImportLayer ./internal/image).
func BenchmarkImportLayer(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < 20000; i++ {
		name := fmt.Sprintf("usr/share/d%03d/f%05d", i%200, i)
		content := strings.Repeat(fmt.Sprintf("%d ", i), 100)
		write(b, filepath.Join(tree, name), content, 0o644)
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}); err != nil {
			b.Fatal(err)
		}
		io.WriteString(tw, content)
	}
	tw.Close()
	var ours, theirs time.Duration
	for range b.N {
		s := newStore(b)
		start := time.Now()
		if _, err := s.ImportLayer(context.Background(), digestOf(buf.Bytes()), bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		s2 := newStore(b)
		start = time.Now()
		run(b, "ostree", "commit", "--repo="+s2.Repo.Path(), "-b", "x", "--tree=dir="+tree)
		theirs += time.Since(start)
	}
	b.ReportMetric(float64(ours)/float64(theirs), "import/commit")
}
