package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/client"
	"github.com/strata-os/strata/tests/fixture"
)

// demoTools11 builds, in dir, demo-tools 1.1: a newer build of the base's
// demo-tools 1.0 whose demo-tool prints says and whose README reads readme.
// It returns the RPM's path.
func (e *env) demoTools11(dir, says, readme string) string {
	e.t.Helper()
	pkgs, err := fixture.BuildPackages(e.ctx, dir, []fixture.Package{{
		Name: "demo-tools", Version: "1.1",
		Install: `mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/demo-tools
printf '#!/bin/sh\necho "` + says + `"\n' > %{buildroot}/usr/bin/demo-tool
chmod 0755 %{buildroot}/usr/bin/demo-tool
echo '` + readme + `' > %{buildroot}/usr/share/demo-tools/README
`,
		Files: "/usr/bin/demo-tool\n/usr/share/demo-tools\n",
	}})
	if err != nil {
		e.t.Fatal(err)
	}
	return pkgs["demo-tools-1.1-1.noarch.rpm"]
}

// TestOverrideReplaceAndReset: a local build of a base package replaces it in
// a new deployment; reset brings the base's version back.
func TestOverrideReplaceAndReset(t *testing.T) {
	e := newLayeringEnv(t)
	rpm := e.demoTools11(t.TempDir(), "demo-tool 1.1", "Tools, replaced.")
	e.mustStrata("override", "replace", rpm)
	dir := e.deploymentDir(0)
	e.expectRPMs(dir, []string{"demo-tools-1.1-1.noarch"}, []string{"demo-tools-1.0-1.noarch"})
	if b, err := os.ReadFile(filepath.Join(dir, "usr/bin/demo-tool")); err != nil || !strings.Contains(string(b), "1.1") {
		t.Errorf("usr/bin/demo-tool after replace = %q, %v", b, err)
	}
	status := e.mustStrata("status", "--json")
	if !strings.Contains(status, `"requested-base-local-replacements"`) || !strings.Contains(status, "demo-tools-1.1-1.noarch") {
		t.Errorf("status --json does not record the replacement:\n%s", status)
	}

	e.mustStrata("override", "reset", "demo-tools")
	dir = e.deploymentDir(0)
	e.expectRPMs(dir, []string{"demo-tools-1.0-1.noarch"}, []string{"demo-tools-1.1-1.noarch"})
	if b, err := os.ReadFile(filepath.Join(dir, "usr/bin/demo-tool")); err != nil || !strings.Contains(string(b), "1.0") {
		t.Errorf("usr/bin/demo-tool after reset = %q, %v", b, err)
	}
}

// TestBaseCommitsSurvivePruning: the base of a layered deployment is held by
// an rpmostree/base ref, so pruning keeps it while the deployment exists.
func TestBaseCommitsSurvivePruning(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-extra")
	e.mustStrata("upgrade")
	e.mustStrata("cleanup", "-b")
	v1 := e.host.Versions["1.0"]
	refs := e.ostreeOut("refs", "--repo="+e.sysrootRepo())
	if !strings.Contains(refs, "rpmostree/base/") {
		t.Errorf("no rpmostree/base refs after layering:\n%s", refs)
	}
	// The rollback deployment is the layered one on 1.0: its base must stay.
	if out := e.ostreeOut("show", "--repo="+e.sysrootRepo(), v1); !strings.Contains(out, v1) {
		t.Errorf("base commit %s was pruned:\n%s", v1, out)
	}
	e.mustStrata("cleanup", "-r")
	if refs := e.ostreeOut("refs", "--repo="+e.sysrootRepo()); strings.Count(refs, "rpmostree/base/") != 1 {
		t.Errorf("after dropping the rollback, want one base ref (the 2.0 base):\n%s", refs)
	}
}

// TestRebaseWithPackages: the D-Bus Rebase call can layer packages in the same
// transaction (rpm-ostree's `packages` argument).
func TestRebaseWithPackages(t *testing.T) {
	e := newLayeringEnv(t)
	c, err := client.ConnectAddress(e.ctx, e.bus.Address, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o, err := c.OS(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	txn, err := o.Rebase(e.ctx, fixture.Remote+":"+fixture.DevelRef, []string{"demo-extra"}, client.RebaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Run(e.ctx, func(client.Event) {}); err != nil {
		t.Fatalf("rebase with packages: %v\n%s", err, e.daemonLog())
	}
	e.expectLayered(layer{base: "10.0", requested: []string{"demo-extra"}, rpms: []string{"demo-extra-1.0-1.noarch"}, files: []string{"usr/bin/demo-extra"}})
}
