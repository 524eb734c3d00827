package solv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
	"golang.org/x/sys/unix"
)

// world is a repo and an installed root built once for all tests.
type world struct {
	repoDir  string // rpm-md repo
	root     string // tree whose usr/share/rpm lists the installed set
	localRPM string // an .rpm outside the repo
	rpms     map[string]string
}

var shared *world

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "solv-test-")
	if err != nil {
		panic(err)
	}
	w, err := buildWorld(context.Background(), dir)
	if err != nil {
		os.RemoveAll(dir)
		println(err.Error())
		os.Exit(1)
	}
	shared = w
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func file(path string) (install, files string) {
	return "mkdir -p %{buildroot}" + filepath.Dir(path) + "\necho x > %{buildroot}" + path + "\n", path + "\n"
}

func pkg(name, version string, path string, requires, provides []string) fixture.Package {
	install, files := file(path)
	return fixture.Package{Name: name, Version: version, Install: install, Files: files, Requires: requires, Provides: provides}
}

func buildWorld(ctx context.Context, dir string) (*world, error) {
	pkgs := []fixture.Package{
		pkg("foo", "1.0", "/usr/bin/foo", []string{"libbar"}, []string{"pkgconfig(foo) = 1.0"}),
		pkg("libbar", "1.0", "/usr/lib/libbar.so.1", nil, nil),
		pkg("tool", "1.0", "/usr/bin/x", nil, nil),
		pkg("datapkg", "1.0", "/usr/share/datapkg/data", nil, nil),
		pkg("old", "1.0", "/usr/share/old/v1", nil, nil),
		pkg("old", "2.0", "/usr/share/old/v2", nil, nil),
		pkg("newthing", "1.0", "/usr/share/newthing", []string{"old >= 2.0"}, nil),
		pkg("broken", "1.0", "/usr/share/broken", []string{"libmissing"}, nil),
		pkg("base-app", "1.0", "/usr/bin/base-app", []string{"base-lib"}, nil),
		pkg("base-lib", "1.0", "/usr/lib/base-lib", nil, nil),
		pkg("layered", "1.0", "/usr/bin/layered", []string{"layered-dep"}, nil),
		pkg("layered-dep", "1.0", "/usr/lib/layered-dep", nil, nil),
		pkg("localpkg", "1.0", "/usr/bin/localpkg", []string{"libbar"}, nil),
	}
	rpms, err := fixture.BuildPackages(ctx, filepath.Join(dir, "build"), pkgs)
	if err != nil {
		return nil, err
	}
	arm, err := fixture.BuildArchPackage(ctx, filepath.Join(dir, "build"), pkg("armonly", "1.0", "/usr/bin/armonly", nil, nil), "aarch64")
	if err != nil {
		return nil, err
	}
	w := &world{repoDir: filepath.Join(dir, "repo"), root: filepath.Join(dir, "root"), rpms: rpms}
	if err := os.MkdirAll(w.repoDir, 0o755); err != nil {
		return nil, err
	}
	for name, path := range rpms {
		dst := filepath.Join(w.repoDir, name)
		if strings.HasPrefix(name, "localpkg-") {
			dst = filepath.Join(dir, name)
			w.localRPM = dst
		}
		if err := os.Link(path, dst); err != nil {
			return nil, err
		}
	}
	if err := os.Link(arm, filepath.Join(w.repoDir, filepath.Base(arm))); err != nil {
		return nil, err
	}
	if err := fixture.CreateRepo(ctx, w.repoDir); err != nil {
		return nil, err
	}
	var installed []string
	for _, n := range []string{"base-app-1.0-1", "base-lib-1.0-1", "old-1.0-1", "layered-1.0-1", "layered-dep-1.0-1"} {
		installed = append(installed, rpms[n+".noarch.rpm"])
	}
	if err := fixture.InstallRPMDB(ctx, w.root, installed...); err != nil {
		return nil, err
	}
	return w, nil
}

// repoFile finds primary or filelists in the repo's repodata, whatever
// compression createrepo_c chose.
func repoFile(t *testing.T, dir, kind string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "repodata", "*-"+kind+".xml*"))
	if err != nil || len(m) != 1 {
		t.Fatalf("finding %s in %s: %v %v", kind, dir, m, err)
	}
	return m[0]
}

