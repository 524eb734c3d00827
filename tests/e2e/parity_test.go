package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// rpm-ostree parity (issue 13): the object store stays intact whatever reads
// a deployment's rpmdb, scriptlets may write anywhere in the new tree, and
// an unprivileged caller is refused before anything else.

// sqliteSideFiles are what sqlite keeps next to a database in WAL mode. They
// must never be in a commit: a reader of the deployment writes to -shm in
// place, and in a checkout that file is a hardlink into the object store.
var sqliteSideFiles = []string{"rpmdb.sqlite-shm", "rpmdb.sqlite-wal"}

// expectCleanRpmdb checks the rpmdb of a layered commit and its deployment
// checkout dir: the commit has no sqlite side files, rpm reads the database
// through a read-only mount (as /usr is on a booted host) and in place (as
// root, as any tool on the host may), and afterwards the repo still passes
// `ostree fsck`.
func (e *env) expectCleanRpmdb(checksum, dir string, want ...string) {
	e.t.Helper()
	listing := e.ostreeOut("ls", "--repo="+e.sysrootRepo(), checksum, "/usr/share/rpm")
	for _, f := range sqliteSideFiles {
		if strings.Contains(listing, f) {
			e.t.Errorf("commit %s carries usr/share/rpm/%s:\n%s", checksum, f, listing)
		}
	}
	dbpath := filepath.Join(dir, "usr/share/rpm")
	// A booted host's /usr is a read-only mount: sqlite must be able to
	// read the database there without creating anything beside it.
	ro := "mount --bind -o ro \"$1\" \"$1\" && rpm -q --dbpath \"$1\" -a"
	out, err := exec.CommandContext(e.ctx, "unshare", "-m", "--propagation", "private", "sh", "-c", ro, "sh", dbpath).CombinedOutput()
	if err != nil {
		e.t.Errorf("rpm -qa on a read-only mount of %s: %v\n%s", dbpath, err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			e.t.Errorf("rpm -qa on a read-only mount lacks %s:\n%s", w, out)
		}
	}
	// Then as root in place, as any tool on the host may.
	out, err = exec.CommandContext(e.ctx, "rpm", "-q", "--dbpath", dbpath, "-a").CombinedOutput()
	if err != nil {
		e.t.Fatalf("rpm -q --dbpath %s -a: %v\n%s", dbpath, err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			e.t.Errorf("rpm -qa in place lacks %s:\n%s", w, out)
		}
	}
	e.fsck()
}

// TestRpmQueryOnLayeredDeploymentKeepsRepoIntact: `rpm -q --dbpath` on a
// layered deployment must not write into the object store.
func TestRpmQueryOnLayeredDeploymentKeepsRepoIntact(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-extra")
	d := e.layeredStatus()[0]
	e.expectCleanRpmdb(d.Checksum, e.deploymentDir(0), "demo-extra-1.0-1.noarch", baseFiles1)
	// Reading twice: the first reader's leftovers must not hurt either.
	e.expectCleanRpmdb(d.Checksum, e.deploymentDir(0), "demo-extra-1.0-1.noarch")
}

// TestLayeringDropsBaseSqliteSideFiles: a base commit that carries the side
// files (as composes with an older rpm-ostree do) gets a layered commit
// without them, and nothing of the database is lost.
func TestLayeringDropsBaseSqliteSideFiles(t *testing.T) {
	e := newLayeringEnv(t)
	// Real side files: what rpm leaves after reading the 2.0 tree's database.
	db := t.TempDir()
	e.ostreeOut("checkout", "--repo="+e.host.RemoteRepo, "--subpath=/usr/share/rpm", "-U", fixture.StableRef, filepath.Join(db, "rpm"))
	if out, err := exec.CommandContext(e.ctx, "rpm", "-qa", "--dbpath", filepath.Join(db, "rpm")).CombinedOutput(); err != nil {
		t.Fatalf("rpm -qa on the 2.0 rpmdb: %v\n%s", err, out)
	}
	files := map[string]string{}
	for _, f := range sqliteSideFiles {
		b, err := os.ReadFile(filepath.Join(db, "rpm", f))
		if err != nil {
			t.Fatalf("rpm left no %s to commit (the test needs one): %v", f, err)
		}
		files["usr/share/rpm/"+f] = string(b)
	}
	if _, err := e.host.CommitVersion(e.ctx, fixture.StableRef, "2.1", files); err != nil {
		t.Fatal(err)
	}
	base := e.host.Versions["2.1"]
	listing := e.ostreeOut("ls", "--repo="+e.host.RemoteRepo, base, "/usr/share/rpm")
	for _, f := range sqliteSideFiles {
		if !strings.Contains(listing, f) {
			t.Fatalf("the 2.1 base lacks %s, so this test proves nothing:\n%s", f, listing)
		}
	}

	e.mustStrata("install", "demo-extra")
	e.mustStrata("upgrade")
	d := e.layeredStatus()[0]
	if d.BaseChecksum != base {
		t.Fatalf("upgrade deployed base %s, want 2.1 %s", d.BaseChecksum, base)
	}
	e.expectCleanRpmdb(d.Checksum, e.deploymentDir(0), "demo-extra-1.0-1.noarch", baseFiles2)
}

