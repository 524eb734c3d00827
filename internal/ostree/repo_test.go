package ostree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestResolveRevAndReadCommit(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	v2 := remote.commit(t, "2.0")

	r, err := OpenRepo(remote.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Path() != remote.dir {
		t.Errorf("Path() = %q, want %q", r.Path(), remote.dir)
	}

	got, err := r.ResolveRev("demo/stable", false)
	if err != nil || got != v2 {
		t.Fatalf("ResolveRev(demo/stable) = %q, %v; want %q", got, err, v2)
	}
	if got, err := r.ResolveRev(v1, false); err != nil || got != v1 {
		t.Errorf("ResolveRev(checksum) = %q, %v; want %q", got, err, v1)
	}
	if got, err := r.ResolveRev("no/such/ref", true); err != nil || got != "" {
		t.Errorf("ResolveRev(missing, allowNoent) = %q, %v; want \"\", nil", got, err)
	}
	if _, err := r.ResolveRev("no/such/ref", false); err == nil || !strings.Contains(err.Error(), "no/such/ref") {
		t.Errorf("ResolveRev(missing) error = %v, want one naming the ref", err)
	}

	c, err := r.ReadCommit(v2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Checksum != v2 || c.Version != "2.0" || c.Parent != v1 || c.Subject != "demo 2.0" || c.Body != "" {
		t.Errorf("ReadCommit(v2) = %+v", c)
	}
	if c.Metadata["version"] != "2.0" {
		t.Errorf("Metadata[version] = %#v", c.Metadata["version"])
	}
	if d := time.Since(c.Timestamp); d < 0 || d > 10*time.Minute || c.Timestamp.Location() != time.UTC {
		t.Errorf("Timestamp = %v, want a recent UTC time", c.Timestamp)
	}
	// The CLI agrees on the timestamp (ostree show prints it in UTC).
	show := run(t, "ostree", "--repo="+remote.dir, "show", v2)
	if want := c.Timestamp.Format("2006-01-02 15:04:05"); !strings.Contains(show, want) {
		t.Errorf("ostree show has no %q:\n%s", want, show)
	}
	c1, err := r.ReadCommit("demo/stable^")
	if err != nil || c1.Checksum != v1 || c1.Version != "1.0" || c1.Parent != "" {
		t.Errorf("ReadCommit(demo/stable^) = %+v, %v", c1, err)
	}
	if _, err := r.ReadCommit(strings.Repeat("0", 64)); err == nil {
		t.Error("ReadCommit of a missing commit succeeded")
	}
	fsck(t, remote.dir)
}

func TestOpenRepoMissing(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "nothing")
	if _, err := OpenRepo(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("OpenRepo(%s) error = %v, want one naming the path", dir, err)
	}
}

func TestRefsAndRemotes(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	dir := newLocalRepo(t, "file://"+remote.dir)
	run(t, "ostree", "--repo="+dir, "pull", "demo", "demo/stable")
	run(t, "ostree", "--repo="+dir, "remote", "add", "--no-gpg-verify", "other", "https://example.invalid/repo")

	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	remotes, err := r.RemoteList()
	if err != nil || !reflect.DeepEqual(remotes, []string{"demo", "other"}) {
		t.Errorf("RemoteList() = %v, %v", remotes, err)
	}
	if url, err := r.RemoteURL("demo"); err != nil || url != "file://"+remote.dir {
		t.Errorf("RemoteURL(demo) = %q, %v", url, err)
	}
	if _, err := r.RemoteURL("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("RemoteURL(nope) error = %v", err)
	}
	// A remote added by another process shows up after ReloadConfig.
	run(t, "ostree", "--repo="+dir, "remote", "add", "--no-gpg-verify", "late", "https://example.invalid/late")
	if err := r.ReloadConfig(context.Background()); err != nil {
		t.Fatal(err)
	}
	if url, err := r.RemoteURL("late"); err != nil || url != "https://example.invalid/late" {
		t.Errorf("RemoteURL(late) after ReloadConfig = %q, %v", url, err)
	}

	if err := r.SetRef("", "strata/pinned", v1); err != nil {
		t.Fatal(err)
	}
	refs, err := r.ListRefs("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"demo:demo/stable": v1, "strata/pinned": v1}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("ListRefs(\"\") = %v, want %v", refs, want)
	}
	// The CLI sees the same refs.
	cli := strings.Fields(run(t, "ostree", "--repo="+dir, "refs"))
	sort.Strings(cli)
	if !reflect.DeepEqual(cli, []string{"demo:demo/stable", "strata/pinned"}) {
		t.Errorf("ostree refs = %v", cli)
	}
	if refs, err := r.ListRefs("strata"); err != nil || len(refs) != 1 || refs["strata/pinned"] != v1 {
		t.Errorf("ListRefs(strata) = %v, %v", refs, err)
	}

	if err := r.SetRef("demo", "demo/stable", ""); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRef("", "strata/pinned", ""); err != nil {
		t.Fatal(err)
	}
	if refs, err := r.ListRefs(""); err != nil || len(refs) != 0 {
		t.Errorf("ListRefs after deleting = %v, %v", refs, err)
	}
	if out := run(t, "ostree", "--repo="+dir, "refs"); out != "" {
		t.Errorf("ostree refs after deleting = %q", out)
	}
	fsck(t, dir)
}

func TestCheckoutAndCommitDir(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	dir := newLocalRepo(t, "file://"+remote.dir)
	run(t, "ostree", "--repo="+dir, "pull", "demo", "demo/stable")
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()

	dest := filepath.Join(t.TempDir(), "co")
	if err := r.Checkout(ctx, v1, dest); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dest, "usr/bin/hello"))
	if err != nil || string(data) != "#!/bin/sh\necho hello 1.0\n" {
		t.Fatalf("checked out hello = %q, %v", data, err)
	}
	// A bare repo on the same filesystem gives a hardlink checkout.
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dest, "usr/bin/hello"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Nlink < 2 {
		t.Errorf("usr/bin/hello has %d links, want a hardlink into the repo", st.Nlink)
	}
	if err := r.Checkout(ctx, v1, dest); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Checkout into an existing dir: error = %v", err)
	}

	md := map[string]any{
		"version":   "1.0-local",
		"flag":      true,
		"count":     uint32(7),
		"big":       uint64(1 << 40),
		"neg":       int32(-3),
		"neg64":     int64(-1 << 40),
		"packages":  []string{"a", "b"},
		"raw":       []byte{1, 2, 3},
		"plain-int": 5,
	}
	csum, err := r.CommitDir(ctx, dest, v1, "local build", md, "strata/local")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.ResolveRev("strata/local", false); err != nil || got != csum {
		t.Errorf("strata/local = %q, %v; want %q", got, err, csum)
	}
	c, err := r.ReadCommit(csum)
	if err != nil {
		t.Fatal(err)
	}
	md["plain-int"] = int64(5) // int is stored as x
	if c.Parent != v1 || c.Subject != "local build" || c.Version != "1.0-local" || !reflect.DeepEqual(c.Metadata, md) {
		t.Errorf("ReadCommit(new) = %+v\nwant metadata %#v", c, md)
	}
	// Committed as-is: same content as the original commit.
	if out := run(t, "ostree", "--repo="+dir, "diff", v1, csum); out != "" {
		t.Errorf("ostree diff v1 new = %q, want no change", out)
	}

	// Committing without a ref leaves refs alone.
	writeFile(t, filepath.Join(dest, "usr/share/extra"), "more\n", 0o644)
	orphan, err := r.CommitDir(ctx, dest, "", "orphan", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.ResolveRev("strata/local", false); got != csum {
		t.Errorf("strata/local moved to %q after an orphan commit", got)
	}
	if out := run(t, "ostree", "--repo="+dir, "diff", csum, orphan); !strings.Contains(out, "/usr/share/extra") {
		t.Errorf("ostree diff = %q, want the added file", out)
	}
	if _, err := r.CommitDir(ctx, dest, "", "bad", map[string]any{"x": 1.5}, ""); err == nil {
		t.Error("CommitDir with a float metadata value succeeded")
	}
	fsck(t, dir)
}

