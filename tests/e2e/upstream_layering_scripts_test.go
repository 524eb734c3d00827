package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-layering-scripts.sh on one
// host. Upstream builds its packages on the fly; ours are built here with
// rpmbuild and installed as local files. The demo base's shell is busybox
// with a few applets linked (cat, echo, mkdir, rm, touch, ls, test, true,
// false); the scriptlets call the others as `busybox APPLET`. Upstream
// reboots or runs `ex livefs` to read what a scriptlet wrote; here the new
// default deployment's checkout is read. Between cases `rollback` makes the
// base deployment the default again (upstream's `cleanup -p`).
func TestUpstreamLayeringScripts(t *testing.T) {
	e := newLayeringEnv(t)
	pkg := func(name string, p fixture.Package) fixture.Package {
		p.Name, p.Version = name, "1.0"
		if p.Files == "" {
			// rpmbuild wants a package to own something.
			p.Install = "mkdir -p %{buildroot}/usr/share/" + name + "\necho " + name + " > %{buildroot}/usr/share/" + name + "/README\n" + p.Install
			p.Files = "/usr/share/" + name + "\n"
		}
		return p
	}
	rpms, err := fixture.BuildPackages(e.ctx, t.TempDir(), []fixture.Package{
		pkg("scriptpkg1", fixture.Package{
			// rpm-ostree ignores %pretrans (rpm-ecosystem, August 2016).
			Pretrans: "echo i should have been ignored && exit 1",
			// The host's /tmp and /var/tmp must not be the scriptlets'.
			Posttrans: `for path in /tmp /var/tmp; do
  if test -f ${path}/file-in-host-tmp-not-for-scripts; then
    echo found file from host /tmp
    exit 1
  fi
done`,
		}),
		pkg("postorder1", fixture.Package{
			Post:      "touch /usr/share/postorder1.post",
			Posttrans: "test -f /usr/share/postorder1.post && test -f /usr/share/postorder2.post",
		}),
		pkg("postorder2", fixture.Package{
			Requires:  []string{"postorder1"},
			Post:      "touch /usr/share/postorder2.post",
			Posttrans: "test -f /usr/share/postorder1.post && test -f /usr/share/postorder2.post",
		}),
		pkg("luapkg", fixture.Package{PostArgs: "-p <lua>", Post: `posix.stat("/")`}),
		// Upstream appends to /usr/share/rpm-ostree/treefile.json; the
		// demo base's file in /usr/share is demo-tools' README.
		pkg("rofiles-copyup", fixture.Package{Post: "echo XXXcopyupXXX >> /usr/share/demo-tools/README"}),
		pkg("rofiles-copyup-overwrite", fixture.Package{
			Requires:  []string{"rofiles-copyup"},
			Posttrans: "echo XXXoverwriteXXX > /usr/share/demo-tools/README",
		}),
		pkg("rmrf", fixture.Package{Post: "busybox rm -rf / >/dev/null 2>&1 || true"}),
		// Upstream prints capsh --print; the demo base has no capsh, and
		// the kernel's view of the same sets is /proc/self/status.
		pkg("test-cap-drop", fixture.Package{Post: "cat /proc/self/status > /usr/share/rpmostree-capsh.txt"}),
		// Upstream truncates /etc/selinux/config; the demo base's config
		// file is /etc/demo.conf.
		pkg("etc-mutate", fixture.Package{Post: "echo -n > /etc/demo.conf"}),
		pkg("test-systemd-offline", fixture.Package{Post: `test "${SYSTEMD_OFFLINE}" = 1`}),
		pkg("etc-copy", fixture.Package{Post: `busybox cp /etc/demo.conf /etc/demo.conf.new
echo '# etc-copy comment' >> /etc/demo.conf.new
busybox mv /etc/demo.conf.new /etc/demo.conf`}),
	})
	if err != nil {
		t.Fatal(err)
	}
	rpm := func(name string) string { return rpms[name+"-1.0-1.noarch.rpm"] }
	base := e.rawDeployments()[0]["checksum"]
	backTo := func(prev any) {
		t.Helper()
		e.mustStrata("rollback")
		if got := e.rawDeployments()[0]["checksum"]; got != prev {
			t.Fatalf("after rollback the default deployment is %v, want %v", got, prev)
		}
	}
	backToBase := func() { t.Helper(); backTo(base) }

	// "ok pkg-add scriptpkg1", "ok pkg scriptpkg1 added" and "ok no
	// embarrassing crud leftover": %pretrans is skipped, %posttrans does
	// not see the host's /tmp.
	hostTmp := "/tmp/file-in-host-tmp-not-for-scripts"
	if err := os.WriteFile(hostTmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hostTmp) })
	e.mustStrata("pkg-add", rpm("scriptpkg1"))
	d := e.rawDeployments()[0]
	e.expectJQ(contains(jqStrings(d, "requested-local-packages"), "scriptpkg1-1.0-1.noarch"), `.deployments[0]["requested-local-packages"]|index("scriptpkg1-1.0-1.noarch")`, d)
	if _, err := os.Stat(filepath.Join(e.deploymentDir(0), "usr/scriptpkg1.posttrans")); err == nil {
		t.Errorf("the deployment has a leftover usr/scriptpkg1.posttrans")
	}
	e.fsck()
	backToBase()

	// "ok post ordering": every %post runs before any %posttrans, and
	// %post may create files in /usr.
	e.mustStrata("install", rpm("postorder1"), rpm("postorder2"))
	for _, f := range []string{"usr/share/postorder1.post", "usr/share/postorder2.post"} {
		if _, err := os.Stat(filepath.Join(e.deploymentDir(0), f)); err != nil {
			t.Errorf("the deployment lacks %s, which a %%post created: %v", f, err)
		}
	}
	backToBase()

	// "ok lua %post".
	out := e.mustFail("install", rpm("luapkg"))
	e.expectMatch("install of a package with a Lua %post", out, `unsupported <lua> script in '%post'`)

	// "ok copyup scriptlets": a %post may change a base file in /usr (on a
	// copy: the object store stays intact), a later %posttrans overwrite it.
	e.mustStrata("install", rpm("rofiles-copyup"))
	e.expectMatch("the deployment's README", e.readDeploymentFile(0, "usr/share/demo-tools/README"), `XXXcopyupXXX`)
	e.mustStrata("install", rpm("rofiles-copyup-overwrite"))
	readme := e.readDeploymentFile(0, "usr/share/demo-tools/README")
	e.expectMatch("the deployment's README", readme, `XXXoverwriteXXX`)
	e.expectNoMatch("the deployment's README", readme, `XXXcopyupXXX`)
	e.fsck()
	e.mustStrata("uninstall", "rofiles-copyup", "rofiles-copyup-overwrite")
	e.expectNoMatch("the README after uninstall", e.readDeploymentFile(0, "usr/share/demo-tools/README"), `XXX`)
	// The next cases start from this deployment, which layers nothing.
	current := e.rawDeployments()[0]["checksum"]

	// "ok impervious to rm -rf post": the host's files survive, and the
	// wrecked tree is refused rather than deployed.
	hostFile := filepath.Join(e.dir, "somedata")
	if err := os.WriteFile(hostFile, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = e.mustFail("install", rpm("rmrf"))
	e.expectMatch("install of rmrf", out, `error: sanitycheck: Executing bwrap\(/usr/bin/true\)`)
	for _, f := range []string{hostFile, "/etc/fstab", filepath.Join(e.deploymentDir(0), "usr/bin/true")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after a %%post doing rm -rf /, %s is gone: %v", f, err)
		}
	}
	if got := e.rawDeployments()[0]["checksum"]; got != current {
		t.Errorf("the failed install changed the default deployment to %v", got)
	}
	e.fsck()

	// capabilities: the scriptlet has no CAP_SYS_ADMIN (bit 21).
	e.mustStrata("install", rpm("test-cap-drop"))
	status := e.readDeploymentFile(0, "usr/share/rpmostree-capsh.txt")
	for _, line := range strings.Split(status, "\n") {
		set, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(set), 16, 64)
		if err != nil {
			t.Fatalf("CapEff line %q: %v", line, err)
		}
		if caps&(1<<21) != 0 {
			t.Errorf("a scriptlet runs with cap_sys_admin: %s", line)
		}
	}
	e.expectMatch("the scriptlet's /proc/self/status", status, `^CapEff:`)
	backTo(current)

	// etc-mutate: a %post may change a base /etc file, and the package
	// can be removed again.
	e.mustStrata("install", rpm("etc-mutate"))
	e.mustStrata("uninstall", "etc-mutate")
	e.expectMatch("/etc/demo.conf after uninstalling etc-mutate", e.readDeploymentFile(0, "etc/demo.conf"), `greeting=hello`)

	// SYSTEMD_OFFLINE.
	e.mustStrata("install", rpm("test-systemd-offline"))
	e.mustStrata("uninstall", "test-systemd-offline")

	// "ok etc rofiles": a %post replacing a base /etc file by rename.
	e.mustStrata("install", rpm("etc-copy"))
	e.expectMatch("the new deployment's /etc/demo.conf", e.readDeploymentFile(0, "etc/demo.conf"), `etc-copy`)
	e.expectMatch("the new deployment's /etc/demo.conf", e.readDeploymentFile(0, "etc/demo.conf"), `greeting=hello`)
	e.fsck()
}
