package ostree

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireRoot skips tests that create sysroots and bare repos: ownership
// and hardlink checkouts need real root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root: builds bare repos and sysroots with the ostree CLI")
	}
}

// run runs a command and fails the test on error, returning trimmed stdout.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// fsck fails the test when `ostree fsck` finds a problem in repo.
func fsck(t *testing.T, repo string) {
	t.Helper()
	run(t, "ostree", "fsck", "--repo="+repo)
}

// remoteFixture is an archive repo with ref demo/stable, built with the CLI.
type remoteFixture struct {
	dir  string // the archive repo
	tree string // the tree committed last
}

// newRemote creates the remote repo with version 1.0 on demo/stable and
// returns it and the commit checksum.
func newRemote(t *testing.T) (*remoteFixture, string) {
	t.Helper()
	base := t.TempDir()
	f := &remoteFixture{dir: filepath.Join(base, "remote"), tree: filepath.Join(base, "tree")}
	writeFile(t, filepath.Join(f.tree, "usr/bin/hello"), "#!/bin/sh\necho hello 1\n", 0o755)
	writeFile(t, filepath.Join(f.tree, "usr/etc/os-release"), "ID=demo\nVERSION_ID=1.0\n", 0o644)
	writeFile(t, filepath.Join(f.tree, "usr/lib/modules/6.0.0/vmlinuz"), "not really a kernel\n", 0o644)
	writeFile(t, filepath.Join(f.tree, "usr/lib/modules/6.0.0/initramfs.img"), "not really an initramfs\n", 0o644)
	run(t, "ostree", "--repo="+f.dir, "init", "--mode=archive")
	return f, f.commit(t, "1.0")
}

// commit commits the tree as version v on demo/stable, changing hello first
// so each version has new content.
func (f *remoteFixture) commit(t *testing.T, v string) string {
	t.Helper()
	writeFile(t, filepath.Join(f.tree, "usr/bin/hello"), "#!/bin/sh\necho hello "+v+"\n", 0o755)
	return run(t, "ostree", "--repo="+f.dir, "commit", "-b", "demo/stable",
		"--add-metadata-string=version="+v, "-s", "demo "+v, "--tree=dir="+f.tree)
}

// serve serves the remote over HTTP on 127.0.0.1 and returns its URL.
func (f *remoteFixture) serve(t *testing.T) string {
	t.Helper()
	return serveHandler(t, http.FileServer(http.Dir(f.dir)))
}

func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// newLocalRepo creates an empty bare repo with remote "demo" at url.
func newLocalRepo(t *testing.T, url string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	run(t, "ostree", "--repo="+dir, "init", "--mode=bare")
	run(t, "ostree", "--repo="+dir, "remote", "add", "--no-gpg-verify", "demo", url)
	return dir
}

// newSysroot builds a sysroot with stateroot demo and one deployment of
// demo:demo/stable (version 1.0) from remote.
func newSysroot(t *testing.T, remote *remoteFixture) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sysroot")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "ostree/repo")
	run(t, "ostree", "admin", "init-fs", dir)
	run(t, "ostree", "admin", "os-init", "demo", "--sysroot="+dir)
	run(t, "ostree", "--repo="+repo, "remote", "add", "--no-gpg-verify", "demo", "file://"+remote.dir)
	run(t, "ostree", "--repo="+repo, "pull", "demo", "demo/stable")
	run(t, "ostree", "admin", "deploy", "--sysroot="+dir, "--os=demo", "demo:demo/stable")
	t.Cleanup(func() {
		fsck(t, repo)
		// libostree marks deployment roots immutable; lift that so the
		// temp dir can be removed.
		deps, _ := filepath.Glob(filepath.Join(dir, "ostree/deploy/*/deploy/*.[0-9]*"))
		for _, d := range deps {
			if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
				run(t, "chattr", "-i", d)
			}
		}
	})
	return dir
}