// ostreeCat is a file of a commit in the sysroot repo.
func (e *env) ostreeCat(checksum, path string) string {
	e.t.Helper()
	return e.ostreeOut("cat", "--repo="+e.sysrootRepo(), checksum, path)
}

// TestPostScriptletCreatesFilesUnderUsr: a %post may create files anywhere in
// the new tree, /usr included, and they are part of the layered commit.
func TestPostScriptletCreatesFilesUnderUsr(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-postusr")
	dir := e.expectLayered(layer{
		base: "1.0", requested: []string{"demo-postusr"}, rpms: []string{"demo-postusr-1.0-1.noarch"},
		files: []string{"usr/lib/demo-postusr/version", "usr/share/demo-postusr/marker", "usr/share/demo-postusr/sub/nested"},
	})
	d := e.layeredStatus()[0]
	for path, want := range map[string]string{"/usr/share/demo-postusr/marker": "made-by-post", "/usr/share/demo-postusr/sub/nested": "nested"} {
		if got := e.ostreeCat(d.Checksum, path); got != want {
			t.Errorf("%s in the layered commit = %q, want %q", path, got, want)
		}
		if b, err := os.ReadFile(filepath.Join(dir, path)); err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s in the deployment = %q, %v; want %q", path, b, err, want)
		}
	}
	// overlayfs's bookkeeping never reaches the commit.
	if ls := e.ostreeOut("ls", "-R", "-X", "--repo="+e.sysrootRepo(), d.Checksum, "/usr/share/demo-postusr"); strings.Contains(ls, "overlay") {
		t.Errorf("the commit carries overlayfs xattrs:\n%s", ls)
	}
	if _, err := os.Stat("/usr/share/demo-postusr"); !os.IsNotExist(err) {
		t.Errorf("the scriptlet wrote to the real host's /usr: %v", err)
	}
	e.fsck()
}

// TestPostScriptletChangingBaseFilesLeavesObjectStoreIntact: a %post that
// appends to a base file and deletes another changes the layered commit
// only; the base commit, its deployment and every object stay as they were.
func TestPostScriptletChangingBaseFilesLeavesObjectStoreIntact(t *testing.T) {
	e := newLayeringEnv(t)
	base := e.host.Versions["1.0"]
	const readme = "/usr/share/demo-tools/README"
	before := e.ostreeCat(base, readme)
	baseDir := e.deploymentDir(0)
	e.mustStrata("install", "demo-touchbase")
	d := e.layeredStatus()[0]
	if d.BaseChecksum != base {
		t.Fatalf("layered on %s, want the 1.0 base %s", d.BaseChecksum, base)
	}
	if got, want := e.ostreeCat(d.Checksum, readme), before+"\nchanged by demo-touchbase"; got != want {
		t.Errorf("%s in the layered commit = %q, want %q", readme, got, want)
	}
	if out, err := exec.CommandContext(e.ctx, "ostree", "ls", "--repo="+e.sysrootRepo(), d.Checksum, "/usr/bin/demo-tool").CombinedOutput(); err == nil {
		t.Errorf("the scriptlet deleted /usr/bin/demo-tool, yet the layered commit has it:\n%s", out)
	}
	if got := e.ostreeCat(base, readme); got != before {
		t.Errorf("%s in the base commit changed to %q", readme, got)
	}
	if b, err := os.ReadFile(filepath.Join(baseDir, readme)); err != nil || strings.TrimSpace(string(b)) != before {
		t.Errorf("%s in the base deployment = %q, %v; want %q", readme, b, err, before)
	}
	if _, err := os.Lstat(filepath.Join(baseDir, "usr/bin/demo-tool")); err != nil {
		t.Errorf("the base deployment lost /usr/bin/demo-tool: %v", err)
	}
	e.fsck()
}

