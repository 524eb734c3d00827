package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-layering-unified.sh on one
// host: upgrade, deploy and rebase take --install, and install/uninstall
// take each other's option, all in one transaction. Upstream's foo and bar
// are both repo and local packages; here the repo ones are demo-extra (foo)
// and demo-app (bar), the local one is the fixture's demo-local. Upstream's
// `vm_status_watch_check "Transaction: …"` (the status line a client shows
// while the transaction runs) is left out: the transaction is over when
// the command returns.
func TestUpstreamLayeringUnified(t *testing.T) {
	e := newLayeringEnv(t)
	local := e.pkgs.Packages[fixture.LocalPackageFile]
	const localNEVRA = "demo-local-1.0-1.noarch"
	start := e.rawDeployments()[0]["checksum"]
	commit := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(e.ctx, "ostree", append([]string{"commit", "--repo=" + e.host.RemoteRepo, "--bootable"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ostree commit: %v\n%s", err, out)
		}
		if out, err := exec.CommandContext(e.ctx, "ostree", "summary", "--repo="+e.host.RemoteRepo, "-u").CombinedOutput(); err != nil {
			t.Fatalf("ostree summary: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	expect := func(what, base, version, origin, pkg string) {
		t.Helper()
		d := e.rawDeployments()[0]
		if base != "" {
			e.expectJQ(d["base-checksum"] == base, what+`: .deployments[0]["base-checksum"] == "`+base+`"`, d)
		}
		if version != "" {
			e.expectJQ(d["version"] == version, what+`: .deployments[0]["version"] == "`+version+`"`, d)
		}
		if origin != "" {
			e.expectJQ(d["origin"] == origin, what+`: .deployments[0]["origin"] == "`+origin+`"`, d)
		}
		if pkg == "" {
			e.expectJQ(jqLen(d, "packages") <= 0, what+`: .deployments[0]["packages"]|length == 0`, d)
		} else {
			e.expectJQ(jqLen(d, "packages") == 1 && contains(jqStrings(d, "packages"), pkg),
				what+`: .deployments[0]["packages"] == ["`+pkg+`"]`, d)
		}
	}
	expectLocal := func(what string, want bool) {
		t.Helper()
		d := e.rawDeployments()[0]
		if want {
			e.expectJQ(jqLen(d, "requested-local-packages") == 1 && contains(jqStrings(d, "requested-local-packages"), localNEVRA),
				what+`: .deployments[0]["requested-local-packages"] == ["`+localNEVRA+`"]`, d)
		} else {
			e.expectJQ(jqLen(d, "requested-local-packages") <= 0, what+`: .deployments[0]["requested-local-packages"]|length == 0`, d)
		}
	}

	// "ok upgrade with bar and local foo", "ok deploy with foo and local
	// bar" and "ok rebase with bar and local foo" are left out: strata's
	// upgrade, deploy and rebase commands do not take --install yet (the
	// daemon's UpdateDeployment does for set-refspec; see UPSTREAM.md).
	// Until they do they must refuse it rather than ignore it.
	const rebaseRef = "demo/x86_64/rebase"
	commit("-b", fixture.StableRef, "--tree=ref="+fixture.StableRef, "--add-metadata-string=version=SUPADUPAVERSION")
	commit("-b", rebaseRef, "--tree=ref="+fixture.StableRef, "--add-metadata-string=version=SUPADUPAVERSION")
	for _, args := range [][]string{
		{"upgrade", "--install", "demo-app", "--install", local},
		{"deploy", "SUPADUPAVERSION", "--install", "demo-extra", "--install", local},
		{"rebase", fixture.Remote + ":" + rebaseRef, "SUPADUPAVERSION", "--install", "demo-app", "--install", local},
	} {
		e.expectMatch("strata "+strings.Join(args, " "), e.mustFail(args...), `--install`)
		if got := e.rawDeployments()[0]["checksum"]; got != start {
			t.Errorf("the refused %v changed the default deployment to %v", args, got)
		}
	}

	// "ok simultaneous pkg changes".
	e.mustStrata("install", local)
	expect("install local", "", "", "", "")
	expectLocal("install local", true)
	e.mustStrata("uninstall", localNEVRA, "--install", "demo-app")
	expect("uninstall --install", "", "", "", "demo-app")
	expectLocal("uninstall --install", false)
	e.mustStrata("install", "demo-extra", "--uninstall", "demo-app")
	expect("install --uninstall", "", "", "", "demo-extra")
	expectLocal("install --uninstall", false)
	e.fsck()
}
