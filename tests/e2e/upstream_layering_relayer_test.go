package e2e

import (
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-layering-relayer.sh on one
// host: a layered package is carried over by upgrade, deploy and rebase.
// Upstream's foo is demo-extra, nonrootcap demo-app; its rebase_test
// branch is the fixture's devel ref. Upstream reboots and reads the booted
// deployment; here the new default deployment is read, so upstream's
// pending-base-checksum checks of the booted deployment have nothing to
// stand for and are left out.
func TestUpstreamLayeringRelayer(t *testing.T) {
	e := newLayeringEnv(t)
	expectBase := func(what string, commit string, present, absent []string) {
		t.Helper()
		d := e.rawDeployments()[0]
		e.expectJQ(d["base-checksum"] == commit, what+`: .deployments[0]["base-checksum"] == "`+commit+`"`, d)
		pkgs := jqStrings(d, "packages")
		for _, p := range present {
			e.expectJQ(contains(pkgs, p), what+`: .deployments[0]["packages"]|index("`+p+`") >= 0`, d)
		}
		for _, p := range absent {
			e.expectJQ(!contains(pkgs, p), what+`: .deployments[0]["packages"]|index("`+p+`")|not`, d)
		}
	}

	// "ok pkg-add foo" and "ok pkg foo added".
	d := e.rawDeployments()[0]
	e.expectJQ(!contains(jqStrings(d, "packages"), "demo-extra"), `.deployments[0]["packages"]|index("demo-extra")|not`, d)
	e.mustStrata("pkg-add", "demo-extra")
	expectBase("pkg-add", e.host.Versions["1.0"], []string{"demo-extra"}, nil)
	e.expectDeployment(0, e.layeredStatus()[0], deployment{files: []string{"usr/bin/demo-extra"}})

	// "ok upgrade" and "ok pkg foo relayered on upgrade".
	d = e.rawDeployments()[0]
	e.expectJQ(jqTruthy(d, "base-checksum"), `.deployments[0]["base-checksum"]`, d)
	e.expectJQ(!jqTruthy(d, "pending-base-checksum"), `.deployments[0]["pending-base-checksum"]|not`, d)
	e.mustStrata("upgrade")
	expectBase("upgrade", e.host.Versions["2.0"], []string{"demo-extra"}, nil)
	e.expectDeployment(0, e.layeredStatus()[0], deployment{files: []string{"usr/bin/demo-extra"}})

	// "ok deploy" and "ok pkg foo relayered on deploy".
	commit, err := e.host.CommitVersion(e.ctx, fixture.StableRef, "my-commit", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mustStrata("deploy", "my-commit")
	expectBase("deploy", commit, []string{"demo-extra"}, nil)

	// "ok rebase" and "ok pkg foo relayered on rebase".
	commit = e.host.Versions["10.0"]
	e.mustStrata("rebase", fixture.Remote+":"+fixture.DevelRef)
	expectBase("rebase", commit, []string{"demo-extra"}, nil)
	e.expectDeployment(0, e.layeredStatus()[0], deployment{files: []string{"usr/bin/demo-extra"}})

	// "ok rollup": install, rebase to a checksum and uninstall, each
	// keeping what the others did.
	expectBase("before install", commit, []string{"demo-extra"}, []string{"demo-app"})
	e.mustStrata("install", "demo-app")
	expectBase("install", commit, []string{"demo-extra", "demo-app"}, nil)
	commit, err = e.host.CommitVersion(e.ctx, fixture.DevelRef, "my-commit2", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mustStrata("rebase", commit)
	expectBase("rebase to a checksum", commit, []string{"demo-extra", "demo-app"}, nil)
	e.mustStrata("uninstall", "demo-extra")
	expectBase("uninstall", commit, []string{"demo-app"}, []string{"demo-extra"})
	e.fsck()
}
