package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// Ported from rpm-ostree's tests/vmcheck/test-layering-basic-1.sh on one
// host. Upstream's packages are ours: test-opt is demo-conf (it ships
// /opt/demo and /var/lib/demo-conf), foo is demo-extra, baz (a file the
// base has) is demo-clash. Upstream reboots into each new deployment; here
// the new default deployment's checkout and status JSON are read instead.
func TestUpstreamLayeringBasic1(t *testing.T) {
	e := newLayeringEnv(t)

	// Start: a plain base deployment.
	d := e.rawDeployments()[0]
	e.expectJQ(!jqTruthy(d, "base-checksum"), `.deployments[0]["base-checksum"]|not`, d)
	e.expectJQ(!jqTruthy(d, "pending-base-checksum"), `.deployments[0]["pending-base-checksum"]|not`, d)

	// "ok Installed rpm with /opt ended up in /usr/lib/opt": the files
	// move, and a tmpfiles.d entry makes /opt/demo a link to them at boot.
	e.mustStrata("install", "demo-conf")
	dir := e.deploymentDir(0)
	e.expectDeployment(0, e.layeredStatus()[0], deployment{files: []string{"usr/lib/opt/demo/bin/tool"}})
	var tmpfiles strings.Builder
	for _, pattern := range []string{"usr/lib/tmpfiles.d/*.conf", "usr/lib/rpm-ostree/tmpfiles.d/*.conf"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range files {
			tmpfiles.WriteString(e.readDeploymentFile(0, strings.TrimPrefix(f, dir)))
		}
	}
	e.expectMatch("the deployment's tmpfiles.d", tmpfiles.String(), `/usr/lib/opt/demo`)
	e.expectMatch("the deployment's tmpfiles.d", tmpfiles.String(), `/var/lib/demo-conf`)
	e.mustStrata("rollback")

	// "ok one error for multiple missing pkgs".
	out := e.mustFail("install", "foobar", "barbaz", "bazboo")
	e.expectMatch("install of missing packages", out, `Packages not found:`)
	for _, pkg := range []string{"foobar", "barbaz", "bazboo"} {
		e.expectMatch("install of missing packages", out, pkg)
	}

	// "ok pkg-add foo": the layered commit records its package list, and
	// db diff shows the addition.
	e.mustStrata("pkg-add", "demo-extra")
	d = e.rawDeployments()[0]
	checksum, base := d["checksum"].(string), d["base-checksum"].(string)
	e.expectMatch("rpmostree.rpmdb.pkglist", e.commitMeta(checksum, "rpmostree.rpmdb.pkglist"), `\('demo-extra', '0', '1\.0', '1', 'noarch'\)`)
	out = e.mustStrata("db", "diff", "--format=diff", base, checksum)
	e.expectMatch("db diff --format=diff", out, `\+demo-extra-1\.0-1\.noarch`)
	e.fsck()

	// "ok clean --json": status leaves the package list out of the
	// commit metadata it shows.
	for _, key := range []string{"base-commit-meta", "layered-commit-meta"} {
		meta, _ := d[key].(map[string]any)
		_, has := meta["rpmostree.rpmdb.pkglist"]
		e.expectJQ(!has, `.deployments[0]["`+key+`"]|index("rpmostree.rpmdb.pkglist")|not`, d)
	}

	// "ok idempotent install".
	out = e.mustFail("install", "demo-extra")
	e.expectMatch("install twice", out, `already requested`)
	e.mustStrata("install", "demo-extra", "--idempotent")
	if got := e.rawDeployments()[0]["checksum"]; got != checksum {
		t.Errorf("install --idempotent of a requested package made a new deployment %v", got)
	}

	// "ok idempotent uninstall".
	e.mustStrata("uninstall", "demo-extra")
	pending := e.rawDeployments()[0]["checksum"]
	out = e.mustFail("uninstall", "demo-extra")
	e.expectMatch("uninstall twice", out, `not currently requested`)
	e.mustStrata("uninstall", "demo-extra", "--idempotent")
	if rc := e.exitCode([]string{"uninstall", "demo-extra", "--idempotent", "--unchanged-exit-77"}, 0, 77); rc != 77 {
		t.Errorf("uninstall --idempotent --unchanged-exit-77 of an absent package exited %d, want 77", rc)
	}
	if got := e.rawDeployments()[0]["checksum"]; got != pending {
		t.Errorf("idempotent uninstalls changed the default deployment to %v", got)
	}

	// "ok install not on a tty": status --pending-exit-77 says a pending
	// deployment exists.
	if rc := e.exitCode([]string{"status", "--pending-exit-77"}, 0, 77); rc != 77 {
		t.Errorf("status --pending-exit-77 with a pending deployment exited %d, want 77", rc)
	}
	e.exitCode([]string{"install", "demo-extra", "--unchanged-exit-77"}, 0)

	// "ok pkg foo added": db diff without arguments compares the
	// deployments.
	out = e.mustStrata("db", "diff", "--format=diff")
	e.expectMatch("db diff --format=diff", out, `\+demo-extra-1\.0`)
	d = e.rawDeployments()[0]
	e.expectJQ(jqTruthy(d, "base-checksum"), `.deployments[0]["base-checksum"]`, d)
	e.expectJQ(!jqTruthy(d, "pending-base-checksum"), `.deployments[0]["pending-base-checksum"]|not`, d)
	e.expectJQ(jqTruthy(d, "base-commit-meta"), `.deployments[0]["base-commit-meta"]`, d)
	meta, _ := d["layered-commit-meta"].(map[string]any)
	v, _ := meta["rpmostree.clientlayer_version"].(float64)
	e.expectJQ(v > 1, `.deployments[0]["layered-commit-meta"]["rpmostree.clientlayer_version"] > 1`, d)

	// "ok no leftover rpmdb files".
	e.expectNoMatch("the layered rpmdb", e.ostreeOut("ls", "--repo="+e.sysrootRepo(), d["checksum"].(string), "/usr/share/rpm"), `__db`)

	// "ok can't layer pkg that would replace base files".
	out = e.mustFail("install", "demo-clash")
	e.expectMatch("install of a package replacing a base file", out, `File exists`)

	// "ok cleanup".
	e.mustStrata("cleanup", "-b")
	if n := len(e.rawDeployments()); n != 2 {
		t.Errorf("after cleanup -b: .deployments|length == %d, want 2", n)
	}
	e.mustStrata("cleanup", "-r")
	if n := len(e.rawDeployments()); n != 1 {
		t.Errorf("after cleanup -r: .deployments|length == %d, want 1", n)
	}
	e.mustStrata("cleanup", "-pr")
	if n := len(e.rawDeployments()); n != 1 {
		t.Errorf("after cleanup -pr: .deployments|length == %d, want 1", n)
	}
	e.mustStrata("pkg-add", "demo-app")
	if n := len(e.rawDeployments()); n != 2 {
		t.Errorf("after pkg-add: .deployments|length == %d, want 2", n)
	}
	e.mustStrata("cleanup", "-pr")
	if n := len(e.rawDeployments()); n != 1 {
		t.Errorf("after cleanup -pr: .deployments|length == %d, want 1", n)
	}
}
