package e2e

import (
	"os"
	"os/exec"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported in part from rpm-ostree's tests/vmcheck/test-download-only.sh on a
// host not booted from the sysroot: on a booted one strata starts each new
// deployment from the booted deployment (libostree's merge deployment)
// where rpm-ostree starts from the pending one, so a second `upgrade`
// redeploys the update instead of exiting 77 (see UPSTREAM.md). Upstream's
// deployment counts (1 booted; 2 with a pending one) become "the default
// deployment is unchanged" and "a new default deployment" (a non-booted
// host keeps two deployments either way), and `cleanup -prmb` is left out. Going
// offline is moving the rpm-md repo away and pointing the ostree remote at
// an address nothing listens on. Upstream's package foobar is the fixture
// repo's demo-extra and its local barbaz is demo-local. Left out: the
// cases that rebase onto a second remote (`rebase --remote`, "ok setup",
// "ok offline rebase & install", "ok offline upgrade with local RPM
// replacement"); see UPSTREAM.md.
func TestUpstreamDownloadOnly(t *testing.T) {
	e := newLayeringEnv(t)
	remoteURL := e.host.RemoteURL
	goOffline := func() {
		t.Helper()
		if err := os.Rename(e.pkgs.Dir, e.pkgs.Dir+".bak"); err != nil {
			t.Fatal(err)
		}
		if err := e.host.SetRemoteURL(e.ctx, "http://127.0.0.1:1"); err != nil {
			t.Fatal(err)
		}
	}
	goOnline := func() {
		t.Helper()
		if err := os.Rename(e.pkgs.Dir+".bak", e.pkgs.Dir); err != nil {
			t.Fatal(err)
		}
		if err := e.host.SetRemoteURL(e.ctx, remoteURL); err != nil {
			t.Fatal(err)
		}
	}
	head := func() string { return e.rawDeployments()[0]["checksum"].(string) }

	// "ok check for change with --cache-only". Upstream's VM has its
	// remote's head deployed; the fixture remote has a newer one.
	e.mustStrata("upgrade")
	e.exitCode([]string{"upgrade", "--upgrade-unchanged-exit-77"}, 77)
	e.exitCode([]string{"upgrade", "-C", "--upgrade-unchanged-exit-77"}, 77)

	// "ok --cache-only still checks commit timestamp".
	if out, err := exec.CommandContext(e.ctx, "ostree", "commit", "--repo="+e.host.RemoteRepo, "-b", fixture.StableRef,
		"--tree=ref="+fixture.StableRef, "--timestamp=Oct 21 1988", "--owner-uid=0", "--owner-gid=0").CombinedOutput(); err != nil {
		t.Fatalf("ostree commit: %v\n%s", err, out)
	}
	e.ostreeOut("summary", "--repo="+e.host.RemoteRepo, "-u")
	e.ostreeOut("pull", "--repo="+e.sysrootRepo(), fixture.Remote+":"+fixture.StableRef)
	e.expectMatch("upgrade -C to an older commit", e.mustFail("upgrade", "-C"), `chronologically older`)
	e.mustStrata("upgrade", "-C", "--allow-downgrade")

	// "ok conflicting options".
	e.mustFail("upgrade", "--cache-only", "--download-only")

	// "ok offline local RPM install".
	before := head()
	local := e.pkgs.Packages[fixture.LocalPackageFile]
	e.mustStrata("install", "--download-only", "demo-extra", local)
	if head() != before {
		t.Errorf("install --download-only made a new deployment")
	}
	goOffline()
	e.mustStrata("install", "--cache-only", "demo-extra", local)
	goOnline()
	if head() == before {
		t.Errorf("install --cache-only made no new deployment")
	}
	d := e.rawDeployments()[0]
	e.expectJQ(jqLen(d, "requested-packages") == 1, `.deployments[0]["requested-packages"]|length == 1`, d)
	e.expectJQ(jqLen(d, "requested-local-packages") == 1, `.deployments[0]["requested-local-packages"]|length == 1`, d)
}
