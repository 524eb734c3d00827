package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/client"
	"github.com/strata-os/strata/tests/fixture"
)

// rpm-ostree parity, the rest of issue 13: custom origins, initramfs and
// initramfs-etc, ModifyYumRepo and repo replacements.

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRebaseCustomOrigin: a rebase to a commit checksum records the custom
// origin given with it; status shows it as rpm-ostree does (the URL as the
// deployment's name, a CustomOrigin: line, "custom-origin": [url, text]),
// and a rebase back to a ref drops it.
func TestRebaseCustomOrigin(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	v2 := e.host.Versions["2.0"]
	const url, desc = "pantheon://builds/42", "Build 42 of the pantheon pipeline"

	e.expectFailure("--custom-origin-description must be supplied with --custom-origin-url",
		"rebase", "--custom-origin-url="+url, v2)

	e.mustStrata("rebase", "--custom-origin-url="+url, "--custom-origin-description="+desc, v2)
	d := e.rawDeployments()[0]
	if d["checksum"] != v2 || d["origin"] != v2 {
		t.Fatalf("after rebase to %s: checksum %v origin %v", v2, d["checksum"], d["origin"])
	}
	if got, want := jsonString(d["custom-origin"]), jsonString([]string{url, desc}); got != want {
		t.Errorf("custom-origin = %s, want %s", got, want)
	}
	human := e.mustStrata("status")
	for _, want := range []string{"  " + url + "\n", "CustomOrigin: " + desc + "\n"} {
		if !strings.Contains(human, want) {
			t.Errorf("status lacks %q:\n%s", want, human)
		}
	}

	// A rebase to a ref names its origin itself: the custom one goes.
	e.mustStrata("rebase", stableRefspec)
	d = e.rawDeployments()[0]
	if _, ok := d["custom-origin"]; ok || d["origin"] != stableRefspec {
		t.Errorf("after rebase to %s: origin %v custom-origin %v", stableRefspec, d["origin"], d["custom-origin"])
	}
	human = e.mustStrata("status")
	if first, _, _ := strings.Cut(human, "\n\n"); strings.Contains(first, "CustomOrigin") || !strings.Contains(human, "CustomOrigin: "+desc) {
		t.Errorf("want the custom origin on the rollback deployment only:\n%s", human)
	}
}

// TestModifyYumRepo disables and re-enables the fixture's repo over the bus
// (rpm-ostree has no CLI command for it) and checks the refusals: a key
// other than enabled and a bad value before any transaction, an unknown
// repo id as the transaction's error.
func TestModifyYumRepo(t *testing.T) {
	e := newEnv(t, envOptions{packages: true})
	c, err := client.ConnectAddress(e.ctx, e.bus.Address, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o, err := c.OS(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	obj := c.Conn().Object(busName, osPath)
	enabled := func() any {
		t.Helper()
		var repos []map[string]dbus.Variant
		if err := obj.Call("org.projectatomic.rpmostree1.OS.ListRepos", 0).Store(&repos); err != nil || len(repos) != 1 {
			t.Fatalf("ListRepos = %v, %v", repos, err)
		}
		return repos[0]["is-enabled"].Value()
	}
	modify := func(id string, settings map[string]string) error {
		t.Helper()
		txn, err := o.ModifyYumRepo(e.ctx, id, settings)
		if err != nil {
			return err
		}
		return txn.Run(e.ctx, nil)
	}
	repoFile := filepath.Join(e.deploymentDir(0), "etc/yum.repos.d", fixture.PackageRepoID+".repo")
	before, err := os.ReadFile(repoFile)
	if err != nil {
		t.Fatal(err)
	}

	if err := modify(fixture.PackageRepoID, map[string]string{"enabled": "0"}); err != nil {
		t.Fatalf("ModifyYumRepo(enabled=0): %v", err)
	}
	if got := enabled(); got != false {
		t.Errorf("is-enabled after enabled=0: %v", got)
	}
	after, _ := os.ReadFile(repoFile)
	if !strings.Contains(string(after), "enabled=0") {
		t.Errorf("%s lacks enabled=0:\n%s", repoFile, after)
	}
	// Installing from a disabled repo fails as with dnf: the package is
	// not found.
	if _, stderr, code := e.strata("install", "demo-extra"); code == 0 || !strings.Contains(stderr, "Packages not found: demo-extra") {
		t.Errorf("install from a disabled repo: exit %d\n%s", code, stderr)
	}

	if err := modify(fixture.PackageRepoID, map[string]string{"enabled": "1"}); err != nil {
		t.Fatalf("ModifyYumRepo(enabled=1): %v", err)
	}
	if got := enabled(); got != true {
		t.Errorf("is-enabled after enabled=1: %v", got)
	}
	if after, _ := os.ReadFile(repoFile); strings.Count(string(after), "enabled=") != max(1, strings.Count(string(before), "enabled=")) {
		t.Errorf("repo file grew a second enabled= line:\n%s", after)
	}

	for _, c := range []struct {
		id       string
		settings map[string]string
		want     string
	}{
		{fixture.PackageRepoID, map[string]string{"gpgcheck": "0"}, "Changing 'gpgcheck' not allowed in yum .repo files"},
		{fixture.PackageRepoID, map[string]string{"enabled": "yes"}, "Only '0' and '1' are allowed for the 'enabled' key"},
		{"no-such-repo", map[string]string{"enabled": "0"}, "Yum repo 'no-such-repo' not found"},
	} {
		err := modify(c.id, c.settings)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ModifyYumRepo(%s, %v) = %v, want %q", c.id, c.settings, err, c.want)
		}
	}
	if got := enabled(); got != true {
		t.Errorf("refused calls changed the repo: is-enabled %v", got)
	}
}

// defaultBootEntry is the text of the default deployment's boot loader
// entry (the highest version), as libostree wrote it.
func (e *env) defaultBootEntry() string {
	e.t.Helper()
	entries, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "boot/loader/entries/ostree-*.conf"))
	best, bestVersion := "", -1
	for _, path := range entries {
		b, err := os.ReadFile(path)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "version "); ok {
				if n, _ := strconv.Atoi(strings.TrimSpace(v)); n > bestVersion {
					best, bestVersion = string(b), n
				}
			}
		}
	}
	return best
}

