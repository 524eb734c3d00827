package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/ostree"
)

func TestObjectName(t *testing.T) {
	c := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, csum, ext string
		ok              bool
	}{
		{"sysroot/ostree/repo/objects/ab/" + c[2:] + ".file", c, "file", true},
		{"./sysroot/ostree/repo/objects/ab/" + c[2:] + ".dirtree", c, "dirtree", true},
		{"sysroot/ostree/repo/objects/ab/" + c[2:] + ".file-xattrs-link", c, "file-xattrs-link", true},
		{"usr/bin/bash", "", "", false},
		{"sysroot/ostree/repo/objects/ab", "", "", false},
		{"sysroot/ostree/repo/objects/abc/" + c[2:] + ".file", "", "", false},
		{"sysroot/ostree/repo/objects/ab/" + c[2:], "", "", false},
		{"sysroot/ostree/repo/config", "", "", false},
	} {
		csum, ext, ok := objectName(tc.name)
		if ok != tc.ok || (ok && (csum != tc.csum || ext != tc.ext)) {
			t.Errorf("objectName(%q) = %q, %q, %v", tc.name, csum, ext, ok)
		}
	}
}

// packages makes n packages of decreasing size, each with its own objects.
func packages(n int) []pkgFiles {
	var out []pkgFiles
	for i := 0; i < n; i++ {
		p := pkgFiles{name: fmt.Sprintf("pkg-%03d", i), size: int64(10000 - 10*i)}
		for j := 0; j < 3; j++ {
			p.objects = append(p.objects, fmt.Sprintf("%s-obj-%d-v1", p.name, j))
		}
		out = append(out, p)
	}
	return out
}

func chunkKeys(chunks []chunk) map[string]bool {
	out := map[string]bool{}
	for _, c := range chunks {
		out[strings.Join(c.Objects, ",")] = true
	}
	return out
}

// TestPackChunksStable checks the promise of chunking by package: an update
// of one package (new objects, about the same size) changes one chunk, and
// every object lands in exactly one chunk.
func TestPackChunksStable(t *testing.T) {
	for _, tc := range []struct{ pkgs, n int }{{5, 10}, {40, 10}, {200, 63}, {200, 1}, {3, 2}} {
		for _, changed := range []int{0, tc.pkgs / 2, tc.pkgs - 1} {
			before := packChunks(packages(tc.pkgs), tc.n)
			after := packages(tc.pkgs)
			after[changed].size += 3
			for j := range after[changed].objects {
				after[changed].objects[j] = strings.TrimSuffix(after[changed].objects[j], "v1") + "v2"
			}
			got := packChunks(after, tc.n)
			if len(got) > tc.n || len(got) != len(before) {
				t.Errorf("%d packages in %d: %d chunks, then %d", tc.pkgs, tc.n, len(before), len(got))
			}
			seen := map[string]int{}
			for _, c := range got {
				for _, o := range c.Objects {
					seen[o]++
				}
			}
			if len(seen) != 3*tc.pkgs {
				t.Errorf("%d packages in %d: %d distinct objects chunked, want %d", tc.pkgs, tc.n, len(seen), 3*tc.pkgs)
			}
			for o, k := range seen {
				if k != 1 {
					t.Errorf("object %s in %d chunks", o, k)
				}
			}
			old := chunkKeys(before)
			differ := 0
			for k := range chunkKeys(got) {
				if !old[k] {
					differ++
				}
			}
			if differ != 1 {
				t.Errorf("%d packages in %d, package %d updated: %d chunks differ, want 1", tc.pkgs, tc.n, changed, differ)
			}
		}
	}
}

// nativeTar builds a small native layer: an xattrs object, its link and a
// file object, plus a checkout hardlink the importer skips.
func nativeTar(t testing.TB, content string, csum string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	x := []byte{}
	sum := sha256.Sum256(x)
	xcsum := hex.EncodeToString(sum[:])
	entries := []struct {
		h    tar.Header
		data string
	}{
		{tar.Header{Typeflag: tar.TypeReg, Name: objectPath(xcsum, "file-xattrs"), Mode: 0o644}, ""},
		{tar.Header{Typeflag: tar.TypeLink, Name: objectPath(csum, "file-xattrs-link"), Linkname: objectPath(xcsum, "file-xattrs")}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: objectPath(csum, "file"), Mode: 0o644, Size: int64(len(content))}, content},
		{tar.Header{Typeflag: tar.TypeLink, Name: "usr/share/x", Linkname: objectPath(csum, "file")}, ""},
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&e.h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// importNative runs one layer's tar through the importer and always aborts
// the transaction, so the repo stays as it was.
func importNative(s *Store, data []byte, commit string) error {
	errAbort := errors.New("abort")
	err := s.Repo.WriteObjects(context.Background(), "test import", func(w *ostree.ObjectWriter) error {
		imp := &nativeImporter{w: w, digest: "sha256:test", wantCommit: commit, xattrs: map[string][]byte{}}
		if err := imp.run(context.Background(), bytes.NewReader(data)); err != nil {
			return err
		}
		return errAbort
	})
	if errors.Is(err, errAbort) {
		return nil
	}
	return err
}

func TestNativeImporterChecksObjects(t *testing.T) {
	requireRoot(t)
	s := newStore(t)
	// The checksum of a file object "hello\n", root-owned, 0644, no xattrs.
	dir := t.TempDir()
	write(t, dir+"/f", "hello\n", 0o644)
	csum := strings.Fields(run(t, "ostree", "checksum", dir+"/f"))[0]
	// The bad one first: libostree keeps an aborted transaction's staged
	// (verified) objects for the next one, and trusts them.
	err := importNative(s, nativeTar(t, "hellO\n", csum), "")
	if err == nil || !strings.Contains(err.Error(), csum) {
		t.Errorf("an object that does not hash to its name: %v", err)
	}
	if err := importNative(s, nativeTar(t, "hello\n", csum), ""); err != nil {
		t.Fatalf("a correct object: %v", err)
	}
	commit := strings.Repeat("0", 64)
	bad := nativeTar(t, "hello\n", csum)
	if err := importNative(s, bad, commit); err != nil {
		t.Errorf("a commit layer may carry content: %v", err)
	}
}

// FuzzNativeLayer feeds arbitrary tars to the native importer: it must
// return errors, never panic or write outside the repo's transaction.
func FuzzNativeLayer(f *testing.F) {
	requireRoot(f)
	s := newStore(f)
	csum := strings.Repeat("ab", 32)
	f.Add(nativeTar(f, "hello\n", csum))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = importNative(s, data, strings.Repeat("cd", 32))
	})
}