// TestCommitPartialMarks: commits are marked partial only while their
// transaction runs (so a process killed while libostree moves the objects into
// place leaves an incomplete commit, not a corrupt one), never afterwards.
func TestCommitPartialMarks(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "repo")
	run(t, "ostree", "init", "--mode=bare", "--repo="+dir)
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tree := t.TempDir()
	writeFile(t, filepath.Join(tree, "usr/bin/x"), "x\n", 0o755)
	writeFile(t, filepath.Join(tree, "usr/lib/y"), "y\n", 0o644)
	csum, err := r.CommitDir(context.Background(), tree, "", "s", nil, "x")
	if err != nil {
		t.Fatal(err)
	}
	marks := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "state", "*.commitpartial"))
		return m
	}
	if m := marks(); len(m) != 0 {
		t.Errorf("partial marks left after a complete transaction: %v", m)
	}
	// What a kill half-way through the object moves leaves: the commit
	// without one of its trees, still marked. fsck must accept that state.
	if err := r.markPartial(csum, true); err != nil {
		t.Fatal(err)
	}
	if m := marks(); len(m) != 1 || !strings.Contains(m[0], csum) {
		t.Fatalf("marks %v, want %s.commitpartial", m, csum)
	}
	trees, _ := filepath.Glob(filepath.Join(dir, "objects", "*", "*.dirtree"))
	if len(trees) == 0 {
		t.Fatal("no dirtree objects")
	}
	if err := os.Remove(trees[0]); err != nil {
		t.Fatal(err)
	}
	run(t, "ostree", "fsck", "--repo="+dir)
}

