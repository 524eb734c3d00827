package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/tests/fixture"
)

// A replay of every D-Bus call cockpit-ostree makes (src/client.js,
// ostree.jsx, deploymentModals.jsx), with its exact signatures, over the
// real bus and the peer-to-peer transaction connection, checking the
// values it then reads. cockpit-ostree's other actions (pin, undeploy,
// remotes) run ostree, not D-Bus.

const (
	rpmostreePath   = "/org/projectatomic/rpmostree1"
	sysrootIface    = "org.projectatomic.rpmostree1.Sysroot"
	osIface         = "org.projectatomic.rpmostree1.OS"
	transactionIfce = "org.projectatomic.rpmostree1.Transaction"
)

// cockpit is the replaying client: one bus connection, as cockpit.dbus()
// opens with superuser (root here).
type cockpit struct {
	t    *testing.T
	conn *dbus.Conn
	// changed collects PropertiesChanged of the Sysroot: cockpit rebuilds
	// its OS list from the Deployments they carry.
	changed chan *dbus.Signal
}

func newCockpit(t *testing.T, e *env) *cockpit {
	t.Helper()
	conn, err := dbus.Connect(e.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &cockpit{t: t, conn: conn, changed: make(chan *dbus.Signal, 256)}
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus.Properties"),
		dbus.WithMatchMember("PropertiesChanged"), dbus.WithMatchObjectPath(sysrootPath)); err != nil {
		t.Fatal(err)
	}
	conn.Signal(c.changed)
	return c
}

// getAll is what a cockpit proxy does first: Properties.GetAll.
func (c *cockpit) getAll(path dbus.ObjectPath, iface string) map[string]dbus.Variant {
	c.t.Helper()
	var props map[string]dbus.Variant
	if err := c.conn.Object(busName, path).Call("org.freedesktop.DBus.Properties.GetAll", 0, iface).Store(&props); err != nil {
		c.t.Fatalf("GetAll(%s, %s): %v", path, iface, err)
	}
	return props
}

func (c *cockpit) call(path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	c.t.Helper()
	return c.conn.Object(busName, path).Call(method, 0, args...)
}

// runTransaction is client.js's run_transaction: ReloadConfig, the OS
// method, then a peer-to-peer connection to the address it returns with a
// subscription on "/", Start, and the answer of Finished. It returns
// Finished's arguments and the names of the signals seen.
func (c *cockpit) runTransaction(method string, args ...any) (bool, string, []string) {
	c.t.Helper()
	if err := c.call(sysrootPath, sysrootIface+".ReloadConfig").Err; err != nil {
		c.t.Fatalf("ReloadConfig: %v", err)
	}
	var addr string
	if err := c.call(osPath, osIface+"."+method, args...).Store(&addr); err != nil {
		c.t.Fatalf("%s%v: %v", method, args, err)
	}
	sigs := make(chan *dbus.Signal, 1024)
	peer, err := dbus.Dial(addr, dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()))
	if err != nil {
		c.t.Fatalf("%s: connecting to %s: %v", method, addr, err)
	}
	defer peer.Close()
	if err := peer.Auth(nil); err != nil {
		c.t.Fatalf("%s: authenticating to %s: %v", method, addr, err)
	}
	peer.Signal(sigs)
	var started bool
	if err := peer.Object("", "/").Call(transactionIfce+".Start", 0).Store(&started); err != nil || !started {
		c.t.Fatalf("%s: Start() = %v, %v", method, started, err)
	}
	var names []string
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case s := <-sigs:
			if s == nil {
				c.t.Fatalf("%s: connection closed before Finished (signals %v)", method, names)
			}
			if s.Path != "/" {
				c.t.Errorf("%s: signal %s on path %s, cockpit subscribes to \"/\"", method, s.Name, s.Path)
			}
			name := strings.TrimPrefix(s.Name, transactionIfce+".")
			names = append(names, name)
			if name != "Finished" {
				continue
			}
			if len(s.Body) != 2 {
				c.t.Fatalf("%s: Finished%v, want (b, s)", method, s.Body)
			}
			ok, okType := s.Body[0].(bool)
			msg, msgType := s.Body[1].(string)
			if !okType || !msgType {
				c.t.Fatalf("%s: Finished(%T, %T), want (b, s)", method, s.Body[0], s.Body[1])
			}
			return ok, msg, names
		case <-timeout:
			c.t.Fatalf("%s: no Finished after 2 minutes (signals %v)", method, names)
		}
	}
}

// mustRun runs a transaction that must succeed.
func (c *cockpit) mustRun(method string, args ...any) []string {
	c.t.Helper()
	ok, msg, names := c.runTransaction(method, args...)
	if !ok {
		c.t.Fatalf("%s%v failed: %s", method, args, msg)
	}
	return names
}

