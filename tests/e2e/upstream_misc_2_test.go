package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-misc-2.sh on one host.
// Upstream commits into the host's own repo; here new commits go to the
// remote the host follows. The cases that need a reboot, journald or a
// custom origin are listed in UPSTREAM.md.
func TestUpstreamMisc2(t *testing.T) {
	e := newLayeringEnv(t)

	e.expectMatch("status", e.mustStrata("status"), `Commit:`)

	// "ok failed to upgrade to older commit".
	if out, err := exec.CommandContext(e.ctx, "ostree", "commit", "--repo="+e.host.RemoteRepo, "-b", fixture.StableRef,
		"--tree=ref="+fixture.StableRef, "--timestamp=October 25 1985", "--bootable").CombinedOutput(); err != nil {
		t.Fatalf("ostree commit: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(e.ctx, "ostree", "summary", "--repo="+e.host.RemoteRepo, "-u").CombinedOutput(); err != nil {
		t.Fatalf("ostree summary: %v\n%s", err, out)
	}
	out := e.mustFail("upgrade")
	e.expectMatch("upgrade to an older commit", out, `chronologically older`)

	// "ok identical file merges" and "ok detecting file name conflicts
	// before writing rpmdb": two packages may ship the same file with the
	// same content, not with different content.
	app := func(name, content string) fixture.Package {
		return fixture.Package{Name: name, Version: "1.0",
			Install: "mkdir -p %{buildroot}/usr/app\necho " + content + " > %{buildroot}/usr/app/conflict-file\n",
			Files:   "/usr/app\n"}
	}
	rpms, err := fixture.BuildPackages(e.ctx, t.TempDir(), []fixture.Package{app("base-package", "one"), app("test-merging", "one"), app("conflict-pkg", "two")})
	if err != nil {
		t.Fatal(err)
	}
	e.mustStrata("install", rpms["base-package-1.0-1.noarch.rpm"])
	e.mustStrata("install", rpms["test-merging-1.0-1.noarch.rpm"])
	out = e.mustFail("install", rpms["conflict-pkg-1.0-1.noarch.rpm"])
	e.expectNoMatch("install of a conflicting package", out, `Writing rpmdb`)
	e.expectMatch("install of a conflicting package", out, `(Operation not permitted)|(File exists)`)
	e.mustStrata("uninstall", "--all")

	// "ok changes to deployment variant don't affect deploy": deploying
	// the commit already deployed changes nothing.
	current := e.rawDeployments()[0]["base-checksum"]
	if current == nil {
		current = e.rawDeployments()[0]["checksum"]
	}
	out, _, code := e.strata("deploy", current.(string), "--unchanged-exit-77")
	if code != 77 {
		t.Errorf("re-deploying the same commit exited %d, want 77", code)
	}
	e.expectMatch("deploy of the current commit", out, `No change\.`)

	// "ok script output prefixed in journal" (the journal half is left
	// out): a failing %post fails the install and says where to look.
	out = e.mustFail("install", "demo-failpost")
	e.expectMatch("install of a package with a failing %post", out, `run.*journalctl.*for more information`)

	// "ok refresh-md": metadata that has not expired is used as cached,
	// so a package published since is not seen until refresh-md -f.
	repoFiles, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/*/etc/yum.repos.d/*.repo"))
	for _, f := range repoFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(data), "metadata_expire=0", "metadata_expire=1h")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out = e.mustStrata("refresh-md")
	e.expectMatch("refresh-md", out, `Updating metadata for 'demo-pkgs'`)
	if err := e.pkgs.Publish(e.ctx, fixture.ExtraUpdateFile); err != nil {
		t.Fatal(err)
	}
	out = e.mustStrata("refresh-md")
	e.expectMatch("refresh-md with current metadata", out, `rpm-md repo 'demo-pkgs' \(cached\)`)
	e.mustFail("install", "demo-extra-1.1", "--dry-run")
	out = e.mustStrata("refresh-md", "-f")
	e.expectMatch("refresh-md -f", out, `Updating metadata for 'demo-pkgs'`)
	e.mustStrata("install", "demo-extra-1.1", "--dry-run")

	// "ok deploy --skip-branch-check": a commit of another branch is
	// refused unless the branch check is skipped.
	other, err := exec.CommandContext(e.ctx, "ostree", "commit", "--repo="+e.host.RemoteRepo, "-b", "otherbranch",
		"--tree=ref="+fixture.StableRef, "--bootable").Output()
	if err != nil {
		t.Fatalf("ostree commit: %v", err)
	}
	csum := strings.TrimSpace(string(other))
	if out, err := exec.CommandContext(e.ctx, "ostree", "summary", "--repo="+e.host.RemoteRepo, "-u").CombinedOutput(); err != nil {
		t.Fatalf("ostree summary: %v\n%s", err, out)
	}
	out = e.mustFail("deploy", csum)
	e.expectMatch("deploy of another branch's commit", out, `Checksum .* not found in .*`)
	e.mustStrata("deploy", csum, "--skip-branch-check")
	if got := e.rawDeployments()[0]["checksum"]; got != csum {
		t.Errorf("deploy --skip-branch-check: default deployment is %v, want %s", got, csum)
	}
}
