package image

import (
	"archive/tar"
	"bytes"
	"context"
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
