package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-layering-basic-2.sh on one
// host. Upstream's foo is demo-extra, glibc (a base package) is
// demo-tools, test-uninstall-all-pkg1/2/3 are demo-extra, demo-local (by
// path) and demo-app.
func TestUpstreamLayeringBasic2(t *testing.T) {
	e := newLayeringEnv(t)

	// "ok reuse cached pkg": a new base re-layers the imported package
	// without importing it again. Upstream asserts that no "Importing
	// packages..." line is printed then; strata prints the line with its
	// counts, so the counts are checked instead.
	out := e.mustStrata("install", "demo-extra")
	e.expectMatch("install", out, `^Importing packages\.\.\.done`)
	e.mustStrata("upgrade")
	// A second upgrade to a new commit, like upstream's `ostree commit`.
	if _, err := e.host.CommitVersion(e.ctx, fixture.StableRef, "2.1", nil); err != nil {
		t.Fatal(err)
	}
	out = e.mustStrata("upgrade")
	e.expectMatch("upgrade with the package cached", out, `Importing packages\.\.\.done \(0 imported, 1 reused\)`)

	// "ok layered pkglist".
	d := e.rawDeployments()[0]
	e.expectMatch("rpmostree.rpmdb.pkglist", e.commitMeta(d["checksum"].(string), "rpmostree.rpmdb.pkglist"), `demo-extra`)

	// "ok refspec": after uninstall --all the origin still names its refspec.
	e.mustStrata("uninstall", "--all")
	origins, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/"+e.rawDeployments()[0]["id"].(string)[len("demo-"):]+".origin"))
	if len(origins) != 1 {
		t.Fatalf("origin of the default deployment: %v", origins)
	}
	originText, err := os.ReadFile(origins[0])
	if err != nil {
		t.Fatal(err)
	}
	e.expectMatch("the origin", string(originText), `^refspec=`)

	// "ok --allow-inactive": a package the base already has is refused
	// unless asked.
	out = e.mustFail("install", "demo-tools")
	e.expectMatch("install of a base package", out, `Use --allow-inactive to explicitly require it\.`)
	e.mustStrata("install", "demo-tools", "--allow-inactive")
	e.mustStrata("uninstall", "--all")

	// "ok uninstall --all".
	out, errOut, _ := e.strata("uninstall", "--all")
	e.expectMatch("uninstall --all with nothing layered", out+errOut, `No change\.`)
	e.mustStrata("install", "demo-extra", e.pkgs.Packages[fixture.LocalPackageFile])
	expect := func(what string, packages, requested, local int) {
		t.Helper()
		d := e.rawDeployments()[0]
		for key, n := range map[string]int{"packages": packages, "requested-packages": requested, "requested-local-packages": local} {
			e.expectJQ(jqLen(d, key) == n, what+`: .deployments[0]["`+key+`"]|length == `+itoa(n), d)
		}
	}
	expect("after install", 1, 1, 1)
	out, errOut, _ = e.strata("uninstall", "--all")
	e.expectNoMatch("uninstall --all", out+errOut, `No change\.`)
	expect("after uninstall --all", 0, 0, 0)

	// "ok uninstall --all --install <pkg>".
	e.mustStrata("install", "demo-extra")
	expect("after install", 1, 1, 0)
	e.mustStrata("uninstall", "--all", "--install", "demo-app")
	expect("after uninstall --all --install", 1, 1, 0)
	d = e.rawDeployments()[0]
	e.expectJQ(contains(jqStrings(d, "packages"), "demo-app"), `.deployments[0]["packages"]|index("demo-app") >= 0`, d)
}