// newPool loads the shared installed root and repo.
func newPool(t *testing.T) *Pool {
	t.Helper()
	p, err := NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.LoadInstalled(shared.root); err != nil {
		t.Fatal(err)
	}
	if err := p.AddRepoMD("test", repoFile(t, shared.repoDir, "primary"), repoFile(t, shared.repoDir, "filelists"), 99); err != nil {
		t.Fatal(err)
	}
	return p
}

func nevras(pkgs []Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.NEVRA())
	}
	slices.Sort(out)
	return out
}

func TestLoadInstalledReadsRPMDB(t *testing.T) {
	out, err := exec.Command("rpm", "-qa", "--dbpath", filepath.Join(shared.root, "usr/share/rpm")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "base-app-1.0-1.noarch") {
		t.Fatalf("fixture rpmdb lacks base-app: %s", out)
	}
	p := newPool(t)
	got := nevras(p.Installed())
	want := []string{"base-app-1.0-1.noarch", "base-lib-1.0-1.noarch", "layered-1.0-1.noarch", "layered-dep-1.0-1.noarch", "old-1.0-1.noarch"}
	if !slices.Equal(got, want) {
		t.Fatalf("Installed() = %v, want %v", got, want)
	}
	for _, pk := range p.Installed() {
		if pk.RepoID != "@System" {
			t.Errorf("%s: RepoID %q, want @System", pk.NEVRA(), pk.RepoID)
		}
	}
}

// A partial checkout holding only usr/share/rpm is enough, and a root with a
// /var/lib/rpm of its own must still be read from /usr/share/rpm.
func TestLoadInstalledPartialRootWithVarLibRPM(t *testing.T) {
	root := t.TempDir()
	if err := exec.Command("cp", "-a", filepath.Join(shared.root, "usr"), root).Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.LoadInstalled(root); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Installed()); n != 5 {
		t.Fatalf("Installed() has %d packages, want 5", n)
	}
}

func TestLoadInstalledMissingRPMDB(t *testing.T) {
	p, err := NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.LoadInstalled(t.TempDir()); err == nil {
		t.Fatal("LoadInstalled of an empty dir succeeded")
	}
}

func TestInstall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request string
		want    []string
	}{
		{"by name pulls dependency", "foo", []string{"foo-1.0-1.noarch", "libbar-1.0-1.noarch"}},
		{"by provide", "pkgconfig(foo)", []string{"foo-1.0-1.noarch", "libbar-1.0-1.noarch"}},
		{"by provide with version", "pkgconfig(foo) >= 1.0", []string{"foo-1.0-1.noarch", "libbar-1.0-1.noarch"}},
		{"by file path in primary", "/usr/bin/x", []string{"tool-1.0-1.noarch"}},
		{"by file path in filelists only", "/usr/share/datapkg/data", []string{"datapkg-1.0-1.noarch"}},
		{"by name.arch", "tool.noarch", []string{"tool-1.0-1.noarch"}},
		{"by nevra", "tool-1.0-1.noarch", []string{"tool-1.0-1.noarch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t)
			tr, err := p.Solve(Request{Install: []string{tc.request}})
			if err != nil {
				t.Fatal(err)
			}
			if got := nevras(tr.Install); !slices.Equal(got, tc.want) {
				t.Fatalf("Install = %v, want %v", got, tc.want)
			}
			if len(tr.Erase) != 0 || len(tr.Upgrade) != 0 {
				t.Fatalf("unexpected erase/upgrade: %+v", tr)
			}
			for _, pk := range tr.Install {
				if pk.RepoID != "test" || !strings.HasSuffix(pk.Location, pk.NEVRA()+".rpm") ||
					pk.ChecksumType != "sha256" || len(pk.Checksum) != 64 || pk.DownloadSize <= 0 {
					t.Errorf("incomplete package record %+v", pk)
				}
			}
		})
	}
}

