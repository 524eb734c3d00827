package e2e

import (
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-reset.sh on one host. The
// setup layers a repo package (upstream's bar: demo-extra) and a local one
// (baz: demo-local) and replaces a base package locally (foo 2.0: demo-tools
// 1.1). Upstream drops each case's pending deployment with `cleanup -p`
// and so starts the next from the setup; on a host not booted from this
// sysroot `rollback` does that (it makes the setup deployment the default
// again). Upstream's `initramfs --enable` in the setup is left out: strata
// refuses it today, so regenerate-initramfs stays false throughout.
func TestUpstreamReset(t *testing.T) {
	e := newLayeringEnv(t)
	expect := func(what string, packages, requested, local, replacements int) {
		t.Helper()
		d := e.rawDeployments()[0]
		for key, n := range map[string]int{"packages": packages, "requested-packages": requested,
			"requested-local-packages": local, "requested-base-local-replacements": replacements} {
			got := jqLen(d, key)
			if got < 0 {
				got = 0 // rpm-ostree leaves out an empty requested-base-local-replacements
			}
			e.expectJQ(got == n, what+`: .deployments[0]["`+key+`"]|length == `+itoa(n), d)
		}
		e.expectJQ(!jqTruthy(d, "regenerate-initramfs"), what+`: .deployments[0]["regenerate-initramfs"]|not`, d)
	}
	local := e.pkgs.Packages[fixture.LocalPackageFile]

	// "ok setup".
	e.mustStrata("override", "replace", "--install", "demo-extra", "--install", local, e.demoTools11(t.TempDir(), "demo-tools-1.1-1.noarch", "Tools, replaced."))
	expect("setup", 1, 1, 1, 1)

	// "ok reset overlays".
	e.mustStrata("reset", "--overlays")
	expect("reset --overlays", 0, 0, 0, 1)
	e.mustStrata("rollback")

	// "ok reset overrides".
	e.mustStrata("reset", "--overrides")
	expect("reset --overrides", 1, 1, 1, 0)
	e.mustStrata("rollback")

	// "ok reset initramfs": nothing to reset here (see above).
	e.mustStrata("reset", "--initramfs")
	expect("reset --initramfs", 1, 1, 1, 1)

	// "ok reset EVERYTHING".
	e.mustStrata("reset")
	expect("reset", 0, 0, 0, 0)
	e.mustStrata("rollback")

	// "ok reset --install".
	e.mustStrata("reset", "--install", "demo-app")
	expect("reset --install", 1, 1, 0, 0)
	d := e.rawDeployments()[0]
	e.expectJQ(contains(jqStrings(d, "packages"), "demo-app"), `.deployments[0]["packages"]|index("demo-app") >= 0`, d)
}
