package e2e

import (
	"os/exec"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-upgrades.sh on one host.
// Upstream's v1/v2/v3 are the fixture's 1.0 and 2.0 and a 3.0 committed
// here; its reboots are left out (the new default deployment is checked
// instead of the booted one).
func TestUpstreamUpgrades(t *testing.T) {
	e := newEnv(t, envOptions{})
	origin := func() string { return e.rawDeployments()[0]["origin"].(string) }
	version := func() string { return e.rawDeployments()[0]["version"].(string) }

	// "ok upgrade".
	e.exitCode([]string{"upgrade", "--check"}, 0)
	e.mustStrata("upgrade")
	if v := version(); v != "2.0" {
		t.Fatalf(`.deployments[0]["version"] == %q, want "2.0"`, v)
	}

	// "ok rebase": REMOTE: keeps the ref, ostree://REMOTE: too, and a
	// rebase to an older commit with --disallow-downgrade is refused.
	if out, err := exec.CommandContext(e.ctx, "ostree", "remote", "add", "--repo="+e.sysrootRepo(),
		"otherremote", "--if-not-exists", "--no-gpg-verify", e.host.RemoteURL).CombinedOutput(); err != nil {
		t.Fatalf("ostree remote add: %v\n%s", err, out)
	}
	e.mustStrata("reload")
	e.mustStrata("rebase", "otherremote:")
	if o := origin(); o != "otherremote:"+fixture.StableRef {
		t.Errorf(`.deployments[0]["origin"] == %q, want "otherremote:%s"`, o, fixture.StableRef)
	}
	e.mustStrata("rebase", "ostree://"+fixture.Remote+":")
	if o := origin(); o != fixture.Remote+":"+fixture.StableRef {
		t.Errorf(`.deployments[0]["origin"] == %q, want "%s:%s"`, o, fixture.Remote, fixture.StableRef)
	}
	out := e.mustFail("rebase", "otherremote:", "1.0", "--disallow-downgrade")
	e.expectMatch("rebase to an older version", out, `Upgrade.*is chronologically older`)

	// "ok deploy": by version, by version=, by REVISION=, and rebase with
	// a revision.
	if _, err := e.host.CommitVersion(e.ctx, fixture.StableRef, "3.0", nil); err != nil {
		t.Fatal(err)
	}
	out = e.mustFail("deploy", "1.0", "--disallow-downgrade")
	e.expectMatch("deploy of an older version", out, `Upgrade.*is chronologically older`)
	e.mustStrata("deploy", "1.0")
	if v := version(); v != "1.0" {
		t.Errorf(`.deployments[0]["version"] == %q, want "1.0"`, v)
	}
	e.mustStrata("deploy", "version=3.0")
	if v := version(); v != "3.0" {
		t.Errorf(`.deployments[0]["version"] == %q, want "3.0"`, v)
	}
	v3rev := e.rawDeployments()[0]["checksum"].(string)
	e.mustStrata("deploy", "1.0")
	e.mustStrata("deploy", "REVISION="+v3rev)
	if v := version(); v != "3.0" {
		t.Errorf(`.deployments[0]["version"] == %q, want "3.0"`, v)
	}
	e.mustStrata("deploy", "1.0")
	e.mustStrata("rebase", "otherremote:"+fixture.StableRef, v3rev)
	if v := version(); v != "3.0" {
		t.Errorf(`.deployments[0]["version"] == %q, want "3.0"`, v)
	}
}

// Ported from rpm-ostree's tests/vmcheck/test-pinned-commit.sh: a host
// rebased onto a bare checksum is pinned to it.
func TestUpstreamPinnedCommit(t *testing.T) {
	e := newEnv(t, envOptions{})
	checksum := e.host.Versions["1.0"]

	// "ok pin to commit".
	e.mustStrata("rebase", ":"+checksum)
	if o := e.rawDeployments()[0]["origin"]; o != checksum {
		t.Errorf(`.deployments[0]["origin"] == %v, want %s`, o, checksum)
	}
	e.mustStrata("status")

	// "ok cmds".
	out := e.mustStrata("upgrade")
	e.expectMatch("upgrade while pinned", out, `Pinned to commit; no upgrade available`)
	out = e.mustFail("deploy", "42")
	e.expectMatch("deploy a version while pinned", out, `Cannot look up version while pinned to commit`)
	if out, err := exec.CommandContext(e.ctx, "ostree", "remote", "add", "--repo="+e.sysrootRepo(),
		"--set=gpg-verify=false", "self", "file://"+e.sysrootRepo()).CombinedOutput(); err != nil {
		t.Fatalf("ostree remote add: %v\n%s", err, out)
	}
	e.mustStrata("rebase", "self:"+checksum)
	e.mustStrata("upgrade")
}