// osProxy is the OS proxy's properties, read as cockpit's proxies do.
func (c *cockpit) osProxy() map[string]dbus.Variant { return c.getAll(osPath, osIface) }

// dictString, dictBool and dictUint read a{sv} values as cockpit does
// (item.key.v), failing on a wrong type: JavaScript would get undefined.
func dictValue[T any](t *testing.T, d map[string]dbus.Variant, key string) T {
	t.Helper()
	v, ok := d[key]
	if !ok {
		t.Fatalf("key %q missing from %v", key, d)
	}
	x, ok := v.Value().(T)
	if !ok {
		var zero T
		t.Fatalf("key %q is %s (%T), want %T", key, v.Signature(), v.Value(), zero)
	}
	return x
}

// checkDeployment checks the keys ostree.jsx and client.js read from a
// deployment dictionary, with their types.
func checkDeployment(t *testing.T, what string, d map[string]dbus.Variant) {
	t.Helper()
	for key, sig := range map[string]string{
		"id": "s", "osname": "s", "checksum": "s", "version": "s", "origin": "s",
		"timestamp": "t", "booted": "b", "staged": "b", "pinned": "b", "signatures": "av",
	} {
		v, ok := d[key]
		if !ok {
			t.Errorf("%s lacks %q (cockpit reads it unchecked)", what, key)
			continue
		}
		if got := v.Signature().String(); got != sig {
			t.Errorf("%s[%q] has type %s, want %s", what, key, got, sig)
		}
	}
}

// checkDiff checks a(sua{sv}) as process_diff_list reads it: type 0..3
// (adds, removes, up, down); for removes PreviousPackage.v[1] and [2], else
// NewPackage's, each an (sss) of name, evr, arch.
func checkDiff(t *testing.T, what string, diff [][]any) map[uint32][]string {
	t.Helper()
	byType := map[uint32][]string{}
	for _, e := range diff {
		if len(e) != 3 {
			t.Fatalf("%s entry %v is not (sua{sv})", what, e)
		}
		name, _ := e[0].(string)
		typ, ok := e[1].(uint32)
		details, ok2 := e[2].(map[string]dbus.Variant)
		if !ok || !ok2 || typ > 3 {
			t.Fatalf("%s entry %v: type %T %v, details %T", what, e, e[1], e[1], e[2])
		}
		key := "NewPackage"
		if typ == 1 {
			key = "PreviousPackage"
		}
		pkg, ok := details[key].Value().([]any)
		if !ok || len(pkg) != 3 {
			t.Fatalf("%s entry %s: %s = %v (%s), want (sss)", what, name, key, details[key], details[key].Signature())
		}
		evr, _ := pkg[1].(string)
		arch, _ := pkg[2].(string)
		if evr == "" || arch == "" {
			t.Errorf("%s entry %s: %s = %v, want evr and arch", what, name, key, pkg)
		}
		byType[typ] = append(byType[typ], fmt.Sprintf("%s-%s.%s", name, evr, arch))
	}
	return byType
}

// deploymentsChanged waits for a PropertiesChanged of the Sysroot that
// carries Deployments (cockpit's on_sysroot_changed) for which want holds,
// and returns them.
func (c *cockpit) deploymentsChanged(what string, want func([]map[string]dbus.Variant) bool) []map[string]dbus.Variant {
	c.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case s := <-c.changed:
			if len(s.Body) < 2 {
				continue
			}
			if iface, _ := s.Body[0].(string); iface != sysrootIface {
				continue
			}
			props, _ := s.Body[1].(map[string]dbus.Variant)
			if v, ok := props["Deployments"]; ok {
				deps, ok := v.Value().([]map[string]dbus.Variant)
				if !ok {
					c.t.Fatalf("PropertiesChanged Deployments is %s, want aa{sv}", v.Signature())
				}
				if want(deps) {
					return deps
				}
			}
		case <-timeout:
			c.t.Fatalf("no PropertiesChanged with Deployments after %s", what)
		}
	}
}