// asNobody lets the unprivileged test user reach the private bus (socket and
// the directories above it) and returns a runner for commands as that user.
func (e *env) asNobody() func(name string, args ...string) (string, error) {
	e.t.Helper()
	socket := strings.TrimPrefix(e.bus.Address, "unix:path=")
	for dir := filepath.Dir(socket); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := os.Chmod(dir, st.Mode().Perm()|0o011); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := os.Chmod(socket, 0o666); err != nil {
		e.t.Fatal(err)
	}
	return func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(e.ctx, name, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS=" + e.bus.Address}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
}

// TestMutatingMethodsRefuseUnprivilegedCallersFirst: every mutating method of
// Sysroot and OS answers an unprivileged caller with AccessDenied before it
// validates a single argument, whatever the arguments, and changes nothing.
// The calls go over the real bus with gdbus, which prints the error's name.
func TestMutatingMethodsRefuseUnprivilegedCallersFirst(t *testing.T) {
	e := newEnv(t, envOptions{})
	run := e.asNobody()
	call := func(as func(string, ...string) (string, error), path, method string, args ...string) (string, error) {
		return as("gdbus", append([]string{"call", "--address", e.bus.Address, "--dest", busName,
			"--object-path", path, "--method", method}, args...)...)
	}
	asRoot := func(name string, args ...string) (string, error) {
		out, err := exec.CommandContext(e.ctx, name, args...).CombinedOutput()
		return string(out), err
	}
	const (
		osIface      = "org.projectatomic.rpmostree1.OS."
		sysrootIface = "org.projectatomic.rpmostree1.Sysroot."
	)
	// The user does reach the daemon: a read-only call works.
	if out, err := call(run, sysrootPath, sysrootIface+"GetOS", `""`); err != nil || !strings.Contains(out, osPath) {
		t.Fatalf("GetOS as uid %d: %v\n%s (the test cannot tell a refusal from an unreachable daemon)", nobody, err, out)
	}
	before := e.ostreeStatus()
	cases := []struct {
		name, path, method string
		args               []string
		rootAnswer         string // what root gets for the same call: proof that it is invalid
	}{
		{"UpdateDeployment without modifiers", osPath, osIface + "UpdateDeployment", []string{"{}", "{}"}, "nothing to change"},
		{"UpdateDeployment with an unsupported modifier", osPath, osIface + "UpdateDeployment", []string{`{"set-revision": <"x">, "install-packages": <["y"]>}`, "{}"}, "not supported"},
		{"UpdateDeployment with fds", osPath, osIface + "UpdateDeployment", []string{`{"install-local-packages": <@ah []>}`, "{}"}, "not supported"},
		{"UpdateDeployment set-refspec with uninstall", osPath, osIface + "UpdateDeployment", []string{`{"set-refspec": <"x">, "uninstall-packages": <["a"]>}`, "{}"}, "not supported"},
		{"PkgChange without packages", osPath, osIface + "PkgChange", []string{"{}", "@as []", "@as []"}, "nothing to change"},
		{"Rebase to an empty refspec", osPath, osIface + "Rebase", []string{"{}", `""`, "@as []"}, ""},
		{"Upgrade", osPath, osIface + "Upgrade", []string{`{"bogus-option": <1>}`}, ""},
		{"Deploy without a revision", osPath, osIface + "Deploy", []string{`""`, "{}"}, "needs a revision"},
		{"Rollback", osPath, osIface + "Rollback", []string{"{}"}, ""},
		{"Cleanup without elements", osPath, osIface + "Cleanup", []string{"@as []"}, "needs at least one element"},
		{"Cleanup of a bogus element", osPath, osIface + "Cleanup", []string{`["bogus"]`}, ""},
		{"KernelArgs without changes", osPath, osIface + "KernelArgs", []string{`""`, "@as []", "@as []", "@as []", "{}"}, ""},
		{"RefreshMd", osPath, osIface + "RefreshMd", []string{"{}"}, ""},
		{"DownloadUpdateRpmDiff", osPath, osIface + "DownloadUpdateRpmDiff", nil, ""},
		{"Reload", sysrootPath, sysrootIface + "Reload", nil, ""},
		{"ReloadConfig", sysrootPath, sysrootIface + "ReloadConfig", nil, ""},
	}
	for _, c := range cases {
		out, err := call(run, c.path, c.method, c.args...)
		if err == nil {
			t.Errorf("%s as uid %d succeeded:\n%s", c.name, nobody, out)
			continue
		}
		if !strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied") {
			t.Errorf("%s as uid %d: want AccessDenied before any validation, got:\n%s", c.name, nobody, out)
		}
		if after := e.ostreeStatus(); after != before {
			t.Fatalf("%s as uid %d changed the deployments:\nbefore:\n%s\nafter:\n%s", c.name, nobody, before, after)
		}
		e.daemonAlive()
	}
	// Root gets the validation errors the user did not: the arguments
	// really were invalid, and the gate lets root through.
	for _, c := range cases {
		if c.rootAnswer == "" {
			continue
		}
		out, err := call(asRoot, c.path, c.method, c.args...)
		if err == nil || !strings.Contains(out, c.rootAnswer) || strings.Contains(out, "AccessDenied") {
			t.Errorf("%s as root: want an error containing %q, got %v:\n%s", c.name, c.rootAnswer, err, out)
		}
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("deployments changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
