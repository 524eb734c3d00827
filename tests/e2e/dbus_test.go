package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/client"
	"github.com/strata-os/strata/tests/fixture"
)

const (
	busName     = "org.projectatomic.rpmostree1"
	sysrootPath = "/org/projectatomic/rpmostree1/Sysroot"
	osPath      = "/org/projectatomic/rpmostree1/" + fixture.OSName
)

func (e *env) busctl(args ...string) string {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, "busctl", append([]string{"--address=" + e.bus.Address}, args...)...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("busctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t, envOptions{})
	tree := e.busctl("tree", busName)
	for _, want := range []string{sysrootPath, osPath} {
		if !strings.Contains(tree, want) {
			t.Errorf("busctl tree lacks %s:\n%s", want, tree)
		}
	}
	sysroot := e.busctl("introspect", busName, sysrootPath)
	for _, want := range []string{"org.projectatomic.rpmostree1.Sysroot", ".GetOS", ".RegisterClient", ".Deployments", ".ActiveTransactionPath", "org.freedesktop.DBus.Properties"} {
		if !strings.Contains(sysroot, want) {
			t.Errorf("Sysroot introspection lacks %s:\n%s", want, sysroot)
		}
	}
	osIntro := e.busctl("introspect", busName, osPath)
	for _, want := range []string{"org.projectatomic.rpmostree1.OS", ".Upgrade", ".Rebase", ".Deploy", ".Rollback", ".Cleanup", ".DefaultDeployment"} {
		if !strings.Contains(osIntro, want) {
			t.Errorf("OS introspection lacks %s:\n%s", want, osIntro)
		}
	}
	// Properties read by rpm-ostree's own clients.
	if got := e.busctl("get-property", busName, sysrootPath, "org.projectatomic.rpmostree1.Sysroot", "Booted"); !strings.Contains(got, `o "/"`) {
		t.Errorf("Booted on a host not booted from the sysroot = %s, want /", got)
	}
	if got := e.busctl("call", busName, sysrootPath, "org.projectatomic.rpmostree1.Sysroot", "GetOS", "s", ""); !strings.Contains(got, osPath) {
		t.Errorf("GetOS(\"\") = %s", got)
	}
}

// TestPropertiesChangedAfterUpgrade follows the Sysroot's PropertiesChanged as
// a web console would.
func TestPropertiesChangedAfterUpgrade(t *testing.T) {
	e := newEnv(t, envOptions{})
	conn, err := dbus.Connect(e.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus.Properties"), dbus.WithMatchMember("PropertiesChanged")); err != nil {
		t.Fatal(err)
	}
	signals := make(chan *dbus.Signal, 64)
	conn.Signal(signals)
	e.mustStrata("upgrade")
	seen := map[string]bool{}
	timeout := time.After(5 * time.Second)
	for !(seen[sysrootPath+" Deployments"] && seen[osPath+" DefaultDeployment"]) {
		select {
		case s := <-signals:
			if changed, ok := s.Body[1].(map[string]dbus.Variant); ok {
				for name := range changed {
					seen[string(s.Path)+" "+name] = true
				}
			}
		case <-timeout:
			t.Fatalf("PropertiesChanged for Deployments and DefaultDeployment not seen; saw %v", seen)
		}
	}
	if !seen[sysrootPath+" ActiveTransactionPath"] {
		t.Errorf("ActiveTransactionPath changes not signalled; saw %v", seen)
	}
}

// TestClientVanishesMidTransaction: the CLI is killed while its upgrade runs;
// the upgrade completes anyway and the daemon keeps serving.
func TestClientVanishesMidTransaction(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	srv := slowRemote(e)
	cmd, _ := startUpgrade(e)
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	srv.SetObjectDelay(0)
	waitFor(t, "the orphaned upgrade to finish", 60*time.Second, func() bool {
		return strings.Contains(e.busctl("get-property", busName, sysrootPath, "org.projectatomic.rpmostree1.Sysroot", "ActiveTransactionPath"), `s ""`)
	})
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("after orphaned upgrade: %q, want \"2.0 1.0\"", got)
	}
	e.daemonAlive()
}

// TestAttachToRunningTransaction: a second client joins the running
// transaction through ActiveTransactionPath and sees it finish.
func TestSameRequestJoinsRunningTransaction(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	srv := slowRemote(e)
	first, out1 := startUpgrade(e)
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	second := exec.CommandContext(e.ctx, bins.strata, "upgrade")
	second.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
	var out2 strings.Builder
	second.Stdout, second.Stderr = &out2, &out2
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	srv.SetObjectDelay(0)
	if err := first.Wait(); err != nil {
		t.Fatalf("first upgrade: %v\n%s", err, out1)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("second (joining) upgrade: %v\n%s", err, &out2)
	}
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("after joined upgrade: %q (one deployment expected, not two)", got)
	}
}

// TestUpdateDeploymentBaseModifiers: UpdateDeployment's set-revision and
// set-refspec (+ install-packages) forms, as rpm-ostree clients send them.
func TestUpdateDeploymentBaseModifiers(t *testing.T) {
	e := newLayeringEnv(t)
	conn, err := dbus.Connect(e.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	update := func(modifiers map[string]dbus.Variant) {
		t.Helper()
		var addr string
		err := conn.Object(busName, osPath).Call("org.projectatomic.rpmostree1.OS.UpdateDeployment", 0,
			modifiers, map[string]dbus.Variant{}).Store(&addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.NewTransaction(addr).Run(e.ctx, func(client.Event) {}); err != nil {
			t.Fatalf("UpdateDeployment %v: %v", modifiers, err)
		}
	}
	update(map[string]dbus.Variant{"set-revision": dbus.MakeVariant("version=2.0")})
	if got := e.status().Deployments[0].Version; got != "2.0" {
		t.Errorf("after set-revision version=2.0: default is %s", got)
	}
	update(map[string]dbus.Variant{
		"set-refspec":      dbus.MakeVariant(fixture.Remote + ":" + fixture.DevelRef),
		"install-packages": dbus.MakeVariant([]string{"demo-extra"}),
	})
	e.expectLayered(layer{base: "10.0", requested: []string{"demo-extra"}, rpms: []string{"demo-extra-1.0-1.noarch"}})
	// Mixing a base change with other modifiers is refused whole.
	var addr string
	err = conn.Object(busName, osPath).Call("org.projectatomic.rpmostree1.OS.UpdateDeployment", 0,
		map[string]dbus.Variant{"set-revision": dbus.MakeVariant("version=1.0"), "uninstall-packages": dbus.MakeVariant([]string{"demo-extra"})},
		map[string]dbus.Variant{}).Store(&addr)
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("mixed modifiers: %v, want a refusal", err)
	}
}
