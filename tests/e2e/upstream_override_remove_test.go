package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-override-remove.sh on one
// host. Upstream's base packages foo and bar (built into the base for the
// test) are the fixture base's demo-tools and demo-shell; its reboots and
// `cleanup -p` between cases are left out (each case starts from the
// default deployment the previous one made, as on a host not booted from
// this sysroot).
func TestUpstreamOverrideRemove(t *testing.T) {
	e := newLayeringEnv(t)
	const (
		foo, fooNEVRA = "demo-tools", "demo-tools-1.0-1.noarch"
		bar, barNEVRA = "demo-shell", "demo-shell-1.0-1.noarch"
	)
	expectRemovals := func(nevras, names []string) {
		t.Helper()
		d := e.rawDeployments()[0]
		e.expectJQ(jqLen(d, "base-removals") == len(nevras), `.deployments[0]["base-removals"]|length == `+itoa(len(nevras)), d)
		got := jqTupleNEVRAs(d, "base-removals", false, 0)
		for _, n := range nevras {
			e.expectJQ(contains(got, n), `[.deployments[0]["base-removals"][][0]]|index("`+n+`") >= 0`, d)
		}
		e.expectJQ(jqLen(d, "requested-base-removals") == len(names), `.deployments[0]["requested-base-removals"]|length == `+itoa(len(names)), d)
		for _, n := range names {
			e.expectJQ(contains(jqStrings(d, "requested-base-removals"), n), `.deployments[0]["requested-base-removals"]|index("`+n+`") >= 0`, d)
		}
	}

	// Setup: no removals yet.
	expectRemovals(nil, nil)

	// "ok override remove bar"; upstream moves its yum repo away first:
	// removals work offline.
	e.mustStrata("cleanup", "--repomd")
	if err := os.Rename(e.pkgs.Dir, e.pkgs.Dir+".bak"); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("override", "remove", bar)
	expectRemovals([]string{barNEVRA}, []string{bar})
	e.expectDeployment(0, e.layeredStatus()[0], deployment{
		files: []string{"usr/bin/demo-tool", "usr/share/demo-tools/README"}, noFiles: []string{"usr/bin/busybox"},
	})

	// "ok override remove foo and bar": the status line groups packages
	// of one version.
	e.mustStrata("override", "remove", foo)
	expectRemovals([]string{fooNEVRA, barNEVRA}, []string{foo, bar})
	e.expectDeployment(0, e.layeredStatus()[0], deployment{
		noFiles: []string{"usr/bin/demo-tool", "usr/share/demo-tools/README", "usr/share/demo-tools"},
	})
	e.expectMatch("status", e.mustStrata("status"), `(demo-tools demo-shell|demo-shell demo-tools) 1\.0-1`)

	// "ok override remove carried through upgrade". Upstream commits the
	// new base into the host's repo; here 2.0 is pulled into it, so that
	// --cache-only (no rpm-md, no network) finds it.
	e.ostreeOut("pull", "--repo="+e.sysrootRepo(), fixture.Remote, fixture.StableRef)
	e.mustStrata("upgrade", "--cache-only")
	if v := e.rawDeployments()[0]["version"]; v != "2.0" {
		t.Fatalf("upgrade --cache-only deployed %v, want 2.0", v)
	}
	expectRemovals([]string{fooNEVRA, barNEVRA}, []string{foo, bar})

	// "ok override reset foo".
	e.mustStrata("override", "reset", foo)
	expectRemovals([]string{barNEVRA}, []string{bar})

	// "ok override reset --all", and again: nothing to reset.
	e.mustStrata("override", "reset", "--all")
	expectRemovals(nil, nil)
	out, errOut, _ := e.strata("override", "reset", "--all")
	e.expectMatch("override reset --all with nothing to reset", out+errOut, `No change\.`)

	// "ok override remove non-existent-package fails".
	e.mustFail("override", "remove", "non-existent-package")

	// "ok override remove layered pkg baz fails" (the repo is back:
	// layering needs it).
	if err := os.Rename(e.pkgs.Dir+".bak", e.pkgs.Dir); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("install", "demo-extra")
	e.mustFail("override", "remove", "demo-extra")

	// "ok remove and --install at the same time".
	e.mustStrata("override", "remove", foo, "--install", "demo-app")
	d := e.rawDeployments()[0]
	e.expectJQ(contains(jqStrings(d, "requested-base-removals"), foo), `.deployments[0]["requested-base-removals"]|index("`+foo+`") >= 0`, d)
	e.expectJQ(contains(jqStrings(d, "requested-packages"), "demo-app"), `.deployments[0]["requested-packages"]|index("demo-app") >= 0`, d)
}

func itoa(n int) string { return fmt.Sprint(n) }
