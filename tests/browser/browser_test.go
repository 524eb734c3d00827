// Package browser tests strata's Cockpit page (cockpit/) as an administrator
// uses it: Debian's cockpit-ws serves it from a local session whose bridge
// talks to a private system bus with a real stratad on the demo host, and
// Debian's headless chromium, driven over the DevTools protocol (chromedp),
// clicks through it. Nothing is faked: the page's D-Bus calls and
// transactions reach the daemon exactly as on a host.
package browser

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/tests/fixture"
)

// chromium is Debian's browser binary (package chromium).
const chromium = "/usr/bin/chromium"

// nobody is the unprivileged user the "not authorized" case runs Cockpit as.
const nobody = 65534

var outDir = flag.String("out", "", "directory for the screenshots (default: the test's temp dir, removed afterwards)")

// bins are the binaries under test: $STRATA_BIN (make test builds them), or
// built by TestMain into a temp dir.
var bins struct{ strata, stratad, root string }

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Println("browser: tests need root (OSTree sysroots, a system bus); skipping")
		os.Exit(0)
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return 0, fmt.Errorf("finding module root: %w", err)
	}
	bins.root = filepath.Dir(strings.TrimSpace(string(out)))
	dir := os.Getenv("STRATA_BIN")
	if dir == "" {
		tmp, err := os.MkdirTemp("", "strata-browser-bin-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(tmp)
		if err := fixture.BuildCommands(tmp, "strata", "stratad"); err != nil {
			return 0, err
		}
		dir = tmp
	}
	bins.strata = filepath.Join(dir, "strata")
	bins.stratad = filepath.Join(dir, "stratad")
	for _, p := range []string{bins.strata, bins.stratad, chromium, fixture.CockpitWS} {
		if _, err := os.Stat(p); err != nil {
			return 0, fmt.Errorf("%w (make deps installs chromium and cockpit-ws; make build the binaries)", err)
		}
	}
	return m.Run(), nil
}

// world is one test's demo host, bus, polkitd, daemon and Cockpit.
type world struct {
	t       *testing.T
	ctx     context.Context
	dir     string
	host    *fixture.Host
	bus     *fixture.Bus
	daemon  *fixture.Daemon
	cockpit *fixture.Cockpit
	shots   string
	image   string // the registry's OS image, with worldOptions.registry
}

// worldOptions shape a world beyond the plain demo host.
type worldOptions struct {
	// booted runs stratad on the host booted from its deployment
	// (fixture.StartBootedDaemon), so new deployments are staged.
	booted bool
	// registry serves the host's OS 1.0 as the container image os:stable
	// from a loopback registry stratad trusts; world.image names it.
	registry bool
}

func newWorld(t *testing.T, opts worldOptions) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, dir: t.TempDir(), shots: *outDir}
	if w.shots == "" {
		w.shots = filepath.Join(w.dir, "screenshots")
	}
	if err := os.MkdirAll(w.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	host, err := fixture.BuildHost(ctx, filepath.Join(w.dir, "host"), fixture.Options{HTTP: true})
	if err != nil {
		t.Fatalf("building host: %v", err)
	}
	t.Cleanup(func() { host.Close() })
	w.host = host
	pkgs, err := fixture.BuildPackageRepo(ctx, filepath.Join(w.dir, "pkgs"))
	if err != nil {
		t.Fatalf("building package repo: %v", err)
	}
	t.Cleanup(func() { pkgs.Close() })
	if err := host.InstallRepoFile(fixture.PackageRepoID, pkgs.URL); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(bins.root, "dbus-policy", "org.projectatomic.rpmostree1.conf")
	bus, err := fixture.StartBus(ctx, filepath.Join(w.dir, "bus"), policy, fixture.PolkitBusPolicy)
	if err != nil {
		t.Fatalf("starting bus: %v", err)
	}
	t.Cleanup(func() { bus.Stop() })
	w.bus = bus
	// polkitd with strata's actions and no rules: a user who is not root
	// gets the policy's auth_admin, and without an agent that is a no.
	pk, err := fixture.StartPolkit(ctx, bus, filepath.Join(w.dir, "polkit"), fixture.PolkitConfig{
		Actions: []string{filepath.Join(bins.root, "dbus-policy", "org.projectatomic.rpmostree1.policy")},
	})
	if err != nil {
		t.Fatalf("starting polkitd: %v", err)
	}
	t.Cleanup(func() { pk.Stop() })
	// Transaction sockets live in the run dir and must fit a sun_path:
	// not under the test's long temp dir.
	runDir, err := os.MkdirTemp("", "strata-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	var extra []string
	if opts.registry {
		extra = append(extra, "--containers-root="+w.startRegistry())
	}
	var d *fixture.Daemon
	if opts.booted {
		extra = append(extra, "--reboot-command=true")
		// The booted namespace sees the host's temp dir but not the
		// worktree's bin/: run a copy from there.
		stratad := filepath.Join(runDir, "stratad")
		copyExecutable(t, bins.stratad, stratad)
		d, err = fixture.StartBootedDaemon(ctx, stratad, bus, host, runDir, nil, extra...)
	} else {
		d, err = fixture.StartDaemon(ctx, bins.stratad, bus, host.Sysroot, runDir, nil, extra...)
	}
	if err != nil {
		t.Fatalf("starting stratad: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stratad log tail:\n%s", tail(d.Log(), 40))
		}
		d.Stop()
	})
	w.daemon = d
	w.cockpit = w.startCockpit(0)
	return w
}

