package ostree

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// composeFixture is a bare repo with a base commit and two layer commits,
// all built with the ostree CLI.
type composeFixture struct {
	repo                 string
	base, layer1, layer2 string
}

func newComposeFixture(t *testing.T) *composeFixture {
	t.Helper()
	dir := t.TempDir()
	f := &composeFixture{repo: filepath.Join(dir, "repo")}
	run(t, "ostree", "--repo="+f.repo, "init", "--mode=bare")

	base := filepath.Join(dir, "base")
	writeFile(t, filepath.Join(base, "usr/bin/hello"), "hello base\n", 0o755)
	writeFile(t, filepath.Join(base, "usr/lib/os-release"), "ID=demo\n", 0o644)
	writeFile(t, filepath.Join(base, "usr/share/doc/base/README"), "base readme\n", 0o644)
	writeFile(t, filepath.Join(base, "usr/share/doc/base/NEWS"), "news\n", 0o644)
	writeFile(t, filepath.Join(base, "usr/etc/base.conf"), "a=1\n", 0o600)
	if err := os.Symlink("../lib/os-release", filepath.Join(base, "usr/bin/os-release")); err != nil {
		t.Fatal(err)
	}
	f.base = run(t, "ostree", "--repo="+f.repo, "commit", "-b", "base", "-s", "base", "--tree=dir="+base)

	l1 := filepath.Join(dir, "layer1")
	writeFile(t, filepath.Join(l1, "usr/bin/tool"), "tool 1\n", 0o755)
	writeFile(t, filepath.Join(l1, "usr/share/doc/base/README"), "layer readme\n", 0o644)
	writeFile(t, filepath.Join(l1, "opt/layer/secret/key"), "k\n", 0o600)
	if err := os.Chmod(filepath.Join(l1, "opt/layer/secret"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A layer's own copy of a shared directory has other metadata; the
	// base's must win.
	if err := os.Chmod(filepath.Join(l1, "usr/bin"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(l1, "usr/bin/tool"), 12, 34); err != nil {
		t.Fatal(err)
	}
	f.layer1 = run(t, "ostree", "--repo="+f.repo, "commit", "-b", "layer1", "--tree=dir="+l1)

	l2 := filepath.Join(dir, "layer2")
	writeFile(t, filepath.Join(l2, "usr/bin/tool"), "tool 2\n", 0o755)
	f.layer2 = run(t, "ostree", "--repo="+f.repo, "commit", "-b", "layer2", "--tree=dir="+l2)
	return f
}

func openRepo(t *testing.T, path string) *Repo {
	t.Helper()
	r, err := OpenRepo(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// diffLines is `ostree diff` as sorted "X /path" lines.
func diffLines(t *testing.T, repo, from, to string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(run(t, "ostree", "--repo="+repo, "diff", from, to), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			out = append(out, f[0]+" "+f[1])
		}
	}
	sort.Strings(out)
	return out
}

func TestCompose(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	f := newComposeFixture(t)
	r := openRepo(t, f.repo)

	overlay := t.TempDir() // mode 0700: must not become the root's mode
	writeFile(t, filepath.Join(overlay, "usr/share/rpm/rpmdb.sqlite"), "not really a database\n", 0o644)

	pkglist := [][5]string{{"tool", "0", "2", "1", "noarch"}, {"zed", "3", "1.0", "1.fc40", "x86_64"}}
	commit, err := r.Compose(ctx, ComposeSpec{
		Base:    f.base,
		Remove:  []string{"/usr/etc/base.conf", "/usr/share/doc/base/NEWS", "/usr/lib"},
		Layers:  []string{f.layer1, "layer2"},
		Overlay: overlay,
		Parent:  f.base,
		Subject: "layered",
		Metadata: map[string]any{
			"rpmostree.rpmdb.pkglist": pkglist,
			"rpmostree.clientlayer":   true,
		},
		Ref: "layered/ref",
	})
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, f.repo)

	want := []string{
		"A /opt",
		"A /opt/layer",
		"A /opt/layer/secret",
		"A /opt/layer/secret/key",
		"A /usr/bin/tool",
		"A /usr/share/rpm",
		"A /usr/share/rpm/rpmdb.sqlite",
		"D /usr/etc/base.conf",
		"D /usr/lib",
		"D /usr/share/doc/base/NEWS",
		"M /usr/share/doc/base/README",
	}
	if got := diffLines(t, f.repo, f.base, commit); !reflect.DeepEqual(got, want) {
		t.Errorf("ostree diff base composed =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := run(t, "ostree", "--repo="+f.repo, "cat", commit, "/usr/bin/tool"); got != "tool 2" {
		t.Errorf("tool = %q, want layer2's", got)
	}
	if got := run(t, "ostree", "--repo="+f.repo, "cat", commit, "/usr/share/doc/base/README"); got != "layer readme" {
		t.Errorf("README = %q, want layer1's", got)
	}
	if got := run(t, "ostree", "--repo="+f.repo, "cat", commit, "/usr/share/rpm/rpmdb.sqlite"); got != "not really a database" {
		t.Errorf("overlay file = %q", got)
	}
	// The dangling symlink stays: removing its target is the caller's call.
	if got := run(t, "ostree", "--repo="+f.repo, "ls", commit, "/usr/bin/os-release"); !strings.HasSuffix(got, "-> ../lib/os-release") {
		t.Errorf("symlink = %q", got)
	}

	// Existing directories keep the base's metadata; new ones bring theirs.
	modes := map[string]string{}
	for _, l := range strings.Split(run(t, "ostree", "--repo="+f.repo, "ls", "-R", commit), "\n") {
		fs := strings.Fields(l)
		modes[fs[len(fs)-1]] = fs[0] + " " + fs[1] + " " + fs[2]
	}
	for p, m := range map[string]string{
		"/":                     "d00755 0 0",
		"/usr/bin":              "d00755 0 0",
		"/opt/layer/secret":     "d00700 0 0",
		"/opt/layer/secret/key": "-00600 0 0",
		"/usr/bin/tool":         "-00755 0 0", // layer2's copy
		"/usr/share/rpm":        "d00755 0 0",
	} {
		if modes[p] != m {
			t.Errorf("%s: ostree ls says %q, want %q", p, modes[p], m)
		}
	}

	c, err := r.ReadCommit("layered/ref")
	if err != nil {
		t.Fatal(err)
	}
	if c.Checksum != commit || c.Parent != f.base || c.Subject != "layered" {
		t.Errorf("commit = %+v", c)
	}
	if !reflect.DeepEqual(c.Metadata["rpmostree.rpmdb.pkglist"], pkglist) || c.Metadata["rpmostree.clientlayer"] != true {
		t.Errorf("metadata = %#v", c.Metadata)
	}
	show := run(t, "ostree", "--repo="+f.repo, "show", "--print-metadata-key=rpmostree.rpmdb.pkglist", commit)
	if want := "[('tool', '0', '2', '1', 'noarch'), ('zed', '3', '1.0', '1.fc40', 'x86_64')]"; show != want {
		t.Errorf("ostree show pkglist = %s, want %s", show, want)
	}
	if got := run(t, "ostree", "--repo="+f.repo, "rev-parse", "base"); got != f.base {
		t.Errorf("base ref moved to %s", got)
	}

	// Composing is deterministic in the tree: same inputs, same root.
	again, err := r.Compose(ctx, ComposeSpec{Base: f.base, Remove: []string{"/usr/etc/base.conf", "/usr/share/doc/base/NEWS", "/usr/lib"},
		Layers: []string{f.layer1, f.layer2}, Overlay: overlay, Subject: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffLines(t, f.repo, commit, again); len(d) != 0 {
		t.Errorf("second compose differs: %v", d)
	}
	fsck(t, f.repo)
}

func TestComposeErrors(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	f := newComposeFixture(t)
	r := openRepo(t, f.repo)

	// A layer with a file where the base has a directory.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "usr/share/doc"), "a file\n", 0o644)
	clash := run(t, "ostree", "--repo="+f.repo, "commit", "--orphan", "--tree=dir="+dir)
	// And one with a directory where the base has a file.
	dir2 := t.TempDir()
	writeFile(t, filepath.Join(dir2, "usr/bin/hello/inside"), "x\n", 0o644)
	clash2 := run(t, "ostree", "--repo="+f.repo, "commit", "--orphan", "--tree=dir="+dir2)

	for name, tc := range map[string]struct {
		spec ComposeSpec
		want string
	}{
		"file over dir":       {ComposeSpec{Base: f.base, Layers: []string{clash}, Ref: "bad"}, "doc"},
		"dir over file":       {ComposeSpec{Base: f.base, Layers: []string{clash2}, Ref: "bad"}, "hello"},
		"missing remove":      {ComposeSpec{Base: f.base, Remove: []string{"/usr/nope"}, Ref: "bad"}, "/usr/nope"},
		"remove through file": {ComposeSpec{Base: f.base, Remove: []string{"/usr/bin/hello/x"}, Ref: "bad"}, "hello"},
		"missing base":        {ComposeSpec{Base: strings.Repeat("a", 64), Ref: "bad"}, "aaaa"},
		"missing layer":       {ComposeSpec{Base: f.base, Layers: []string{"no/such"}, Ref: "bad"}, "no/such"},
		"missing overlay":     {ComposeSpec{Base: f.base, Overlay: "/nonexistent/overlay", Ref: "bad"}, "/nonexistent/overlay"},
	} {
		if _, err := r.Compose(ctx, tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one mentioning %q", name, err, tc.want)
		}
	}
	if got, err := r.ResolveRev("bad", true); err != nil || got != "" {
		t.Errorf("a failed compose set its ref: %q, %v", got, err)
	}
	// The transaction is gone: the repo still works.
	if _, err := r.Compose(ctx, ComposeSpec{Base: f.base, Layers: []string{f.layer1}}); err != nil {
		t.Errorf("compose after failures: %v", err)
	}
	fsck(t, f.repo)

	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Compose(ctx2, ComposeSpec{Base: f.base, Layers: []string{f.layer1}}); err == nil {
		t.Error("compose with a cancelled context succeeded")
	}
}

// lsEntries parses `ostree ls -R -C` into TreeEntries keyed by path.
func lsEntries(t *testing.T, repo, commit, subpath string) map[string]TreeEntry {
	t.Helper()
	out := map[string]TreeEntry{}
	for _, l := range strings.Split(run(t, "ostree", "--repo="+repo, "ls", "-R", "-C", commit, subpath), "\n") {
		f := strings.Fields(l)
		mode, _ := strconv.ParseUint(f[0][1:], 8, 32)
		uid, _ := strconv.ParseUint(f[1], 10, 32)
		gid, _ := strconv.ParseUint(f[2], 10, 32)
		e := TreeEntry{Mode: uint32(mode), UID: uint32(uid), GID: uint32(gid), Checksum: f[4]}
		switch f[0][0] {
		case 'd':
			e.Type, e.Path = 'd', f[6]
		case '-':
			e.Type, e.Path = 'f', f[5]
		case 'l':
			e.Type, e.Path, e.Target = 'l', f[5], f[7]
		}
		out[e.Path] = e
	}
	return out
}

func TestListTree(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	f := newComposeFixture(t)
	r := openRepo(t, f.repo)
	layered, err := r.Compose(ctx, ComposeSpec{Base: f.base, Layers: []string{f.layer1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ commit, subpath string }{
		{f.base, ""}, {layered, "/"}, {layered, "/usr/share"}, {f.layer1, "opt/layer"},
	} {
		got, err := r.ListTree(ctx, tc.commit, tc.subpath)
		if err != nil {
			t.Fatal(err)
		}
		byPath := map[string]TreeEntry{}
		for _, e := range got {
			byPath[e.Path] = e
		}
		sp := tc.subpath
		if sp == "" {
			sp = "/"
		}
		if want := lsEntries(t, f.repo, tc.commit, sp); !reflect.DeepEqual(byPath, want) || len(got) != len(want) {
			t.Errorf("ListTree(%s, %q) =\n%+v\nwant (ostree ls -R -C)\n%+v", tc.commit[:8], tc.subpath, got, want)
		}
		if got[0].Path != filepath.Clean("/"+tc.subpath) || got[0].Type != 'd' {
			t.Errorf("first entry %+v, want the subpath itself", got[0])
		}
	}
	// Spot checks that do not depend on the CLI parser above.
	ents, err := r.ListTree(ctx, layered, "/usr/bin/tool")
	if err != nil || len(ents) != 1 || ents[0].Type != 'f' || ents[0].UID != 12 || ents[0].GID != 34 || ents[0].Mode != 0o755 {
		t.Errorf("ListTree of a file = %+v, %v", ents, err)
	}
	ents, err = r.ListTree(ctx, f.base, "/usr/bin/os-release")
	if err != nil || len(ents) != 1 || ents[0].Type != 'l' || ents[0].Target != "../lib/os-release" {
		t.Errorf("ListTree of a symlink = %+v, %v", ents, err)
	}
	for _, bad := range []string{"/nope", "/usr/bin/hello/x"} {
		if _, err := r.ListTree(ctx, f.base, bad); err == nil {
			t.Errorf("ListTree(%s) succeeded", bad)
		}
	}
}

func TestCheckoutSubpath(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	f := newComposeFixture(t)
	r := openRepo(t, f.repo)
	dest := filepath.Join(t.TempDir(), "doc")
	if err := r.CheckoutSubpath(ctx, f.base, "/usr/share/doc", dest); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dest, "base/README"))
	if err != nil || string(got) != "base readme\n" {
		t.Fatalf("README = %q, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dest, "base/README"))
	if err != nil {
		t.Fatal(err)
	}
	if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
		t.Errorf("checked-out file has %d links, want a private copy", n)
	}
	if ents, _ := os.ReadDir(dest); len(ents) != 1 {
		t.Errorf("dest holds %v, want only base/", ents)
	}
	if err := r.CheckoutSubpath(ctx, f.base, "/usr/share/doc", dest); err == nil {
		t.Error("checkout over an existing dir succeeded")
	}
	if err := r.CheckoutSubpath(ctx, f.base, "/usr/nope", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("checkout of a missing subpath succeeded")
	}
	fsck(t, f.repo)
}

// TestComposeDoesNotRehash: composing a big base with a tiny layer must cost
// a small fraction of committing the base from disk, since nothing of the
// base is read again.
func TestComposeDoesNotRehash(t *testing.T) {
	requireRoot(t)
	testStart := time.Now()
	ctx := context.Background()
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	run(t, "ostree", "--repo="+repo, "init", "--mode=bare")
	tree := filepath.Join(dir, "tree")
	const nFiles, perDir = 20000, 100
	for d := 0; d < nFiles/perDir; d++ {
		sub := filepath.Join(tree, "usr/lib", fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < perDir; i++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", i)), []byte(fmt.Sprintf("file %d/%d\n", d, i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	layerTree := filepath.Join(dir, "layer")
	writeFile(t, filepath.Join(layerTree, "usr/bin/tiny"), "tiny\n", 0o755)
	writeFile(t, filepath.Join(layerTree, "usr/lib/d050/f000"), "replaced\n", 0o644)
	layer := run(t, "ostree", "--repo="+repo, "commit", "--orphan", "--tree=dir="+layerTree)
	overlay := t.TempDir()
	writeFile(t, filepath.Join(overlay, "usr/share/rpm/rpmdb.sqlite"), "db\n", 0o644)

	r := openRepo(t, repo)
	t.Logf("fixture ready after %v", time.Since(testStart))
	start := time.Now()
	base, err := r.CommitDir(ctx, tree, "", "base", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	commitTime := time.Since(start)

	start = time.Now()
	composed, err := r.Compose(ctx, ComposeSpec{Base: base, Layers: []string{layer}, Overlay: overlay,
		Remove: []string{"/usr/lib/d001"}, Parent: base, Subject: "layered"})
	if err != nil {
		t.Fatal(err)
	}
	composeTime := time.Since(start)
	ratio := float64(composeTime) / float64(commitTime)
	t.Logf("commit of %d files from disk: %v; compose with a tiny layer: %v; ratio %.4f", nFiles, commitTime, composeTime, ratio)
	if ratio > 0.3 {
		t.Errorf("compose took %.2f of a full commit, want <= 0.3", ratio)
	}
	want := []string{"A /usr/bin", "A /usr/bin/tiny", "A /usr/share", "A /usr/share/rpm",
		"A /usr/share/rpm/rpmdb.sqlite", "D /usr/lib/d001", "M /usr/lib/d050/f000"}
	if got := diffLines(t, repo, base, composed); !reflect.DeepEqual(got, want) {
		t.Errorf("ostree diff = %v, want %v", got, want)
	}
	t.Logf("checks done after %v", time.Since(testStart))
	// No fsck here: re-hashing 20 000 objects would double the test's time,
	// and the other compose tests fsck what Compose writes.
}