func TestCockpitOstreeReplay(t *testing.T) {
	e := newEnv(t, envOptions{booted: true, http: true})
	// The host does not go down when a transaction reboots it: its reboot
	// command leaves its mark and fails, so the daemon takes the console's
	// next transaction (as after a failed `systemctl reboot`).
	e.daemon.Stop()
	e.daemonArgs = append(e.daemonArgs, "--reboot-command="+failingReboot(t, e))
	e.startDaemon()
	reboots := 0
	expectReboot := func(what string) {
		t.Helper()
		reboots++
		waitFor(t, what+" to request a reboot", 10*time.Second, func() bool {
			return strings.Count(e.daemonLog(), "requesting a reboot (") >= reboots
		})
		if !e.wasRebooted() {
			t.Errorf("%s with reboot did not run the reboot command", what)
		}
		os.Remove(e.rebooted)
	}
	c := newCockpit(t, e)

	// connect(): the Sysroot proxy, RegisterClient, then the OS proxies
	// found through the ObjectManager at /org/projectatomic/rpmostree1.
	sysroot := c.getAll(sysrootPath, sysrootIface)
	if b := sysroot["Booted"].Value(); b != dbus.ObjectPath(osPath) {
		t.Fatalf("Sysroot.Booted = %v, want %s", b, osPath)
	}
	deployments, ok := sysroot["Deployments"].Value().([]map[string]dbus.Variant)
	if !ok || len(deployments) != 1 {
		t.Fatalf("Sysroot.Deployments = %v (%s)", sysroot["Deployments"], sysroot["Deployments"].Signature())
	}
	checkDeployment(t, "Deployments[0]", deployments[0])
	if osname := dictValue[string](t, deployments[0], "osname"); osname != fixture.OSName {
		t.Errorf("build_os_list: osname %q, want %s", osname, fixture.OSName)
	}
	if err := c.call(sysrootPath, sysrootIface+".RegisterClient", map[string]dbus.Variant{"id": dbus.MakeVariant("cockpit-ostree")}).Err; err != nil {
		t.Fatalf("RegisterClient: %v", err)
	}
	var managed map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := c.call(rpmostreePath, "org.freedesktop.DBus.ObjectManager.GetManagedObjects").Store(&managed); err != nil {
		t.Fatalf("GetManagedObjects: %v", err)
	}
	osProps := managed[osPath][osIface]
	if name, _ := osProps["Name"].Value().(string); name != fixture.OSName {
		t.Fatalf("OS proxy Name = %v, want %s (managed: %v)", osProps["Name"], fixture.OSName, managed)
	}
	booted, _ := osProps["BootedDeployment"].Value().(map[string]dbus.Variant)
	checkDeployment(t, "BootedDeployment", booted)
	bootedID := dictValue[string](t, booted, "id")
	if bootedID != dictValue[string](t, deployments[0], "id") || !dictValue[bool](t, booted, "booted") {
		t.Errorf("BootedDeployment id %s booted %v, want the booted Deployments[0]", bootedID, booted["booted"])
	}
	if def, _ := osProps["DefaultDeployment"].Value().(map[string]dbus.Variant); dictValue[string](t, def, "checksum") != e.host.Versions["1.0"] {
		t.Errorf("DefaultDeployment checksum = %v", def["checksum"])
	}
	for _, key := range []string{"RollbackDeployment", "CachedUpdate"} {
		if _, ok := osProps[key].Value().(map[string]dbus.Variant); !ok {
			t.Errorf("OS.%s is %s, want a{sv} (cockpit reads it unchecked)", key, osProps[key].Signature())
		}
	}
	if _, ok := osProps["HasCachedUpdateRpmDiff"].Value().(bool); !ok {
		t.Errorf("OS.HasCachedUpdateRpmDiff is %s, want b", osProps["HasCachedUpdateRpmDiff"].Signature())
	}
	if _, ok := c.getAll(sysrootPath, sysrootIface)["ReloadConfig"]; ok {
		t.Error("ReloadConfig is a method, not a property")
	}

	// check_for_updates() with the current origin: DownloadUpdateRpmDiff(),
	// then CachedUpdate and GetCachedUpdateRpmDiff("") for the packages.
	names := c.mustRun("DownloadUpdateRpmDiff")
	if names[len(names)-1] != "Finished" {
		t.Errorf("signals %v, want Finished last", names)
	}
	update, _ := c.osProxy()["CachedUpdate"].Value().(map[string]dbus.Variant)
	if dictValue[string](t, update, "checksum") != e.host.Versions["2.0"] || dictValue[string](t, update, "origin") != stableRefspec ||
		dictValue[string](t, update, "version") != "2.0" || dictValue[uint64](t, update, "timestamp") == 0 {
		t.Errorf("CachedUpdate after DownloadUpdateRpmDiff = %v, want 2.0 %s of %s", update, e.host.Versions["2.0"], stableRefspec)
	}
	if _, ok := update["signatures"].Value().([]dbus.Variant); !ok {
		t.Errorf("CachedUpdate signatures is %s, want av", update["signatures"].Signature())
	}
	var diff [][]any
	var details map[string]dbus.Variant
	if err := c.call(osPath, osIface+".GetCachedUpdateRpmDiff", "").Store(&diff, &details); err != nil {
		t.Fatalf("GetCachedUpdateRpmDiff(\"\"): %v", err)
	}
	if byType := checkDiff(t, "GetCachedUpdateRpmDiff", diff); len(byType) == 0 {
		t.Errorf("GetCachedUpdateRpmDiff: no package changes from 1.0 to 2.0: %v", diff)
	}
	if dictValue[string](t, details, "checksum") != e.host.Versions["2.0"] {
		t.Errorf("GetCachedUpdateRpmDiff details = %v", details)
	}

	// check_for_updates() on another branch: DownloadRebaseRpmDiff(s, as)
	// then cache_update_for(): GetCachedRebaseRpmDiff(s, as) -> (diff, item)
	// with item.checksum.
	develRefspec := fixture.Remote + ":" + fixture.DevelRef
	c.mustRun("DownloadRebaseRpmDiff", develRefspec, []string{})
	if err := c.call(osPath, osIface+".GetCachedRebaseRpmDiff", develRefspec, []string{}).Store(&diff, &details); err != nil {
		t.Fatalf("GetCachedRebaseRpmDiff: %v", err)
	}
	checkDiff(t, "GetCachedRebaseRpmDiff", diff)
	if _, ok := details["checksum"].Value().(string); !ok || dictValue[string](t, details, "origin") != develRefspec {
		t.Errorf("GetCachedRebaseRpmDiff item = %v, want the %s head", details, develRefspec)
	}

	// doUpgrade(): Deploy(checksum, {reboot}) of the cached update.
	c.mustRun("Deploy", e.host.Versions["2.0"], map[string]dbus.Variant{"reboot": dbus.MakeVariant(true)})
	expectReboot("Deploy")
	deps := c.deploymentsChanged("Deploy (the staged 2.0 first)", func(deps []map[string]dbus.Variant) bool {
		return len(deps) == 2 && deps[0]["checksum"].Value() == e.host.Versions["2.0"] && deps[0]["staged"].Value() == true
	})
	for i, d := range deps {
		checkDeployment(t, fmt.Sprintf("Deployments[%d] after Deploy", i), d)
	}
	// packages() of a non-booted deployment: GetDeploymentsRpmDiff(booted, id).
	if err := c.call(osPath, osIface+".GetDeploymentsRpmDiff", bootedID, dictValue[string](t, deps[0], "id")).Store(&diff); err != nil {
		t.Fatalf("GetDeploymentsRpmDiff: %v", err)
	}
	if byType := checkDiff(t, "GetDeploymentsRpmDiff", diff); len(byType) == 0 {
		t.Errorf("GetDeploymentsRpmDiff(1.0, 2.0): no changes")
	}

	// doRebase(): Rebase({reboot, revision}, origin, []).
	c.mustRun("Rebase", map[string]dbus.Variant{
		"reboot":   dbus.MakeVariant(true),
		"revision": dbus.MakeVariant(e.host.Versions["1.0"]),
	}, stableRefspec, []string{})
	expectReboot("Rebase")
	c.deploymentsChanged("Rebase (a staged 1.0 first)", func(deps []map[string]dbus.Variant) bool {
		return deps[0]["checksum"].Value() == e.host.Versions["1.0"] && deps[0]["staged"].Value() == true &&
			deps[0]["origin"].Value() == stableRefspec
	})

	// doRollback(): Rollback({reboot}), once the machine has shut down (the
	// staged deployment is finalized) and there is something to go back to.
	e.finalizeAtShutdown()
	c.mustRun("Rollback", map[string]dbus.Variant{"reboot": dbus.MakeVariant(true)})
	expectReboot("Rollback")

	// ResetModal: UpdateDeployment({}, {no-layering, no-overrides}).
	c.mustRun("UpdateDeployment", map[string]dbus.Variant{}, map[string]dbus.Variant{
		"no-layering":  dbus.MakeVariant(true),
		"no-overrides": dbus.MakeVariant(true),
	})

	// CleanUpModal: Cleanup(as) with every flag it offers.
	c.mustRun("Cleanup", []string{"base", "repomd", "pending-deploy", "rollback-deploy"})
	deps = c.getAll(sysrootPath, sysrootIface)["Deployments"].Value().([]map[string]dbus.Variant)
	for _, d := range deps {
		if dictValue[bool](t, d, "staged") {
			t.Errorf("a staged deployment survived Cleanup(pending-deploy): %v", d)
		}
	}

	// A failing transaction answers Finished(false, message), which cockpit
	// shows as the error.
	ok, msg, _ := c.runTransaction("Rebase", map[string]dbus.Variant{}, fixture.Remote+":no/such/ref", []string{})
	if ok || msg == "" {
		t.Errorf("Rebase to a missing ref: Finished(%v, %q), want (false, a message)", ok, msg)
	}
	// Once cockpit has hung up, the Sysroot is idle again: ActiveTransaction
	// is (sss) of empty strings, which cockpit takes for "nothing running".
	waitFor(t, "ActiveTransaction to be empty after the last transaction", 10*time.Second, func() bool {
		active, ok := c.getAll(sysrootPath, sysrootIface)["ActiveTransaction"].Value().([]any)
		return ok && len(active) == 3 && active[0] == "" && active[1] == "" && active[2] == ""
	})
}