// startRegistry starts a loopback registry serving the host's OS 1.0 as
// os:stable (built with umoci, pushed with skopeo), sets w.image to its
// reference, and returns the containers root whose registries.conf lets
// stratad pull from it over plain HTTP.
func (w *world) startRegistry() string {
	w.t.Helper()
	regDir := filepath.Join(w.dir, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	reg, err := fixture.StartRegistry(w.ctx, regDir)
	if err != nil {
		w.t.Fatalf("starting registry: %v", err)
	}
	w.t.Cleanup(func() { reg.Stop() })
	conf, err := reg.WriteRegistriesConf()
	if err != nil {
		w.t.Fatal(err)
	}
	root := filepath.Join(w.dir, "containers")
	confDir := filepath.Join(root, "etc", "containers")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(conf, filepath.Join(confDir, "registries.conf")); err != nil {
		w.t.Fatal(err)
	}
	src, err := w.host.BuildOSImage(w.ctx, filepath.Join(w.dir, "layout"), "1.0", "1.0",
		map[string]string{"org.opencontainers.image.version": "1.0"})
	if err != nil {
		w.t.Fatalf("building the OS image: %v", err)
	}
	if _, err := reg.Push(w.ctx, src, "os:stable"); err != nil {
		w.t.Fatalf("pushing the OS image: %v", err)
	}
	w.image = "ostree-unverified-registry:" + reg.Addr + "/os:stable"
	return root
}

// startCockpit runs cockpit-ws (and so the bridge) as uid.
func (w *world) startCockpit(uid int) *fixture.Cockpit {
	w.t.Helper()
	c, err := fixture.StartCockpit(w.ctx, w.bus, filepath.Join(w.dir, fmt.Sprintf("cockpit-%d", uid)), fixture.CockpitOptions{
		Package: filepath.Join(bins.root, "cockpit"), UID: uid,
	})
	if err != nil {
		w.t.Fatalf("starting cockpit-ws: %v", err)
	}
	w.t.Cleanup(func() {
		if w.t.Failed() {
			w.t.Logf("cockpit-ws (uid %d) output tail:\n%s", uid, tail(c.Log(), 40))
		}
		c.Stop()
	})
	return c
}

// browser starts headless chromium and returns a tab's context. The page's
// console and uncaught exceptions go to the test log.
func (w *world) browser() context.Context {
	w.t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // chromium refuses to run as root with its sandbox
		chromedp.UserDataDir(filepath.Join(w.dir, "chromium")),
		chromedp.WindowSize(1100, 1000),
		chromedp.Env("LANG=C.UTF-8", "TZ=UTC"),
	)
	actx, cancel := chromedp.NewExecAllocator(w.ctx, opts...)
	w.t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			w.t.Logf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			w.t.Logf("page exception: %s (%s:%d)", msg, d.URL, d.LineNumber)
		}
	}))
	w.t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		w.t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// run runs browser actions, failing the test with what was being done.
func (w *world) run(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 3*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		w.screenshot(tab, "failed")
		w.t.Fatalf("%s: %v", what, err)
	}
}

// screenshot saves the viewport as NAME.png in the screenshot dir.
func (w *world) screenshot(tab context.Context, name string) {
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		w.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(w.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		w.t.Logf("screenshot %s: %v", name, err)
		return
	}
	w.t.Logf("screenshot: %s", path)
}

