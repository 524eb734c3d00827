package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Package layering scenarios (issue 3), written against rpm-ostree's CLI
// behaviour: each installs from the fixture's demo-pkgs repo and checks the
// result four ways: strata's JSON, the rpmdb inside the new tree, the files
// of the new deployment, and ostree's own view of the sysroot.

// The base trees' packages, as rpm -qa names them.
const (
	baseFiles1 = "demo-base-files-1.0-1.noarch"
	baseFiles2 = "demo-base-files-2.0-1.noarch"
)

// layeredDeployment is the part of a `strata status --json` deployment that
// the layering scenarios read.
type layeredDeployment struct {
	ID                     string   `json:"id"`
	Serial                 int      `json:"serial"`
	Checksum               string   `json:"checksum"`
	BaseChecksum           string   `json:"base-checksum"`
	Version                string   `json:"version"`
	Origin                 string   `json:"origin"`
	Packages               []string `json:"packages"`
	RequestedPackages      []string `json:"requested-packages"`
	RequestedLocalPackages []string `json:"requested-local-packages"`
}

func (e *env) layeredStatus() []layeredDeployment {
	e.t.Helper()
	out := e.mustStrata("status", "--json")
	var s struct {
		Deployments []layeredDeployment `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if len(s.Deployments) == 0 {
		e.t.Fatalf("status --json lists no deployments:\n%s", out)
	}
	return s.Deployments
}

// deploymentDir is the checkout of the index-th deployment in boot order.
func (e *env) deploymentDir(index int) string {
	e.t.Helper()
	dir, err := e.host.DeploymentDir(index)
	if err != nil {
		e.t.Fatal(err)
	}
	return dir
}

func (e *env) sysrootRepo() string { return filepath.Join(e.host.Sysroot, "ostree", "repo") }

// rpmQA lists the packages in a deployment's rpmdb (name-version-release.arch,
// sorted) with the real rpm. It reads a copy: opening the sqlite database in
// place could leave -shm/-wal files in a checkout whose files are hardlinks
// into the OSTree repo.
func (e *env) rpmQA(deployDir string) []string {
	e.t.Helper()
	src := filepath.Join(deployDir, "usr", "share", "rpm")
	dbCopy := e.t.TempDir()
	if out, err := exec.CommandContext(e.ctx, "cp", "-a", src+"/.", dbCopy).CombinedOutput(); err != nil {
		e.t.Fatalf("copying rpmdb of %s: %v\n%s", deployDir, err, out)
	}
	out, err := exec.CommandContext(e.ctx, "rpm", "-qa", "--dbpath="+dbCopy, "--queryformat", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n").CombinedOutput()
	if err != nil {
		e.t.Fatalf("rpm -qa --dbpath %s: %v\n%s", src, err, out)
	}
	pkgs := strings.Fields(string(out))
	sort.Strings(pkgs)
	return pkgs
}

// expectRPMs checks that the deployment's rpmdb lists every one of want and
// none of absent (each a full NEVRA or a bare name).
func (e *env) expectRPMs(deployDir string, want, absent []string) {
	e.t.Helper()
	got := e.rpmQA(deployDir)
	have := map[string]bool{}
	for _, p := range got {
		have[p] = true
	}
	for _, w := range want {
		if !have[w] {
			e.t.Errorf("rpm -qa in %s lacks %s: %v", filepath.Base(deployDir), w, got)
		}
	}
	for _, a := range absent {
		for _, p := range got {
			if p == a || strings.HasPrefix(p, a+"-") && isNEVRATail(p[len(a)+1:]) {
				e.t.Errorf("rpm -qa in %s lists %s, which must be gone: %v", filepath.Base(deployDir), p, got)
			}
		}
	}
}

// isNEVRATail reports whether s looks like "version-release.arch", i.e. the
// rest of a package's NEVRA after its name (so "demo-lib" does not match
// "demo-libfoo-…").
func isNEVRATail(s string) bool {
	return len(s) > 0 && s[0] >= '0' && s[0] <= '9' && strings.Count(s, "-") == 1
}

// layer describes the layered default deployment a scenario expects.
type layer struct {
	base      string   // version of the base commit, e.g. "1.0"
	requested []string // requested-packages, in any order
	local     []string // requested-local-packages (NEVRAs)
	rpms      []string // NEVRAs that rpm -qa must list besides the base's
	files     []string // paths that must exist in the deployment's checkout
}

// expectLayered checks the default deployment against want and returns its
// checkout directory.
func (e *env) expectLayered(want layer) string {
	e.t.Helper()
	d := e.layeredStatus()[0]
	baseSum := e.host.Versions[want.base]
	if d.BaseChecksum != baseSum {
		e.t.Errorf("base-checksum = %q, want v%s %s", d.BaseChecksum, want.base, baseSum)
	}
	if d.Checksum == "" || d.Checksum == d.BaseChecksum {
		e.t.Errorf("checksum %q is not a new layered commit on base %s", d.Checksum, d.BaseChecksum)
	}
	if d.Version != want.base {
		e.t.Errorf("version = %q, want the base's %q", d.Version, want.base)
	}
	if !sameSet(d.RequestedPackages, want.requested) {
		e.t.Errorf("requested-packages = %q, want %q", d.RequestedPackages, want.requested)
	}
	if !sameSet(d.Packages, want.requested) {
		e.t.Errorf("packages = %q, want %q", d.Packages, want.requested)
	}
	if !sameSet(d.RequestedLocalPackages, want.local) {
		e.t.Errorf("requested-local-packages = %q, want %q", d.RequestedLocalPackages, want.local)
	}
	if !strings.Contains(e.ostreeStatus(), d.Checksum+"."+strconv.Itoa(d.Serial)) {
		e.t.Errorf("ostree admin status does not show %s.%d:\n%s", d.Checksum, d.Serial, e.ostreeStatus())
	}
	// Tools tell a layered commit from a base one by this key (see the layering spec).
	if got := e.commitMeta(d.Checksum, "rpmostree.clientlayer"); got != "true" {
		e.t.Errorf("layered commit's rpmostree.clientlayer = %q, want true", got)
	}
	if parent := e.ostreeOut("rev-parse", "--repo="+e.sysrootRepo(), d.Checksum+"^"); parent != baseSum {
		e.t.Errorf("layered commit's parent = %s, want the base %s", parent, baseSum)
	}
	dir := e.deploymentDir(0)
	if !strings.HasPrefix(filepath.Base(dir), d.Checksum+".") {
		e.t.Fatalf("default deployment dir %s is not of checksum %s", dir, d.Checksum)
	}
	baseRPM := map[string]string{"1.0": baseFiles1, "2.0": baseFiles2, "10.0": "demo-base-files-10.0-1.noarch"}[want.base]
	e.expectRPMs(dir, append([]string{baseRPM, "demo-kernel-6.1.0-1.noarch", "demo-tools-1.0-1.noarch"}, want.rpms...), nil)
	for _, f := range want.files {
		if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
			e.t.Errorf("new deployment lacks %s: %v", f, err)
		}
	}
	return dir
}

func sameSet(got, want []string) bool {
	g := append([]string(nil), got...)
	w := append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	return strings.Join(g, "\x00") == strings.Join(w, "\x00")
}

// ostreeOut runs the ostree CLI and returns its trimmed output.
func (e *env) ostreeOut(args ...string) string {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, "ostree", args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("ostree %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commitMeta is one metadata key of a commit in the sysroot repo, as ostree
// prints it ("" when absent).
func (e *env) commitMeta(checksum, key string) string {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, "ostree", "show", "--repo="+e.sysrootRepo(), "--print-metadata-key="+key, checksum).CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.Trim(strings.TrimSpace(string(out)), "'")
}

// pkgRefs maps each imported package's ref (rpmostree/pkg/…) to its commit.
func (e *env) pkgRefs() map[string]string {
	e.t.Helper()
	refs := map[string]string{}
	for _, ref := range strings.Fields(e.ostreeOut("refs", "--repo="+e.sysrootRepo())) {
		if strings.HasPrefix(ref, "rpmostree/pkg/") {
			refs[ref] = e.ostreeOut("rev-parse", "--repo="+e.sysrootRepo(), ref)
		}
	}
	return refs
}

// strataIn runs the CLI with dir as its working directory, for relative paths.
func (e *env) strataIn(dir string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := exec.CommandContext(e.ctx, bins.strata, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
	var outb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		e.t.Fatalf("running strata %v in %s: %v", args, dir, err)
	}
	e.t.Logf("(in %s) $ strata %s -> %d\n%s%s", dir, strings.Join(args, " "), code, outb.String(), errb.String())
	return outb.String(), errb.String(), code
}

// expectFailureNaming is expectFailure for errors that must name several
// things (a file and both its owners, a repo and what was wrong with it);
// matching ignores case, so the wording around the names may vary.
func (e *env) expectFailureNaming(args []string, wants ...string) {
	e.t.Helper()
	before := e.ostreeStatus()
	out, errOut, code := e.strata(args...)
	if code == 0 {
		e.t.Fatalf("strata %v succeeded, want a failure naming %q:\n%s", args, wants, out)
	}
	for _, want := range wants {
		if !strings.Contains(strings.ToLower(errOut), strings.ToLower(want)) {
			e.t.Errorf("strata %v: stderr %q does not name %q", args, errOut, want)
		}
	}
	if lines := strings.Count(strings.TrimRight(errOut, "\n"), "\n") + 1; !strings.HasPrefix(errOut, "error: ") || lines > 2 {
		e.t.Errorf("strata %v: want a short `error: …` message, got %d lines:\n%s", args, lines, errOut)
	}
	if after := e.ostreeStatus(); after != before {
		e.t.Errorf("deployments changed by failed %v:\nbefore:\n%s\nafter:\n%s", args, before, after)
	}
	e.daemonAlive()
}

func newLayeringEnv(t *testing.T) *env {
	return newEnv(t, envOptions{http: true, packages: true})
}

func TestInstallLocalPackageByPath(t *testing.T) {
	e := newLayeringEnv(t)
	if _, errOut, code := e.strataIn(e.pkgs.LocalDir, "install", "./"+fixture.LocalPackageFile); code != 0 {
		t.Fatalf("install ./%s exited %d: %s\ndaemon log:\n%s", fixture.LocalPackageFile, code, errOut, e.daemonLog())
	}
	e.expectLayered(layer{
		base: "1.0", local: []string{"demo-local-1.0-1.noarch"},
		rpms: []string{"demo-local-1.0-1.noarch"}, files: []string{"usr/bin/demo-local"},
	})
	// The origin pins the exact file by its SHA-256.
	rpm, err := os.ReadFile(e.pkgs.Packages[fixture.LocalPackageFile])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(rpm)
	d := e.layeredStatus()[0]
	origin, err := os.ReadFile(filepath.Join(filepath.Dir(e.deploymentDir(0)), d.Checksum+"."+strconv.Itoa(d.Serial)+".origin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "requested-local=" + hex.EncodeToString(sum[:]) + ":demo-local-1.0-1.noarch"; !strings.Contains(string(origin), want) {
		t.Errorf("origin lacks %q:\n%s", want, origin)
	}
}

func TestInstallRelocatesEtcVarAndOpt(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-conf")
	dir := e.expectLayered(layer{
		base: "1.0", requested: []string{"demo-conf"},
		rpms:  []string{"demo-conf-1.0-1.noarch"},
		files: []string{"usr/etc/demo-conf.conf", "etc/demo-conf.conf", "usr/lib/opt/demo/bin/tool", "usr/lib/tmpfiles.d/pkg-demo-conf.conf"},
	})
	tmpfiles, err := os.ReadFile(filepath.Join(dir, "usr/lib/tmpfiles.d/pkg-demo-conf.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/var/lib/demo-conf", "/usr/lib/opt/demo"} {
		if !strings.Contains(string(tmpfiles), want) {
			t.Errorf("pkg-demo-conf.conf does not mention %s:\n%s", want, tmpfiles)
		}
	}
	// /var belongs to the stateroot, not the tree: the commit has none of it.
	d := e.layeredStatus()[0]
	if out, err := exec.CommandContext(e.ctx, "ostree", "ls", "--repo="+e.sysrootRepo(), d.Checksum, "/var/lib/demo-conf").CombinedOutput(); err == nil {
		t.Errorf("the layered commit carries /var/lib/demo-conf:\n%s", out)
	}
}

func TestSecondInstallReusesImportedPackages(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-extra")
	before := e.pkgRefs()
	extraRef := "rpmostree/pkg/demo-extra/1.0-1.noarch"
	if before[extraRef] == "" {
		t.Fatalf("no %s after installing demo-extra; pkg refs: %v", extraRef, before)
	}
	// Were the daemon to fetch demo-extra again, it would now get a 404.
	if err := os.Remove(e.pkgs.Packages["demo-extra-1.0-1.noarch.rpm"]); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("install", "demo-app")
	e.expectLayered(layer{
		base: "1.0", requested: []string{"demo-extra", "demo-app"},
		rpms: []string{"demo-extra-1.0-1.noarch", "demo-app-1.0-1.noarch", "demo-lib-1.0-1.noarch"},
	})
	after := e.pkgRefs()
	for ref, sum := range before {
		if after[ref] != sum {
			t.Errorf("%s moved from %s to %q: the package was imported again", ref, sum, after[ref])
		}
	}
	var added []string
	for ref := range after {
		if _, ok := before[ref]; !ok {
			added = append(added, ref)
		}
	}
	if want := []string{"rpmostree/pkg/demo-app/1.0-1.noarch", "rpmostree/pkg/demo-lib/1.0-1.noarch"}; !sameSet(added, want) {
		t.Errorf("new package refs = %q, want just %q", added, want)
	}
}

func TestDbDiffAndListShowLayeredPackage(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-extra")
	d := e.layeredStatus()[0]
	diff := e.mustStrata("db", "diff", d.BaseChecksum, d.Checksum)
	if !strings.Contains(diff, "Added") || !strings.Contains(diff, "demo-extra-1.0-1.noarch") {
		t.Errorf("db diff base..layered does not show demo-extra added:\n%s", diff)
	}
	if strings.Contains(diff, "demo-base-files") {
		t.Errorf("db diff lists an unchanged base package:\n%s", diff)
	}
	list := e.mustStrata("db", "list", d.Checksum)
	for _, want := range []string{"demo-extra-1.0-1.noarch", baseFiles1} {
		if !strings.Contains(list, want) {
			t.Errorf("db list of the layered commit lacks %s:\n%s", want, list)
		}
	}
}

func TestPostScriptletRunsInNewTree(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-scripts")
	dir := e.expectLayered(layer{
		base: "1.0", requested: []string{"demo-scripts"},
		rpms: []string{"demo-scripts-1.0-1.noarch"}, files: []string{"usr/etc/demo-scripts/post-ran", "etc/demo-scripts/post-ran"},
	})
	if b, err := os.ReadFile(filepath.Join(dir, "usr/etc/demo-scripts/post-ran")); err != nil || strings.TrimSpace(string(b)) != "ran" {
		t.Errorf("post-ran = %q, %v", b, err)
	}
	// The scriptlet saw the new tree as /, never the machine running the daemon.
	if _, err := os.Stat("/etc/demo-scripts/post-ran"); !os.IsNotExist(err) {
		t.Errorf("the scriptlet wrote to the real host's /usr: %v", err)
	}
}
