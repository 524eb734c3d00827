package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// recommitBase makes a new commit on the remote's stable ref whose tree is
// the tree of commit (a layered commit of the host's repo, or a base), as
// upstream's `ostree commit -b vmcheck --tree=ref=…` does, and returns it.
func (e *env) recommitBase(commit, version string) string {
	e.t.Helper()
	run := func(args ...string) string {
		e.t.Helper()
		out, err := exec.CommandContext(e.ctx, "ostree", args...).CombinedOutput()
		if err != nil {
			e.t.Fatalf("ostree %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("pull-local", "--repo="+e.host.RemoteRepo, e.sysrootRepo(), commit)
	sum := run("commit", "--repo="+e.host.RemoteRepo, "-b", fixture.StableRef, "--tree=ref="+commit,
		"--add-metadata-string=version="+version, "--bootable")
	run("summary", "--repo="+e.host.RemoteRepo, "-u")
	return sum
}

// Ported from rpm-ostree's tests/vmcheck/test-layering-rpmdb.sh (the version
// with dormant requests) on one host. Upstream's foo is demo-extra; bar is
// built here, a local package that conflicts with it. The "coloring" cases
// (an i686 and an x86_64 build of one package) are left out: the fixture
// builds noarch packages only.
func TestUpstreamLayeringRpmdb(t *testing.T) {
	e := newLayeringEnv(t)
	rpms, err := fixture.BuildPackages(e.ctx, t.TempDir(), []fixture.Package{{
		Name: "bar", Version: "1.0", Conflicts: []string{"demo-extra"},
		Install: "mkdir -p %{buildroot}/usr/share/bar\necho bar > %{buildroot}/usr/share/bar/README\n",
		Files:   "/usr/share/bar\n",
	}})
	if err != nil {
		t.Fatal(err)
	}
	bar := rpms["bar-1.0-1.noarch.rpm"]
	layered := func(name string) bool { return contains(jqStrings(e.rawDeployments()[0], "packages"), name) }
	requested := func(name string) bool {
		return contains(jqStrings(e.rawDeployments()[0], "requested-packages"), name)
	}
	withoutFoo := e.host.Versions["1.0"]

	// "ok install foo" and "ok pkg foo added".
	if layered("demo-extra") {
		t.Fatal("demo-extra is layered before the test layers it")
	}
	e.mustStrata("install", "demo-extra")
	if !layered("demo-extra") {
		t.Fatal("demo-extra is not layered after install")
	}
	withFooTree := e.rawDeployments()[0]["checksum"].(string)

	// "ok layered to dormant": a base that ships the package makes the
	// request dormant (still requested, no longer layered).
	withFoo := e.recommitBase(withFooTree, "with-foo")
	e.mustStrata("upgrade")
	d := e.rawDeployments()[0]
	e.expectJQ(d["checksum"] == withFoo, `.deployments[0].checksum == "`+withFoo+`"`, d)
	e.expectJQ(requested("demo-extra") && !layered("demo-extra"), `demo-extra is dormant (requested-packages has it, packages does not)`, d)

	// "ok can't layer conflicting pkg (dormant)".
	e.mustFail("pkg-add", bar)

	// "ok dormant to layered": a base without the package layers it again.
	e.recommitBase(withoutFoo, "without-foo")
	e.mustStrata("upgrade")
	if !layered("demo-extra") {
		t.Errorf("demo-extra is not layered again on a base without it:\n%v", e.rawDeployments()[0])
	}

	// "ok can't layer pkg already layered" and "ok can't layer
	// conflicting pkg (layered)".
	e.mustFail("pkg-add", "demo-extra")
	e.mustFail("pkg-add", bar)

	// "ok pkg-remove foo": back on the base with foo, the dormant request
	// is dropped.
	e.mustStrata("rollback")
	if got := e.rawDeployments()[0]["checksum"]; got != withFoo {
		t.Fatalf("after rollback the default deployment is %v, want %s", got, withFoo)
	}
	e.mustStrata("pkg-remove", "demo-extra")
	if requested("demo-extra") {
		t.Errorf("demo-extra is still in the origin after pkg-remove")
	}

	// "ok can't layer conflicting pkg (base)".
	e.mustFail("pkg-add", bar)

	// "ok pkg-add bar" on a base without foo.
	e.recommitBase(withoutFoo, "without-foo-2")
	e.mustStrata("upgrade")
	e.mustStrata("pkg-add", bar)
	d = e.rawDeployments()[0]
	e.expectJQ(contains(jqStrings(d, "requested-local-packages"), "bar-1.0-1.noarch"), `.deployments[0]["requested-local-packages"]|index("bar-1.0-1.noarch")`, d)

	// "ok can't upgrade with conflicting layered pkg".
	e.recommitBase(withFooTree, "with-foo-2")
	before := e.rawDeployments()[0]["checksum"]
	e.mustFail("upgrade")
	if got := e.rawDeployments()[0]["checksum"]; got != before {
		t.Errorf("the failed upgrade changed the default deployment to %v", got)
	}
	e.fsck()
}
