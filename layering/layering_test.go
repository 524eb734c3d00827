package layering

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/solv"
	"github.com/strata-os/strata/tests/fixture"
)

func TestTreePathRoundTrip(t *testing.T) {
	for rpm, tree := range map[string]string{
		"/etc/demo.conf":   "/usr/etc/demo.conf",
		"/etc":             "/usr/etc",
		"/bin/sh":          "/usr/bin/sh",
		"/lib64/ld.so":     "/usr/lib64/ld.so",
		"/usr/bin/x":       "/usr/bin/x",
		"/etcetera/x":      "/etcetera/x",
		"/binary":          "/binary",
		"usr/share/doc/a":  "/usr/share/doc/a",
		"/usr/lib/../lib/": "/usr/lib",
	} {
		if got := treePath(rpm); got != tree {
			t.Errorf("treePath(%q) = %q, want %q", rpm, got, tree)
		}
	}
	if got := rpmPath("/usr/etc/demo.conf"); got != "/etc/demo.conf" {
		t.Errorf("rpmPath = %q", got)
	}
}

func TestSameFile(t *testing.T) {
	f := ostree.TreeEntry{Type: 'f', Checksum: "a", Mode: 0o644}
	changed := f
	changed.Checksum = "b"
	mode := f
	mode.Mode = 0o755
	dir := ostree.TreeEntry{Type: 'd', Checksum: "x"}
	otherDir := ostree.TreeEntry{Type: 'd', Checksum: "y", Mode: 0o700}
	for _, tt := range []struct {
		a, b ostree.TreeEntry
		want bool
	}{
		{f, f, true}, {f, changed, false}, {f, mode, false}, {dir, otherDir, true}, {f, dir, false},
	} {
		if got := sameFile(tt.a, tt.b); got != tt.want {
			t.Errorf("sameFile(%+v, %+v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestStateChecksumIdentifiesRequest(t *testing.T) {
	a := stateChecksum("base", []string{"x", "y"}, nil, nil)
	if a != stateChecksum("base", []string{"x", "y"}, nil, nil) {
		t.Fatal("same request, different checksum")
	}
	for _, other := range []string{
		stateChecksum("base2", []string{"x", "y"}, nil, nil),
		stateChecksum("base", []string{"xy"}, nil, nil),
		stateChecksum("base", []string{"x"}, []string{"y"}, nil),
		stateChecksum("base", []string{"x"}, nil, []string{"y"}),
	} {
		if other == a {
			t.Error("different requests share a state checksum")
		}
	}
}

// TestScriptletsOfOrdersPhases reads real packages built with rpmbuild.
func TestScriptletsOfOrdersPhases(t *testing.T) {
	ctx := context.Background()
	pkgs, err := fixture.BuildPackages(ctx, t.TempDir(), []fixture.Package{
		{Name: "a", Version: "1", Install: "mkdir -p %{buildroot}/usr/share/a", Files: "/usr/share/a\n", Pre: "echo a-pre", Post: "echo a-post"},
		{Name: "b", Version: "1", Install: "mkdir -p %{buildroot}/usr/share/b", Files: "/usr/share/b\n", Pre: "echo b-pre", Posttrans: "echo b-posttrans"},
		{Name: "c", Version: "1", Install: "mkdir -p %{buildroot}/usr/share/c", Files: "/usr/share/c\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var in []fetched
	for _, name := range []string{"a-1-1.noarch.rpm", "b-1-1.noarch.rpm", "c-1-1.noarch.rpm"} {
		in = append(in, fetched{pkg: solv.Package{Package: nevra.Package{Name: name[:1], Version: "1", Release: "1", Arch: "noarch"}}, path: pkgs[name]})
	}
	scripts, err := scriptletsOf(in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range scripts {
		got = append(got, s.nevra+" "+s.phase+" "+filepath.Base(s.prog[0]))
	}
	want := []string{"a-1-1.noarch %pre sh", "b-1-1.noarch %pre sh", "a-1-1.noarch %post sh", "b-1-1.noarch %posttrans sh"}
	if len(got) != len(want) {
		t.Fatalf("scriptlets %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("scriptlet %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestAccountsReadFromBase: owner names resolve through the base tree's
// passwd and group files, /usr/lib first.
func TestAccountsReadFromBase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("requires root to commit owned files")
	}
	ctx := context.Background()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for path, content := range map[string]string{
		"usr/lib/passwd": "root:x:0:0::/root:/bin/sh\npolkitd:x:998:996::/:/sbin/nologin\n",
		"usr/lib/group":  "root:x:0:\npolkitd:x:996:\n",
		"usr/etc/passwd": "polkitd:x:1:1::/:/sbin/nologin\nlocal:x:1000:1000::/home/local:/bin/sh\n",
	} {
		if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repoDir := filepath.Join(dir, "repo")
	if out, err := exec.Command("ostree", "init", "--repo="+repoDir, "--mode=bare").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	repo, err := ostree.OpenRepo(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	base, err := repo.CommitDir(ctx, tree, "", "base", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := (&Composer{Repo: repo}).accounts(ctx, base, filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Users["polkitd"] != 998 || opts.Users["local"] != 1000 || opts.Groups["polkitd"] != 996 {
		t.Errorf("users %v groups %v", opts.Users, opts.Groups)
	}
}

// TestRemovableKeepsBaseFilesOnly: of a removed package's paths, only those
// the base has as files or links are taken out; directories stay (other
// packages may own files in them) and each path is named once.
func TestRemovableKeepsBaseFilesOnly(t *testing.T) {
	base := map[string]ostree.TreeEntry{
		"/usr/bin/x":      {Path: "/usr/bin/x", Type: 'f'},
		"/usr/lib/x.so":   {Path: "/usr/lib/x.so", Type: 'l'},
		"/usr/share/x":    {Path: "/usr/share/x", Type: 'd'},
		"/usr/bin/others": {Path: "/usr/bin/others", Type: 'f'},
	}
	got := removable(base, []string{"/usr/lib/x.so", "/usr/share/x", "/usr/bin/x", "/usr/bin/x", "/usr/share/x/missing"})
	want := []string{"/usr/bin/x", "/usr/lib/x.so"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("removable = %q, want %q", got, want)
	}
	if got := removable(base, nil); got != nil {
		t.Errorf("removable of nothing = %q, want nil", got)
	}
}