// TestBatchOneTransaction: inside Batch, a commit written earlier can be
// read and composed on before the batch commits; refs land only when it
// does; a failing batch leaves neither refs, commits nor partial marks.
func TestBatchOneTransaction(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	run(t, "ostree", "init", "--mode=bare", "--repo="+dir)
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	base, layer := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(base, "usr/bin/x"), "x\n", 0o755)
	writeFile(t, filepath.Join(layer, "usr/lib/y"), "y\n", 0o644)
	baseCsum, err := r.CommitDir(ctx, base, "", "base", nil, "base")
	if err != nil {
		t.Fatal(err)
	}
	marks := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "state", "*.commitpartial"))
		return m
	}

	var layerCsum, composed string
	err = r.Batch(ctx, "test batch", func() error {
		var err error
		if layerCsum, err = r.CommitDir(ctx, layer, "", "layer", nil, "layer"); err != nil {
			return err
		}
		// The layer is staged, not yet in the repo: still readable.
		if _, err := r.ReadCommit(layerCsum); err != nil {
			return fmt.Errorf("reading a commit of this batch: %w", err)
		}
		if refs, _ := r.ListRefs("layer"); len(refs) != 0 {
			return fmt.Errorf("ref visible before the batch committed: %v", refs)
		}
		composed, err = r.Compose(ctx, ComposeSpec{Base: baseCsum, Layers: []string{layerCsum}, Subject: "c", Ref: "composed"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"layer": layerCsum, "composed": composed} {
		if got, err := r.ResolveRev(ref, false); err != nil || got != want {
			t.Errorf("ref %s = %q (%v), want %s", ref, got, err, want)
		}
	}
	if m := marks(); len(m) != 0 {
		t.Errorf("partial marks left after the batch: %v", m)
	}
	entries, err := r.ListTree(ctx, composed, "/")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, e.Path)
	}
	if !slices.Contains(paths, "/usr/bin/x") || !slices.Contains(paths, "/usr/lib/y") {
		t.Errorf("composed tree %v lacks the base's or the layer's file", paths)
	}

	// A failing batch: nothing it wrote stays.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "usr/lib/z"), "z\n", 0o644)
	var lost string
	failure := errors.New("stage failed")
	err = r.Batch(ctx, "failing batch", func() error {
		var err error
		if lost, err = r.CommitDir(ctx, other, "", "lost", nil, "lost"); err != nil {
			return err
		}
		return failure
	})
	if !errors.Is(err, failure) {
		t.Fatalf("failing batch returned %v", err)
	}
	if got, _ := r.ResolveRev("lost", true); got != "" {
		t.Errorf("ref of an aborted batch points at %s", got)
	}
	if _, err := r.ReadCommit(lost); err == nil {
		t.Errorf("commit %s of an aborted batch is in the repo", lost)
	}
	if m := marks(); len(m) != 0 {
		t.Errorf("partial marks left after an aborted batch: %v", m)
	}
	run(t, "ostree", "fsck", "--repo="+dir)
}