// text is the text content of the first element matching sel.
func (w *world) text(tab context.Context, sel string) string {
	w.t.Helper()
	return get(w, tab, "reading "+sel, chromedp.TextContent(chromedp.CSS(sel)))
}

// eval is the value of a JavaScript expression in the page.
func eval[T any](w *world, tab context.Context, expr string) T {
	w.t.Helper()
	return get(w, tab, "evaluating "+expr, chromedp.Evaluate[T](expr))
}

// get runs one action that returns a value, failing the test with what was
// being done.
func get[T any](w *world, tab context.Context, what string, a chromedp.Action[T]) T {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 3*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		w.screenshot(tab, "failed")
		w.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitJS waits until the JavaScript expression is true (the test's own
// polling in the browser; the page has none).
func (w *world) waitJS(tab context.Context, what, expr string) {
	w.t.Helper()
	get(w, tab, "waiting for "+what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(2*time.Minute)))
}

// transaction clicks sel (after the page is idle) and waits for the
// transaction's end; it returns the progress card's result and the error
// shown, if any.
func (w *world) transaction(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) (result, errText string) {
	w.t.Helper()
	w.waitJS(tab, "the page to be idle before "+what,
		`document.getElementById("app").dataset.busy === "false" && !document.getElementById("install").disabled`)
	eval[bool](w, tab, `(document.getElementById("progress").dataset.result = "", true)`)
	w.run(tab, what, actions...)
	w.waitJS(tab, what+" to finish",
		`(() => { const p = document.getElementById("progress");
		          return p.dataset.result && p.dataset.result !== "running"; })()`)
	res := eval[string](w, tab, `document.getElementById("progress").dataset.result`)
	if res != "success" {
		errText = w.text(tab, "#error")
	}
	return res, errText
}

func (w *world) mustSucceed(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	if res, errText := w.transaction(tab, what, actions...); res != "success" {
		w.screenshot(tab, "failed")
		w.t.Fatalf("%s: progress says %q, error: %s\nprogress log: %s", what, res, errText, w.text(tab, "#progress-log"))
	}
}

// cards returns, in order, each deployment card's roles, version and
// layered packages, as the page shows them.
type card struct {
	ID, Roles, Version, Origin, Layered, Kargs string
}

func (w *world) cards(tab context.Context) []card {
	w.t.Helper()
	return eval[[]card](w, tab, `[...document.querySelectorAll("#deployments .deployment")].map(c => ({
		ID: c.dataset.id, Roles: c.dataset.roles,
		Version: (c.querySelector("dd.version") || {}).textContent || "",
		Origin: (c.querySelector("dd.origin") || {}).textContent || "",
		Layered: [...c.querySelectorAll(".pkg")].map(p => p.dataset.pkg).join(" "),
		Kargs: (c.querySelector("dd.kargs") || {}).textContent || "",
	}))`)
}

// firstCardIs waits until the first deployment card shows version and
// exactly the layered packages given.
func (w *world) firstCardIs(tab context.Context, version, layered string) {
	w.t.Helper()
	w.waitJS(tab, fmt.Sprintf("the first deployment to be %s with [%s]", version, layered), fmt.Sprintf(`(() => {
		const c = document.querySelector("#deployments .deployment");
		if (!c) return false;
		const pkgs = [...c.querySelectorAll(".pkg")].map(p => p.dataset.pkg).join(" ");
		return c.querySelector("dd.version").textContent === %q && pkgs === %q; })()`, version, layered))
}

func (w *world) strata(args ...string) string {
	w.t.Helper()
	out, errOut, code, err := fixture.RunCLI(w.ctx, bins.strata, w.bus, args...)
	if err != nil || code != 0 {
		w.t.Fatalf("strata %s: exit %d, %v\n%s%s", strings.Join(args, " "), code, err, out, errOut)
	}
	return out
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestCockpitPage walks through the page as an administrator would: every
// step is a real transaction on the demo host, checked in the page and
// with the CLI.
func TestCockpitPage(t *testing.T) {
	w := newWorld(t, worldOptions{registry: true})
	tab := w.browser()

	// Load: the deployment list appears within a second of navigation.
	// The first load also starts the session's bridge (cockpit-ws spawns
	// it for the first request, index.html included); in Cockpit the shell
	// has done that at login, before anyone opens the page, so the reload,
	// with the bridge running, is what an administrator waits for. Both
	// are measured from the navigation's start by the page itself.
	shown := func(what string, load chromedp.Action[chromedp.Void]) int {
		start := time.Now()
		w.run(tab, what, load, chromedp.WaitVisible(chromedp.CSS("#deployments .deployment")))
		wall := time.Since(start)
		shownMs := eval[string](w, tab, `document.getElementById("app").dataset.shownAfterMs`)
		var ms int
		if _, err := fmt.Sscan(shownMs, &ms); err != nil {
			t.Fatalf("%s: the page did not record when it showed the deployments (%q)", what, shownMs)
		}
		t.Logf("%s: deployments shown %d ms after navigation start (the test saw them after %v); resources: %s", what, ms, wall,
			eval[string](w, tab, `JSON.stringify(performance.getEntriesByType("resource").map(e => [e.name.replace(/.*\//, ""), Math.round(e.startTime), Math.round(e.duration)]))`))
		return ms
	}
	shown("first load (starting the bridge)", chromedp.Navigate(w.cockpit.URL))
	if ms := shown("reload", chromedp.Reload()); ms > 1000 {
		t.Errorf("deployments shown %d ms after the page started loading, want within 1000 ms", ms)
	}
	// A marker that only survives if the page is never reloaded.
	eval[bool](w, tab, `window.stillSamePage = true`)

	cs := w.cards(tab)
	if len(cs) != 1 || cs[0].Version != "1.0" || !strings.Contains(cs[0].Roles, "default") ||
		cs[0].Origin != fixture.Remote+":"+fixture.StableRef {
		t.Fatalf("deployments on load: %+v, want one default 1.0 deployment of %s:%s", cs, fixture.Remote, fixture.StableRef)
	}
	w.waitJS(tab, "kernel arguments", `document.querySelector("dd.kargs").textContent !== "…"`)
	if kargs := w.text(tab, "dd.kargs"); strings.HasPrefix(kargs, "unknown") {
		t.Errorf("kernel arguments: %q", kargs)
	}
	if p := w.text(tab, "#policy"); !strings.Contains(p, "Automatic updates: none") {
		t.Errorf("policy shows %q", p)
	}
	w.screenshot(tab, "01-loaded")

	// Install a package from the host's rpm-md repo.
	w.mustSucceed(tab, "installing demo-extra",
		chromedp.SetValue(chromedp.CSS("#install-name"), "demo-extra"),
		chromedp.Click(chromedp.CSS("#install")))
	w.firstCardIs(tab, "1.0", "demo-extra")
	if log := w.text(tab, "#progress-log"); log == "" {
		t.Errorf("the install showed no progress messages")
	}
	if out := w.strata("status"); !strings.Contains(out, "LayeredPackages: demo-extra") {
		t.Errorf("after installing in the page, strata status lacks demo-extra:\n%s", out)
	}
	w.screenshot(tab, "02-installed")

	// A package no repo has: the resolver's error is shown, nothing changes.
	res, errText := w.transaction(tab, "installing a package that does not exist",
		chromedp.SetValue(chromedp.CSS("#install-name"), "no-such-package"),
		chromedp.Click(chromedp.CSS("#install")))
	if res != "failed" || !strings.Contains(errText, "no-such-package") {
		t.Errorf("installing no-such-package: result %q, error %q; want a failure naming the package", res, errText)
	}
	w.screenshot(tab, "03-unresolvable")
	if n := len(w.cards(tab)); n != 2 {
		t.Errorf("after a failed install the page shows %d deployments, want 2", n)
	}

	// Check for updates: 2.0 waits on the remote; its package diff is shown.
	w.mustSucceed(tab, "checking for updates", chromedp.Click(chromedp.CSS("#check")))
	w.waitJS(tab, "the available update", `document.getElementById("update").dataset.available === "true" &&
		!document.getElementById("update-diff").hidden`)
	if v := w.text(tab, "#update-version"); v != "2.0" {
		t.Errorf("available update shows version %q, want 2.0", v)
	}
	diffRows := eval[int](w, tab, `document.querySelectorAll("#update-diff tbody tr[data-pkg]").length`)
	if diffRows == 0 {
		t.Errorf("the update's package diff is empty")
	}
	// The fixture's 2.0 carries demo-base-files 2.0 where 1.0 had 1.0.
	if row := w.text(tab, `#update-diff tr[data-pkg="demo-base-files"]`); row != "demo-base-filesupgraded1.0-1.noarch2.0-1.noarch" {
		t.Errorf("the diff row of demo-base-files reads %q, want an upgrade from 1.0-1 to 2.0-1", row)
	}
	w.screenshot(tab, "04-update-available")

	// Upgrade: 2.0 with the layered package carried over.
	w.mustSucceed(tab, "upgrading", chromedp.Click(chromedp.CSS("#upgrade")))
	w.firstCardIs(tab, "2.0", "demo-extra")
	w.waitJS(tab, "the update section to empty", `document.getElementById("update").dataset.available === "false"`)
	cs = w.cards(tab)
	if len(cs) < 2 || !strings.Contains(cs[1].Roles, "rollback") || cs[1].Version != "1.0" {
		t.Errorf("after upgrade: %+v, want 2.0 then the 1.0 rollback", cs)
	}

	// Roll back: 1.0 comes first again.
	w.mustSucceed(tab, "rolling back", chromedp.Click(chromedp.CSS("#rollback")))
	w.firstCardIs(tab, "1.0", "demo-extra")
	w.screenshot(tab, "05-rolled-back")

	// A change made by another client shows up without a reload.
	w.strata("uninstall", "demo-extra")
	w.firstCardIs(tab, "1.0", "")
	if !eval[bool](w, tab, `window.stillSamePage === true`) {
		t.Errorf("the page was reloaded to show the CLI's change")
	}
	w.screenshot(tab, "06-cli-change")

	// Another client's transaction: a plain D-Bus client asks for an
	// install and leaves it to others to start; the page attaches to it
	// (Start from a second client), shows its progress and its result.
	sys, err := dbus.Connect(w.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	var osPath dbus.ObjectPath
	sr := sys.Object(fixture.BusName, "/org/projectatomic/rpmostree1/Sysroot")
	if err := sr.CallWithContext(w.ctx, "org.projectatomic.rpmostree1.Sysroot.GetOS", 0, "").Store(&osPath); err != nil {
		t.Fatal(err)
	}
	var address string
	if err := sys.Object(fixture.BusName, osPath).CallWithContext(w.ctx, "org.projectatomic.rpmostree1.OS.PkgChange", 0,
		map[string]dbus.Variant{}, []string{"demo-extra"}, []string{}).Store(&address); err != nil {
		t.Fatalf("PkgChange over D-Bus: %v", err)
	}
	w.waitJS(tab, "the page to follow the other client's transaction to its end", `(() => {
		const p = document.getElementById("progress");
		return p.dataset.attached === "true" && p.dataset.result === "success"; })()`)
	w.firstCardIs(tab, "1.0", "demo-extra")
	if title := w.text(tab, "#progress-title"); !strings.Contains(title, "another client") || !strings.Contains(title, "UpdateDeployment") {
		t.Errorf("attached progress title %q", title)
	}
	w.screenshot(tab, "07-attached")

	// Uninstall from the deployment's card.
	w.mustSucceed(tab, "uninstalling demo-extra", chromedp.Click(chromedp.CSS(`button[data-uninstall="demo-extra"]`)))
	w.firstCardIs(tab, "1.0", "")

	// Rebase to another ref, then clean up the rollback deployment.
	w.mustSucceed(tab, "rebasing to the devel ref",
		chromedp.SetValue(chromedp.CSS("#rebase-target"), fixture.Remote+":"+fixture.DevelRef),
		chromedp.Click(chromedp.CSS("#rebase")))
	w.firstCardIs(tab, "10.0", "")
	if cs := w.cards(tab); cs[0].Origin != fixture.Remote+":"+fixture.DevelRef {
		t.Errorf("after rebase the first deployment's origin is %q", cs[0].Origin)
	}
	before := len(w.cards(tab))
	w.mustSucceed(tab, "removing the rollback deployment",
		chromedp.SetValue(chromedp.CSS("#cleanup-what"), "rollback"),
		chromedp.Click(chromedp.CSS("#cleanup")))
	w.waitJS(tab, "one deployment fewer", fmt.Sprintf(`document.querySelectorAll("#deployments .deployment").length === %d`, before-1))

	// Rebase onto the same OS as a container image: the card shows the
	// image reference and the digest it was pulled at.
	w.mustSucceed(tab, "rebasing to the container image",
		chromedp.SetValue(chromedp.CSS("#rebase-target"), w.image),
		chromedp.Click(chromedp.CSS("#rebase")))
	w.waitJS(tab, "the image deployment", fmt.Sprintf(`(() => {
		const c = document.querySelector("#deployments .deployment");
		const digest = c.querySelector("dd.digest");
		return c.querySelector("dd.origin").textContent === %q && digest && digest.textContent.startsWith("sha256:"); })()`, w.image))
	if log := w.text(tab, "#progress-log"); !strings.Contains(log, "layer") {
		t.Errorf("the image rebase showed no layer progress: %q", log)
	}
	w.screenshot(tab, "08-image")
}

// TestCockpitPageStaged: on a booted host an update is staged; the page
// labels the staged and the booted deployment, and cleans the staged one up.
func TestCockpitPageStaged(t *testing.T) {
	w := newWorld(t, worldOptions{booted: true})
	tab := w.browser()
	w.run(tab, "loading the page", chromedp.Navigate(w.cockpit.URL),
		chromedp.WaitVisible(chromedp.CSS("#deployments .deployment")))
	if cs := w.cards(tab); len(cs) != 1 || cs[0].Roles != "booted" {
		t.Fatalf("deployments on load: %+v, want one booted deployment", cs)
	}
	w.mustSucceed(tab, "upgrading", chromedp.Click(chromedp.CSS("#upgrade")))
	w.waitJS(tab, "the staged deployment", `document.querySelectorAll("#deployments .deployment").length === 2`)
	cs := w.cards(tab)
	if cs[0].Roles != "staged" || cs[0].Version != "2.0" || cs[1].Roles != "booted" || cs[1].Version != "1.0" {
		t.Errorf("after upgrade on a booted host: %+v, want staged 2.0 then booted 1.0", cs)
	}
	w.waitJS(tab, "the update marked as deployed", `!document.getElementById("update-deployed").hidden`)
	w.screenshot(tab, "staged")
	w.mustSucceed(tab, "removing the staged deployment",
		chromedp.SetValue(chromedp.CSS("#cleanup-what"), "pending"),
		chromedp.Click(chromedp.CSS("#cleanup")))
	w.waitJS(tab, "the staged deployment to go", `document.querySelectorAll("#deployments .deployment").length === 1`)
}

// TestCockpitPageUnauthorized: Cockpit running as a user polkit says no to
// shows the deployments (reading needs no authorization) and, for a change,
// a clear "not authorized" error instead of a silent failure.
func TestCockpitPageUnauthorized(t *testing.T) {
	w := newWorld(t, worldOptions{})
	c := w.startCockpit(nobody)
	tab := w.browser()
	w.run(tab, "loading the page as nobody", chromedp.Navigate(c.URL),
		chromedp.WaitVisible(chromedp.CSS("#deployments .deployment")))
	res, errText := w.transaction(tab, "rolling back as nobody", chromedp.Click(chromedp.CSS("#rollback")))
	if res != "failed" || !strings.Contains(errText, "Not authorized to roll back") || !strings.Contains(errText, "uid 65534") {
		t.Errorf("rollback as nobody: result %q, error %q; want a not-authorized error", res, errText)
	}
	kind := eval[string](w, tab, `document.getElementById("error").dataset.kind`)
	if kind != "unauthorized" {
		t.Errorf("error kind %q, want unauthorized", kind)
	}
	w.screenshot(tab, "unauthorized")
}

// TestCockpitPageNoDaemon: with nothing serving the API on the bus, the
// page says so and what to do, instead of waiting forever.
func TestCockpitPageNoDaemon(t *testing.T) {
	w := newWorld(t, worldOptions{})
	if err := w.daemon.Stop(); err != nil {
		t.Fatal(err)
	}
	tab := w.browser()
	w.run(tab, "loading the page without a daemon", chromedp.Navigate(w.cockpit.URL),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	w.waitJS(tab, "the no-daemon state", `document.getElementById("app").dataset.state === "no-daemon"`)
	if text := w.text(tab, "#error"); !strings.Contains(text, "update daemon is not running") || !strings.Contains(text, "systemctl start stratad") {
		t.Errorf("the page without a daemon says %q, want that the update daemon is not running and how to start it", text)
	}
	w.screenshot(tab, "no-daemon")
}
