package ostree

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// copyObjects copies commit from src into dst through the raw object API
// only, leaving out the file objects in skip; truncate shortens the content
// of every regular file by one byte.
func copyObjects(ctx context.Context, src, dst *Repo, commit string, skip map[string]bool, truncate bool) error {
	tree, err := src.WalkObjects(ctx, commit)
	if err != nil {
		return err
	}
	return dst.WriteObjects(ctx, "copying "+commit, func(w *ObjectWriter) error {
		meta := func(t ObjectType, csum string) error {
			data, err := src.LoadMetadata(t, csum)
			if err != nil {
				return err
			}
			return w.Metadata(t, csum, data)
		}
		if err := meta(ObjectCommit, commit); err != nil {
			return err
		}
		if err := meta(ObjectDirTree, tree.RootContents); err != nil {
			return err
		}
		if err := meta(ObjectDirMeta, tree.RootMeta); err != nil {
			return err
		}
		for _, d := range tree.Dirs {
			if err := meta(ObjectDirTree, d.Contents); err != nil {
				return err
			}
			if err := meta(ObjectDirMeta, d.Meta); err != nil {
				return err
			}
		}
		for _, f := range tree.Files {
			if skip[f.Checksum] {
				continue
			}
			hdr, rc, err := src.OpenFile(ctx, f.Checksum)
			if err != nil {
				return err
			}
			var content io.Reader = rc
			if rc != nil && truncate {
				content = io.LimitReader(rc, hdr.Size-1)
			}
			err = w.File(f.Checksum, hdr, content)
			if rc != nil {
				rc.Close()
			}
			if err != nil {
				return err
			}
		}
		if err := w.CheckComplete(commit); err != nil {
			return err
		}
		return w.SetRef("copied", commit)
	})
}

func TestRawObjectCopyKeepsTheChecksum(t *testing.T) {
	requireRoot(t)
	remote, _ := newRemote(t)
	if err := os.Symlink("hello", filepath.Join(remote.tree, "usr/bin/hi")); err != nil {
		t.Fatal(err)
	}
	withXattr := unix.Setxattr(filepath.Join(remote.tree, "usr/bin/hello"), "user.demo", []byte("kept"), 0) == nil
	v2 := remote.commit(t, "2.0")
	src, err := OpenRepo(remote.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()

	newBare := func() *Repo {
		dir := filepath.Join(t.TempDir(), "repo")
		run(t, "ostree", "init", "--mode=bare", "--repo="+dir)
		r, err := OpenRepo(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}

	// A file missing, or one short of its content: refused, nothing kept.
	tree, err := src.WalkObjects(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	dst := newBare()
	missing := tree.Files[0].Checksum
	if err := copyObjects(ctx, src, dst, v2, map[string]bool{missing: true}, false); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("copy without %s: %v", missing, err)
	}
	if err := copyObjects(ctx, src, dst, v2, nil, true); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("copy of truncated content: %v", err)
	}
	if refs, _ := dst.ListRefs(""); len(refs) != 0 {
		t.Errorf("refs after failed copies: %v", refs)
	}

	dst = newBare()
	if err := copyObjects(ctx, src, dst, v2, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := run(t, "ostree", "--repo="+dst.Path(), "rev-parse", "copied"); got != v2 {
		t.Errorf("copied ref at %s, want %s", got, v2)
	}
	fsck(t, dst.Path())
	if target := run(t, "ostree", "--repo="+dst.Path(), "ls", v2, "/usr/bin/hi"); !strings.HasSuffix(target, "-> hello") {
		t.Errorf("symlink: %s", target)
	}
	if withXattr {
		if x := run(t, "ostree", "--repo="+dst.Path(), "ls", "-X", v2, "/usr/bin/hello"); !strings.Contains(x, "user.demo") {
			t.Errorf("xattr lost: %s", x)
		}
	}

	// Detached metadata: edits keep what they do not name.
	run(t, "ostree", "--repo="+dst.Path(), "commit", "--tree=ref="+v2, "-b", "signed", "--add-detached-metadata-string=keep=me")
	signed := run(t, "ostree", "--repo="+dst.Path(), "rev-parse", "signed")
	if err := dst.EditDetachedMetadata(ctx, signed, map[string]string{"added": "yes", "gone": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := dst.EditDetachedMetadata(ctx, signed, nil, []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	md, err := dst.ReadDetachedMetadata(signed)
	if err != nil || md["keep"] != "me" || md["added"] != "yes" || md["gone"] != nil {
		t.Errorf("detached metadata %v, %v", md, err)
	}
	b, err := dst.DetachedMetadataBytes(signed, []string{"keep", "added"})
	if err != nil || b != nil {
		t.Errorf("detached metadata without every key: %v, %v", b, err)
	}
}
