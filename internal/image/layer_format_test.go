package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// formatTar exercises every import rule at once: mapped and filtered
// top-level directories, explicit and implicit directories, owners, setuid,
// xattrs (two, to pin their order), symlinks, a hardlink, a path carried
// twice, a file replaced by a directory, whiteouts and tmpfiles lines.
func formatTar(t *testing.T) []byte {
	t.Helper()
	xattrs := map[string]string{"SCHILY.xattr.user.b": "2", "SCHILY.xattr.user.a": "1"}
	return makeTar(t, []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "usr/bin/", Typeflag: tar.TypeDir, Mode: 0o711, Uid: 3, Gid: 4, PAXRecords: map[string]string{"SCHILY.xattr.user.d": "dir"}},
		{Name: "usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 5},
		{Name: "usr/bin/sudo", Typeflag: tar.TypeLink, Linkname: "usr/bin/su"},
		{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1001, Size: 3, PAXRecords: xattrs},
		{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 7},
		{Name: "usr/bin/y", Typeflag: tar.TypeSymlink, Linkname: "x", Uid: 5, Gid: 6},
		{Name: "usr/share/doc/a/b/c", Typeflag: tar.TypeReg, Mode: 0o644, Size: 0},
		{Name: "usr/share/doc/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4},
		{Name: "usr/share/doc/f", Typeflag: tar.TypeDir, Mode: 0o700},
		{Name: "usr/share/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o600},
		{Name: "usr/lib/.wh..wh..opq", Typeflag: tar.TypeReg},
		{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6},
		{Name: "etc/.wh.motd", Typeflag: tar.TypeReg},
		{Name: "var/lib/app/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8},
		{Name: "var/lib/app/state", Typeflag: tar.TypeReg, Mode: 0o600, Size: 1},
		{Name: "var/run", Typeflag: tar.TypeSymlink, Linkname: "../run"},
		{Name: "bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"},
		{Name: "opt/app/tool", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
		{Name: "root/.profile", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
	}, "content")
}

// TestLayerFormatStable pins the tree a known tar imports to: a change of
// the import rules or of how objects are written shows up here, and must
// come with a new layerFormat so old layer commits are imported again.
func TestLayerFormatStable(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	tb := formatTar(t)
	csum, err := s.ImportLayer(context.Background(), digestOf(tb), bytes.NewReader(tb))
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Repo.ListTree(context.Background(), csum, "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		t.Logf("%s %c %o %d:%d %s %s", e.Path, e.Type, e.Mode, e.UID, e.GID, e.Checksum, e.Target)
	}
	c, err := s.Repo.ReadCommit(csum)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("metadata %v", c.Metadata)
	const want = "c4c440e51b812d7a9ae0df30e532ee3bb6e26afa332885f36a5fbaee9dd9c6e7"
	if root := list[0]; root.Checksum != want {
		t.Errorf("root tree of the format tar = %s, want %s (bump layerFormat if the rules changed)", root.Checksum, want)
	}
}

// TestImportLayerLargeFile streams a file bigger than one write (through a
// content writer, not in one call) and checks that its object is the one
// `ostree commit` makes of the same file; the same file cut short is a
// truncated blob and leaves nothing behind.
func TestImportLayerLargeFile(t *testing.T) {
	requireRoot(t)
	content := make([]byte, 3<<20+17)
	for i := range content {
		content[i] = byte(i*7 + i/4096)
	}
	tb := makeTar(t, []tar.Header{{Name: "usr/lib/big", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 12, Gid: 34, Size: int64(len(content))}}, string(content))
	s := newStore(t)
	csum, err := s.ImportLayer(context.Background(), digestOf(tb), bytes.NewReader(tb))
	if err != nil {
		t.Fatal(err)
	}
	got := entries(t, s, csum)["/usr/lib/big"]

	dir := t.TempDir()
	p := filepath.Join(dir, "usr/lib/big")
	write(t, p, string(content), 0o640)
	if err := os.Chown(p, 12, 34); err != nil {
		t.Fatal(err)
	}
	ref := run(t, "ostree", "commit", "--repo="+s.Repo.Path(), "--orphan", "--tree=dir="+dir)
	want := entries(t, s, ref)["/usr/lib/big"]
	if got.Checksum == "" || got.Checksum != want.Checksum {
		t.Errorf("streamed object %s, ostree commit made %s", got.Checksum, want.Checksum)
	}
	run(t, "ostree", "fsck", "--repo="+s.Repo.Path())

	s2 := newStore(t)
	cut := tb[:2<<20]
	_, err = s2.ImportLayer(context.Background(), digestOf(cut), bytes.NewReader(cut))
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated large file: err = %v", err)
	}
	if refs, _ := s2.Repo.ListRefs(""); len(refs) != 0 {
		t.Errorf("refs left: %v", refs)
	}
	run(t, "ostree", "fsck", "--repo="+s2.Repo.Path())
}

// cancelAfter cancels its context once n bytes have been read: a pull
// cancelled in the middle of a layer.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// TestImportLayerCancelledMidStream cancels half-way through a layer whose
// first files are already written into the transaction: no ref, no object
// in the repo, fsck clean, and the same layer imports afterwards.
func TestImportLayerCancelledMidStream(t *testing.T) {
	requireRoot(t)
	var hdrs []tar.Header
	for i := 0; i < 200; i++ {
		hdrs = append(hdrs, tar.Header{Name: fmt.Sprintf("usr/share/f%03d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(1000 + i)})
	}
	tb := makeTar(t, hdrs, strings.Repeat("z", 2000))
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := s.ImportLayer(ctx, digestOf(tb), &cancelAfter{r: bytes.NewReader(tb), n: len(tb) / 2, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if refs, _ := s.Repo.ListRefs(""); len(refs) != 0 {
		t.Errorf("refs left: %v", refs)
	}
	var objects []string
	filepath.WalkDir(filepath.Join(s.Repo.Path(), "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			objects = append(objects, p)
		}
		return nil
	})
	if len(objects) != 0 {
		t.Errorf("a cancelled import left %d objects in the repo, e.g. %s", len(objects), objects[0])
	}
	run(t, "ostree", "fsck", "--repo="+s.Repo.Path())
	if _, err := s.ImportLayer(context.Background(), digestOf(tb), bytes.NewReader(tb)); err != nil {
		t.Fatalf("import after the cancelled one: %v", err)
	}
}
