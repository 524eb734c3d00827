package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Ported from rpm-ostree's tests/kolainst/nondestructive/misc.sh. One booted
// host (the daemon sees its deployment as "/", as on a real machine) with the
// demo-pkgs repo enabled serves every case, as upstream runs them all on one
// VM. Upstream's "testdaemon"/"testpkg-*" packages are our demo-* packages.
func TestUpstreamMisc(t *testing.T) {
	e := newEnv(t, envOptions{booted: true, http: true, packages: true})

	// misc.sh "Verify that we process arguments correctly": usroverlay's
	// help names what it stands for, both as `usroverlay --help` and
	// `-h usroverlay`.
	for _, args := range [][]string{{"usroverlay", "--help"}, {"-h", "usroverlay"}} {
		out := e.mustStrata(args...)
		e.expectMatch("strata "+strings.Join(args, " "), out, "ostree admin unlock")
	}

	// misc.sh "ok empty pkg arrays, and commit meta correct in status json".
	d := e.rawDeployments()[0]
	for _, key := range []string{"packages", "requested-packages", "requested-local-packages", "base-removals", "requested-base-removals"} {
		e.expectJQ(jqLen(d, key) >= 0, `.deployments[0]["`+key+`"]`, d)
	}
	for _, key := range []string{"live-inprogress", "live-replaced", "layered-commit-meta", "staged"} {
		e.expectJQ(!jqTruthy(d, key), `.deployments[0]["`+key+`"]|not`, d)
	}

	// misc.sh "ok --booted --json".
	if n := len(e.rawDeployments("-b")); n != 1 {
		t.Errorf("status -b --json: .deployments|length == %d, want 1", n)
	}

	// misc.sh "ok error on unknown command options": every builtin command
	// listed by --help refuses an option it does not know.
	help := e.mustStrata("--help")
	inCommands := false
	var cmds []string
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Builtin Commands:"):
			inCommands = true
		case line == "":
			inCommands = false
		case inCommands:
			cmds = append(cmds, strings.Fields(line)[0])
		}
	}
	if len(cmds) < 10 {
		t.Fatalf("--help lists %d builtin commands:\n%s", len(cmds), help)
	}
	for _, cmd := range cmds {
		if _, _, code := e.strata(cmd, "--n0t-3xisting-0ption"); code == 0 {
			t.Errorf("command %s --n0t-3xisting-0ption was successful", cmd)
		}
	}

	// misc.sh "ok error on non UTF-8".
	out := e.mustFail("status", "--track=/etc/NetworkManager/system-connections\xE2\x80")
	e.expectMatch("status with a non-UTF-8 argument", out, `error: Argument is invalid UTF-8`)

	// misc.sh: `ex rebuild` only runs in a container build, and install
	// --enablerepo only works in a container build.
	out = e.mustFail("ex", "rebuild")
	e.expectMatch("ex rebuild on a host", out, `error: This command can only run in an OSTree container`)
	out = e.mustFail("install", "--enablerepo=blah", "foo")
	e.expectMatch("install --enablerepo", out, `enablerepo currently only works in a container build`)

	// misc.sh "ok jsonpath".
	out = e.mustStrata("status", "--jsonpath", "$.deployments[0].booted")
	e.expectMatch("status --jsonpath", out, `true`)

	// Upstream's VM has the repo metadata cached from earlier tests;
	// here refresh-md caches it.
	e.mustStrata("refresh-md")

	// misc.sh "ok dbus ListRepos", "WhatProvides", "GetPackages", "Search":
	// the same calls through busctl, matched on its output format.
	out = e.busctl("call", busName, osPath, "org.projectatomic.rpmostree1.OS", "ListRepos")
	for _, want := range []string{`"id" s "demo-pkgs"`, `"description" s "`, `"is-devel" b false`, `"is-source" b false`, `"is-enabled" b true`} {
		if !strings.Contains(out, want) {
			t.Errorf("ListRepos lacks %s:\n%s", want, out)
		}
	}
	for _, c := range []struct{ method, arg, nevra string }{
		{"WhatProvides", "pkgconfig(demolib)", `"nevra" s "demo-lib`},
		{"GetPackages", "demo-extra", `"nevra" s "demo-extra`},
		{"Search", "demo-extra", `"nevra" s "demo-extra`},
	} {
		out = e.busctl("call", busName, osPath, "org.projectatomic.rpmostree1.OS", c.method, "as", "1", c.arg)
		for _, want := range []string{`"epoch" t 0`, `"reponame" s "demo-pkgs"`, c.nevra} {
			if !strings.Contains(out, want) {
				t.Errorf("%s %s lacks %s:\n%s", c.method, c.arg, want, out)
			}
		}
		out = e.busctl("call", busName, osPath, "org.projectatomic.rpmostree1.OS", c.method, "as", "1", "should-not-exist-p-equals-np")
		if !strings.Contains(out, "aa{sv} 0") {
			t.Errorf("%s of a missing package: want aa{sv} 0, got %s", c.method, out)
		}
	}

	// misc.sh "ok Search name match", "summary match", "name and summary
	// match", "glob pattern match".
	summary := func(name string) string { return name + " : " + name + " for the strata test fixture" }
	out = e.mustStrata("search", "demo-extra")
	e.expectMatch("search by name", out, `===== Name Matched =====`)
	e.expectMatch("search by name", out, summary("demo-extra"))
	out = e.mustStrata("search", "fixture")
	e.expectMatch("search by summary", out, `===== Summary Matched =====`)
	e.expectMatch("search by summary", out, summary("demo-extra"))
	out = e.mustStrata("search", "demo-extra", "fixture")
	e.expectMatch("search by name and summary", out, `===== Summary & Name Matched =====`)
	e.expectMatch("search by name and summary", out, summary("demo-extra"))
	out = e.mustStrata("search", "demo*")
	e.expectMatch("search with a glob", out, `===== Name Matched =====`)
	for _, name := range []string{"demo-extra", "demo-conf", "demo-scripts", "demo-postusr"} {
		e.expectMatch("search with a glob", out, summary(name))
	}

	// misc.sh "ok status doesn't require root", then: a non-root user may
	// neither layer a package nor reload the daemon.
	cli := filepath.Join(t.TempDir(), "strata")
	copyExecutable(t, bins.strata, cli)
	for _, dir := range []string{filepath.Dir(cli), filepath.Dir(filepath.Dir(cli))} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	asUser := e.asNobody()
	if out, err := asUser(cli, "status"); err != nil {
		t.Errorf("status as non-root: %v\n%s", err, out)
	}
	// misc.sh "ok worked without polkit": this host has no polkitd, as
	// upstream's after `systemctl mask --now polkit`; root may still
	// reload, a user may still read status, but a user's reload and
	// initramfs --enable get an authorization error (upstream's reason
	// names the masked unit; ours says polkit is not running).
	e.mustStrata("reload")
	for _, args := range [][]string{{"reload"}, {"initramfs", "--enable"}} {
		out, err := asUser(cli, args...)
		if err == nil {
			t.Errorf("Was able to %s as non-root!\n%s", strings.Join(args, " "), out)
			continue
		}
		e.expectMatch(strings.Join(args, " ")+" as non-root without polkit", out, `error: Authorization error:.*polkit is not running`)
	}

	// misc.sh "ok status text": StateRoot only with --verbose, and no
	// Unlocked: line on a host that is not unlocked.
	out = e.mustStrata("status")
	e.expectNoMatch("status", out, `StateRoot:`)
	e.expectNoMatch("status", out, `Unlocked:`)
	out = e.mustStrata("status", "-v")
	e.expectMatch("status -v", out, `StateRoot:`)

	// misc.sh "ok status -b".
	out = e.mustStrata("status", "-b")
	e.expectMatch("status -b", out, `BootedDeployment:`)

	// misc.sh "ok error on unknown command".
	out = e.mustFail("nosuchcommand", "--nosuchoption")
	e.expectMatch("an unknown command", out, `Unknown.*command`)

	// misc.sh "ok moo" and "ok reload".
	if out := e.mustStrata("testutils", "moo"); strings.TrimSpace(out) == "" {
		t.Errorf("testutils moo printed nothing")
	}
	e.mustStrata("reload")

	// misc.sh "ok unconfigured-state": an origin that says the host is not
	// set up refuses upgrades with the origin's own words.
	origins, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/*.origin"))
	if len(origins) != 1 {
		t.Fatalf("want one origin file, got %v", origins)
	}
	orig, err := os.ReadFile(origins[0])
	if err != nil {
		t.Fatal(err)
	}
	unconfigured := strings.TrimRight(string(orig), "\n") + "\nunconfigured-state=Access to TestOS requires ONE BILLION DOLLARS\n"
	if err := os.WriteFile(origins[0], []byte(unconfigured), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
	e.mustStrata("status")
	out = e.mustFail("upgrade")
	e.expectMatch("upgrade from an unconfigured state", out, `ONE BILLION DOLLARS`)
	if err := os.WriteFile(origins[0], orig, 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
}

// misc.sh "Verify operations as non-root", with polkit running: polkit's
// no to a user's pkg-add is worded as rpm-ostreed words it.
func TestUpstreamMiscPolkitRefusal(t *testing.T) {
	e := newPolkitEnv(t)
	out, err := e.as(polkitDeniedUser, e.cli, "pkg-add", "foo")
	if err == nil {
		t.Fatalf("Was able to install a package as non-root!\n%s", out)
	}
	e.expectMatch("pkg-add as non-root", out, `PkgChange not allowed for user`)
	if out, err := e.as(polkitDeniedUser, e.cli, "reload"); err == nil {
		t.Errorf("Was able to reload as non-root!\n%s", out)
	}
}

// rpm-ostree writes a rebased deployment's origin without the old one's
// unconfigured-state, so a rebase is how a host leaves that state: after
// it, upgrade works again. (On a host not booted from its sysroot, so the
// new origin file is on disk to read.)
func TestRebaseLeavesUnconfiguredState(t *testing.T) {
	e := newEnv(t, envOptions{})
	origins, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/*.origin"))
	if len(origins) != 1 {
		t.Fatalf("want one origin file, got %v", origins)
	}
	orig, err := os.ReadFile(origins[0])
	if err != nil {
		t.Fatal(err)
	}
	unconfigured := strings.TrimRight(string(orig), "\n") + "\nunconfigured-state=Access to TestOS requires ONE BILLION DOLLARS\n"
	if err := os.WriteFile(origins[0], []byte(unconfigured), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
	e.expectMatch("upgrade from an unconfigured state", e.mustFail("upgrade"), `ONE BILLION DOLLARS`)

	refspec, _ := e.rawDeployments()[0]["origin"].(string)
	e.mustStrata("rebase", refspec)
	after, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/*.origin"))
	if len(after) != 2 {
		t.Fatalf("want two origin files after the rebase, got %v", after)
	}
	for _, f := range after {
		if f == origins[0] {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "unconfigured-state") {
			t.Errorf("the rebased deployment's origin keeps unconfigured-state:\n%s", b)
		}
	}
	e.mustStrata("upgrade")
}

// misc.sh "ok remote not found": status says so when the remote the host
// follows is gone (upstream moves /etc/ostree/remotes.d away; here the
// remote is deleted from the host's repo, on a fresh host).
func TestUpstreamMiscRemoteNotFound(t *testing.T) {
	e := newEnv(t, envOptions{})
	refspec, _ := e.rawDeployments()[0]["origin"].(string)
	remote, _, ok := strings.Cut(refspec, ":")
	if !ok {
		t.Fatalf("origin %q has no remote", refspec)
	}
	e.expectNoMatch("status", e.mustStrata("status"), `Remote.*not found`)
	if out, err := exec.CommandContext(e.ctx, "ostree", "remote", "delete", "--repo="+filepath.Join(e.host.Sysroot, "ostree/repo"), remote).CombinedOutput(); err != nil {
		t.Fatalf("ostree remote delete: %v\n%s", err, out)
	}
	e.mustStrata("reload")
	e.expectMatch("status", e.mustStrata("status"), `Remote.*not found`)
}