func TestInstallUpgradesInstalledDependency(t *testing.T) {
	p := newPool(t)
	tr, err := p.Solve(Request{Install: []string{"newthing"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := nevras(tr.Install); !slices.Equal(got, []string{"newthing-1.0-1.noarch"}) {
		t.Fatalf("Install = %v", got)
	}
	if len(tr.Upgrade) != 1 || tr.Upgrade[0].Old.NEVRA() != "old-1.0-1.noarch" || tr.Upgrade[0].New.NEVRA() != "old-2.0-1.noarch" {
		t.Fatalf("Upgrade = %+v", tr.Upgrade)
	}
	if tr.Upgrade[0].Old.RepoID != "@System" || tr.Upgrade[0].New.RepoID != "test" {
		t.Fatalf("Upgrade repos = %q -> %q", tr.Upgrade[0].Old.RepoID, tr.Upgrade[0].New.RepoID)
	}
}

func TestInstallAlreadyInstalled(t *testing.T) {
	p := newPool(t)
	_, err := p.Solve(Request{Install: []string{"foo", "base-app", "/usr/lib/base-lib"}})
	var already *AlreadyInstalledError
	if !errors.As(err, &already) {
		t.Fatalf("err = %v, want AlreadyInstalledError", err)
	}
	if !slices.Equal(already.Names, []string{"base-app", "/usr/lib/base-lib"}) {
		t.Fatalf("Names = %v", already.Names)
	}
}

func TestInstallUnknown(t *testing.T) {
	p := newPool(t)
	_, err := p.Solve(Request{Install: []string{"foo", "nosuchpkg"}})
	var nf *NotFoundError
	if !errors.As(err, &nf) || err.Error() != `Packages not found: nosuchpkg` {
		t.Fatalf("err = %v", err)
	}
}

func TestInstallMissingDependency(t *testing.T) {
	p := newPool(t)
	_, err := p.Solve(Request{Install: []string{"broken"}})
	var pe *ProblemError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want ProblemError", err)
	}
	if len(pe.Problems) != 1 || !strings.Contains(err.Error(), "nothing provides libmissing needed by broken-1.0-1.noarch") {
		t.Fatalf("err = %v", err)
	}
}

func TestInstallForeignArch(t *testing.T) {
	p := newPool(t)
	_, err := p.Solve(Request{Install: []string{"armonly"}})
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("aarch64 package chosen on x86_64: err = %v", err)
	}
	// The same repo on an aarch64 host offers it.
	arm, err := NewPool("aarch64")
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	if err := arm.AddRepoMD("test", repoFile(t, shared.repoDir, "primary"), repoFile(t, shared.repoDir, "filelists"), 99); err != nil {
		t.Fatal(err)
	}
	tr, err := arm.Solve(Request{Install: []string{"armonly"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := nevras(tr.Install); !slices.Equal(got, []string{"armonly-1.0-1.aarch64"}) {
		t.Fatalf("Install = %v", got)
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cleanDeps bool
		want      []string
	}{
		{"alone", false, []string{"layered-1.0-1.noarch"}},
		{"with clean deps", true, []string{"layered-1.0-1.noarch", "layered-dep-1.0-1.noarch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t)
			tr, err := p.Solve(Request{Remove: []string{"layered"}, AllowUninstallDeps: tc.cleanDeps})
			if err != nil {
				t.Fatal(err)
			}
			if got := nevras(tr.Erase); !slices.Equal(got, tc.want) {
				t.Fatalf("Erase = %v, want %v", got, tc.want)
			}
			if len(tr.Install) != 0 || len(tr.Upgrade) != 0 {
				t.Fatalf("unexpected install/upgrade: %+v", tr)
			}
		})
	}
}

func TestRemoveNotInstalled(t *testing.T) {
	p := newPool(t)
	_, err := p.Solve(Request{Remove: []string{"foo"}})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !nf.Installed {
		t.Fatalf("err = %v", err)
	}
}

func TestInstallLocalRPM(t *testing.T) {
	p := newPool(t)
	local, err := p.AddRPMFile(shared.localRPM)
	if err != nil {
		t.Fatal(err)
	}
	if local.NEVRA() != "localpkg-1.0-1.noarch" || local.RepoID != "@commandline" || local.LocalPath != shared.localRPM {
		t.Fatalf("AddRPMFile = %+v", local)
	}
	tr, err := p.Solve(Request{InstallLocal: []Package{local}})
	if err != nil {
		t.Fatal(err)
	}
	if got := nevras(tr.Install); !slices.Equal(got, []string{"libbar-1.0-1.noarch", "localpkg-1.0-1.noarch"}) {
		t.Fatalf("Install = %v", got)
	}
	for _, pk := range tr.Install {
		if pk.Name == "localpkg" && pk.LocalPath != shared.localRPM {
			t.Fatalf("local package lost its path: %+v", pk)
		}
	}
}

func TestAddRPMFileNotAnRPM(t *testing.T) {
	p := newPool(t)
	bad := filepath.Join(t.TempDir(), "bad.rpm")
	if err := os.WriteFile(bad, []byte("not an rpm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddRPMFile(bad); err == nil {
		t.Fatal("AddRPMFile accepted garbage")
	}
}

func TestWhatProvides(t *testing.T) {
	p := newPool(t)
	for dep, want := range map[string][]string{
		"pkgconfig(foo)": {"foo-1.0-1.noarch"},
		"/usr/bin/x":     {"tool-1.0-1.noarch"},
		"base-lib":       {"base-lib-1.0-1.noarch", "base-lib-1.0-1.noarch"},
		"old >= 2":       {"old-2.0-1.noarch"},
		"nothing-at-all": nil,
	} {
		if got := nevras(p.WhatProvides(dep)); !slices.Equal(got, want) {
			t.Errorf("WhatProvides(%q) = %v, want %v", dep, got, want)
		}
	}
}

func TestRepoMDCache(t *testing.T) {
	primary, filelists := repoFile(t, shared.repoDir, "primary"), repoFile(t, shared.repoDir, "filelists")
	cache := filepath.Join(t.TempDir(), "test.solv")
	solve := func() ([]string, time.Duration) {
		t.Helper()
		p, err := NewPool("x86_64")
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		start := time.Now()
		if err := p.AddRepoMDCached("test", primary, filelists, cache, 99); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		tr, err := p.Solve(Request{Install: []string{"/usr/share/datapkg/data", "pkgconfig(foo)"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, pk := range tr.Install {
			got = append(got, pk.NEVRA()+" "+pk.Location+" "+pk.Checksum)
		}
		slices.Sort(got)
		return got, took
	}
	first, _ := solve()
	st, err := os.Stat(cache)
	if err != nil {
		t.Fatalf("no cache written: %v", err)
	}
	second, _ := solve()
	if !slices.Equal(first, second) {
		t.Fatalf("cached load differs:\n%v\n%v", first, second)
	}
	st2, err := os.Stat(cache)
	if err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("cache rewritten although the xml did not change")
	}
	// A cache that does not match the xml is not used: a cache claiming
	// other contents would otherwise hide the repo's packages.
	if err := os.WriteFile(cache, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, _ := solve()
	if !slices.Equal(first, third) {
		t.Fatalf("load with corrupt cache differs: %v", third)
	}
	// Touching the xml invalidates the cache.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(primary, later, later); err != nil {
		t.Fatal(err)
	}
	solve()
	st3, err := os.Stat(cache)
	if err != nil || st3.ModTime().Equal(st.ModTime()) {
		t.Fatal("cache not rewritten after the xml changed")
	}
}

// composedRoot copies the shared root's rpmdb the way a composed tree ships
// it: the database alone, without rpm's lock and sqlite side files.
func composedRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := exec.Command("cp", "-a", filepath.Join(shared.root, "usr"), root).Run(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".rpm.lock", "rpmdb.sqlite-shm", "rpmdb.sqlite-wal"} {
		if err := os.Remove(filepath.Join(root, "usr/share/rpm", f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return root
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Reading the installed set must not leave sqlite side files in a tree that
// may be committed next.
func TestLoadInstalledLeavesTreeUntouched(t *testing.T) {
	root := composedRoot(t)
	before := listDir(t, filepath.Join(root, "usr/share/rpm"))
	p, err := NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.LoadInstalled(root); err != nil {
		t.Fatal(err)
	}
	if after := listDir(t, filepath.Join(root, "usr/share/rpm")); !slices.Equal(before, after) {
		t.Fatalf("rpmdb directory changed from %v to %v", before, after)
	}
}

// A deployed tree's /usr is read-only; its rpmdb must still be readable.
func TestLoadInstalledReadOnlyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("requires root for a read-only bind mount")
	}
	root := composedRoot(t)
	errc := make(chan error, 1)
	var n int
	// The mount lives in a private mount namespace of one OS thread, which
	// is never unlocked and so dies with this goroutine.
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			errc <- err
			return
		}
		if err := os.WriteFile(filepath.Join(root, "probe"), nil, 0o644); err == nil {
			errc <- errors.New("bind mount is writable")
			return
		}
		p, err := NewPool("x86_64")
		if err != nil {
			errc <- err
			return
		}
		defer p.Close()
		err = p.LoadInstalled(root)
		n = len(p.Installed())
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("read %d installed packages from a read-only root, want 5", n)
	}
}