// overlayInitrd returns the path (below the sysroot's /boot) of the
// overlay initrd the default boot entry loads, "" when it loads none. The
// tree's own initramfs, if any, comes first; an overlay is one of
// libostree's initramfs-overlays.
func (e *env) overlayInitrd() string {
	e.t.Helper()
	for _, line := range strings.Split(e.defaultBootEntry(), "\n") {
		if p, ok := strings.CutPrefix(line, "initrd "); ok && strings.Contains(p, "initramfs-overlays/") {
			return filepath.Join(e.host.Sysroot, "boot", strings.TrimSpace(p))
		}
	}
	return ""
}

// unpackInitrd unpacks a gzip'd cpio archive with the real tools.
func (e *env) unpackInitrd(path string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	cmd := exec.CommandContext(e.ctx, "sh", "-c", `gzip -dc "$1" | cpio -idm --quiet`, "sh", path)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("unpacking %s: %v\n%s", path, err, out)
	}
	return dir
}

// TestInitramfsEtc ports rpm-ostree's initramfs-etc checks: tracked /etc
// files go into an overlay initramfs that the new boot entry loads, the
// origin and status say which, a no-op deploys nothing, paths outside /etc
// are refused, other deployments (kargs) keep the overlay, --force-sync
// picks up new contents and --untrack-all drops it.
func TestInitramfsEtc(t *testing.T) {
	e := newEnv(t, envOptions{})
	etc := filepath.Join(e.deploymentDir(0), "etc")
	if err := os.MkdirAll(filepath.Join(etc, "cmdline.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(etc, "cmdline.d/foobar.conf")
	if err := os.WriteFile(conf, []byte("rd.foobar=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if out := e.mustStrata("initramfs-etc"); out != "No tracked files.\n" {
		t.Errorf("initramfs-etc with nothing tracked: %q", out)
	}
	e.expectFailure("Path outside /etc forbidden: /usr/lib/foo", "initramfs-etc", "--track=/usr/lib/foo")
	e.expectFailure("/etc/no-such-file", "initramfs-etc", "--track=/etc/no-such-file")

	out := e.mustStrata("initramfs-etc", "--track=/etc/cmdline.d/foobar.conf")
	if !strings.Contains(out, `Run "systemctl reboot" to start a reboot`) {
		t.Errorf("initramfs-etc --track output lacks the reboot hint:\n%s", out)
	}
	d := e.rawDeployments()
	if len(d) != 2 || jsonString(d[0]["initramfs-etc"]) != `["/etc/cmdline.d/foobar.conf"]` {
		t.Fatalf("after --track: %d deployments, initramfs-etc %v", len(d), d[0]["initramfs-etc"])
	}
	if human := e.mustStrata("status"); !strings.Contains(human, "InitramfsEtc: /etc/cmdline.d/foobar.conf") {
		t.Errorf("status lacks the InitramfsEtc line:\n%s", human)
	}
	if out := e.mustStrata("initramfs-etc"); out != "Tracked files:\n  /etc/cmdline.d/foobar.conf\n" {
		t.Errorf("initramfs-etc listing: %q", out)
	}
	origin, _ := os.ReadFile(e.deploymentDir(0) + ".origin")
	if !strings.Contains(string(origin), "[rpmostree]\ninitramfs-etc=/etc/cmdline.d/foobar.conf;\n") {
		t.Errorf("origin:\n%s", origin)
	}
	overlay := e.overlayInitrd()
	if overlay == "" {
		t.Fatalf("the new boot entry loads no overlay initrd:\n%s", e.defaultBootEntry())
	}
	unpacked := e.unpackInitrd(overlay)
	if b, err := os.ReadFile(filepath.Join(unpacked, "etc/cmdline.d/foobar.conf")); err != nil || string(b) != "rd.foobar=1\n" {
		t.Errorf("overlay initrd's etc/cmdline.d/foobar.conf = %q, %v", b, err)
	}

	// Tracking it again changes nothing and deploys nothing.
	out, _, code := e.strata("initramfs-etc", "--track=/etc/cmdline.d/foobar.conf", "--unchanged-exit-77")
	if code != 77 || !strings.Contains(out, "No changes.") {
		t.Errorf("tracking again: exit %d, want 77 and \"No changes.\"\n%s", code, out)
	}

	// A deployment made for another reason keeps the overlay.
	e.mustStrata("kargs", "--append=strata.test=1")
	if got := e.overlayInitrd(); got != overlay {
		t.Errorf("after kargs the entry loads overlay %q, want %q:\n%s", got, overlay, e.defaultBootEntry())
	}

	// --force-sync picks up new contents of the tracked file (from the
	// merge deployment's /etc, which is the running /etc on a booted host).
	conf = filepath.Join(e.deploymentDir(0), "etc/cmdline.d/foobar.conf")
	if err := os.WriteFile(conf, []byte("rd.foobar=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("initramfs-etc", "--force-sync")
	synced := e.overlayInitrd()
	if synced == overlay {
		t.Errorf("--force-sync kept the old overlay %s", overlay)
	}
	if b, _ := os.ReadFile(filepath.Join(e.unpackInitrd(synced), "etc/cmdline.d/foobar.conf")); string(b) != "rd.foobar=2\n" {
		t.Errorf("after --force-sync the overlay has %q", b)
	}

	e.mustStrata("initramfs-etc", "--untrack-all")
	if got := e.overlayInitrd(); got != "" {
		t.Errorf("after --untrack-all the entry still loads %s", got)
	}
	if d := e.rawDeployments(); jsonString(d[0]["initramfs-etc"]) != "[]" {
		t.Errorf("after --untrack-all: initramfs-etc %v", d[0]["initramfs-etc"])
	}
}

// standInDracut stands in for dracut in a test base: the demo tree's shell
// is busybox, on which the real dracut cannot run. It writes, as the image,
// the arguments it was given, so the test sees what strata asked for.
const standInDracut = `#!/usr/bin/sh
all="$*"
out=
while [ $# -gt 0 ]; do
  case "$1" in -f) out="$2"; shift ;; esac
  shift
done
[ -n "$out" ] || { echo "no -f OUTPUT" >&2; exit 1; }
echo "stand-in initramfs: $all" > "$out"
`

// TestInitramfsRegeneration ports rpm-ostree's initramfs checks: enabling
// is refused before anything changes when the tree has no dracut; on a
// base with one, the tree's dracut runs (with --kver and the --arg
// arguments) and its image becomes the deployment's initramfs; status and
// `initramfs` say so in rpm-ostree's words; --disable goes back to the
// base's own.
func TestInitramfsRegeneration(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.expectFailure("the deployment has no dracut", "initramfs", "--enable")
	if out := e.mustStrata("initramfs"); out != "Initramfs regeneration: disabled\n" {
		t.Errorf("initramfs before enabling: %q", out)
	}

	if _, err := e.host.CommitVersion(e.ctx, fixture.StableRef, "2.1", map[string]string{"usr/bin/dracut": standInDracut}); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("upgrade")
	base := e.host.Versions["2.1"]

	out := e.mustStrata("initramfs", "--enable", "--arg=-I", "--arg=/etc/foobar.conf")
	if !strings.Contains(out, "Initramfs regeneration is now: enabled") {
		t.Errorf("initramfs --enable output:\n%s", out)
	}
	d := e.rawDeployments()[0]
	if d["regenerate-initramfs"] != true || jsonString(d["initramfs-args"]) != `["-I","/etc/foobar.conf"]` || d["base-checksum"] != base {
		t.Errorf("after --enable: regenerate-initramfs %v, initramfs-args %v, base-checksum %v (want %s)",
			d["regenerate-initramfs"], d["initramfs-args"], d["base-checksum"], base)
	}
	if human := e.mustStrata("status"); !strings.Contains(human, "Initramfs: -I /etc/foobar.conf\n") {
		t.Errorf("status lacks the Initramfs line:\n%s", human)
	}
	if out := e.mustStrata("initramfs"); out != "Initramfs regeneration: enabled\nInitramfs args: -I /etc/foobar.conf \n" {
		t.Errorf("initramfs after enabling: %q", out)
	}
	imgs, _ := filepath.Glob(filepath.Join(e.deploymentDir(0), "usr/lib/modules/*/initramfs.img"))
	if len(imgs) != 1 {
		t.Fatalf("the new deployment has %d initramfs images, want 1", len(imgs))
	}
	kver := filepath.Base(filepath.Dir(imgs[0]))
	img, _ := os.ReadFile(imgs[0])
	for _, want := range []string{"--kver " + kver, "--no-hostonly", "-I /etc/foobar.conf"} {
		if !strings.Contains(string(img), want) {
			t.Errorf("the tree's dracut was not given %q: %s", want, img)
		}
	}
	// And libostree put that image into the boot entry.
	var bootImg string
	for _, line := range strings.Split(e.defaultBootEntry(), "\n") {
		if p, ok := strings.CutPrefix(line, "initrd "); ok {
			bootImg = filepath.Join(e.host.Sysroot, "boot", strings.TrimSpace(p))
		}
	}
	if b, err := os.ReadFile(bootImg); err != nil || string(b) != string(img) {
		t.Errorf("boot entry's initrd %q = %q, %v; want the regenerated image", bootImg, b, err)
	}

	out = e.mustStrata("initramfs", "--disable")
	if !strings.Contains(out, "Initramfs regeneration is now: disabled\nInitramfs will be reset to default on next reboot.\n") {
		t.Errorf("initramfs --disable output:\n%s", out)
	}
	d = e.rawDeployments()[0]
	if d["regenerate-initramfs"] != false || d["checksum"] != base {
		t.Errorf("after --disable: regenerate-initramfs %v, checksum %v (want the plain base %s)", d["regenerate-initramfs"], d["checksum"], base)
	}
	// The base's own image (the demo kernel package ships one) is back.
	if b, _ := os.ReadFile(filepath.Join(e.deploymentDir(0), "usr/lib/modules", kver, "initramfs.img")); strings.Contains(string(b), "stand-in") {
		t.Errorf("after --disable the deployment still has the regenerated image: %s", b)
	}

	// rpm-ostree's `reset --initramfs` (option no-initramfs) turns it off
	// too, and keeps everything else.
	e.mustStrata("initramfs", "--enable")
	e.mustStrata("reset", "--initramfs")
	d = e.rawDeployments()[0]
	if d["regenerate-initramfs"] != false || d["checksum"] != base {
		t.Errorf("after reset --initramfs: regenerate-initramfs %v, checksum %v (want the plain base %s)", d["regenerate-initramfs"], d["checksum"], base)
	}
	if out := e.mustStrata("reset", "--initramfs"); !strings.Contains(out, "No change.") {
		t.Errorf("a second reset --initramfs: %q, want No change.", out)
	}
}

// TestOverrideReplaceFromRepo ports rpm-ostree's remote override checks:
// `override replace --experimental --from repo=ID PKG` replaces a base
// package with the repo's version; the origin, status JSON
// (requested-base-remote-replacements, base-remote-replacements) and the
// RemoteOverrides: lines say so; `override reset` goes back to the base.
func TestOverrideReplaceFromRepo(t *testing.T) {
	e := newEnv(t, envOptions{})
	built := e.demoTools11(filepath.Join(e.dir, "updates-build"), "demo-tool 1.1", "Tools from the updates repo.")
	repoDir := filepath.Join(e.dir, "updates")
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(built, filepath.Join(repoDir, filepath.Base(built))); err != nil {
		t.Fatal(err)
	}
	if err := fixture.CreateRepo(e.ctx, repoDir); err != nil {
		t.Fatal(err)
	}
	srv, err := fixture.Serve(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := e.host.InstallRepoFile("updates", srv.URL); err != nil {
		t.Fatal(err)
	}
	base := e.host.Versions["1.0"]

	e.expectFailure("Must specify --experimental to use --freeze or --from", "override", "replace", "--from", "repo=updates", "demo-tools")
	e.expectFailure("Invalid kind 'copr'", "override", "replace", "--experimental", "--from", "copr=x", "demo-tools")
	e.expectFailure(`package "demo-base-files" not found in repo "updates"`, "override", "replace", "--experimental", "--from", "repo=updates", "demo-base-files")

	out := e.mustStrata("override", "replace", "--experimental", "--from", "repo=updates", "demo-tools")
	if !strings.Contains(out, "Replacing base package with: demo-tools-1.1-1.noarch") {
		t.Errorf("override replace output lacks the replacement:\n%s", out)
	}
	d := e.rawDeployments()[0]
	if d["base-checksum"] != base {
		t.Errorf("base-checksum = %v, want %s", d["base-checksum"], base)
	}
	if got := jsonString(d["requested-base-remote-replacements"]); got != `[["repo=updates",["demo-tools"]]]` {
		t.Errorf("requested-base-remote-replacements = %s", got)
	}
	if got := jsonString(d["base-remote-replacements"]); !strings.Contains(got, `"repo=updates":[[["demo-tools-1.1-1.noarch","demo-tools",0,"1.1","1","noarch"],["demo-tools-1.0-1.noarch","demo-tools",0,"1.0","1","noarch"]]]`) {
		t.Errorf("base-remote-replacements = %s", got)
	}
	human := e.mustStrata("status")
	if !strings.Contains(human, "RemoteOverrides: repo=updates\n") || !strings.Contains(human, "└─ demo-tools 1.0-1 -> 1.1-1\n") {
		t.Errorf("status lacks the RemoteOverrides lines:\n%s", human)
	}
	origin, _ := os.ReadFile(e.deploymentDir(0) + ".origin")
	if !strings.Contains(string(origin), "[overrides]\nreplace=repo=updates,demo-tools;\n") {
		t.Errorf("origin:\n%s", origin)
	}
	if b, _ := os.ReadFile(filepath.Join(e.deploymentDir(0), "usr/bin/demo-tool")); !strings.Contains(string(b), "demo-tool 1.1") {
		t.Errorf("usr/bin/demo-tool of the new deployment = %q, want the 1.1 one", b)
	}
	e.expectCleanRpmdb(dictString(d, "checksum"), e.deploymentDir(0), "demo-tools-1.1-1.noarch")

	e.mustStrata("override", "reset", "demo-tools")
	d = e.rawDeployments()[0]
	if d["checksum"] != base || d["base-remote-replacements"] == nil || jsonString(d["base-remote-replacements"]) != "{}" {
		t.Errorf("after reset: checksum %v (want the base %s), base-remote-replacements %v", d["checksum"], base, d["base-remote-replacements"])
	}
	if b, _ := os.ReadFile(filepath.Join(e.deploymentDir(0), "usr/bin/demo-tool")); !strings.Contains(string(b), "demo-tool 1.0") {
		t.Errorf("after reset usr/bin/demo-tool = %q, want the base's", b)
	}
}

func dictString(d map[string]any, key string) string { s, _ := d[key].(string); return s }
