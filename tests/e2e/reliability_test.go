package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// TestDaemonKilledMidPull: stratad dies (SIGKILL) while an upgrade downloads.
// The deployments are as before, the repo is consistent, and a new daemon
// finishes the job.
func TestDaemonKilledMidPull(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	before := e.ostreeStatus()
	srv := slowRemote(e)
	cmd, _ := startUpgrade(e)
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("the upgrade whose daemon was killed reported success")
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("deployments changed by a killed upgrade:\n%s\nvs\n%s", before, after)
	}
	e.fsck()
	srv.SetObjectDelay(0)
	e.startDaemon()
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("upgrade after the kill: %q", got)
	}
}

// TestDaemonKilledMidCompose: stratad dies while it composes a layered
// deployment; nothing half-made is deployed and the next install works.
func TestDaemonKilledMidCompose(t *testing.T) {
	e := newLayeringEnv(t)
	before := e.ostreeStatus()
	cmd := exec.CommandContext(e.ctx, bins.strata, "install", "demo-app")
	cmd.Env = append(cmd.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill as soon as the transaction is running: somewhere in resolve,
	// download, import or commit.
	waitFor(t, "the install transaction to start", 30*time.Second, func() bool {
		out, _ := exec.Command("busctl", "--address="+e.bus.Address, "get-property", busName, sysrootPath,
			"org.projectatomic.rpmostree1.Sysroot", "ActiveTransactionPath").Output()
		return len(out) > 0 && string(out) != "s \"\"\n"
	})
	time.Sleep(150 * time.Millisecond)
	if err := e.daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if after := e.ostreeStatus(); after != before {
		// The kill may have come after the deployment was written: then it
		// must be the complete one.
		e.startDaemon()
		e.expectLayered(layer{base: "1.0", requested: []string{"demo-app"}, rpms: []string{"demo-app-1.0-1.noarch", "demo-lib-1.0-1.noarch"}})
		return
	}
	e.fsck()
	e.startDaemon()
	e.mustStrata("install", "demo-app")
	e.expectLayered(layer{base: "1.0", requested: []string{"demo-app"}, rpms: []string{"demo-app-1.0-1.noarch", "demo-lib-1.0-1.noarch"}})
}
