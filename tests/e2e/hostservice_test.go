package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/client"
	"github.com/strata-os/strata/tests/fixture"
)

// TestActivationAndIdleExit: with an activation file for the bus name (as
// `make install` puts in /usr/share/dbus-1/system-services), the first call
// starts stratad; with IdleExitTimeout=1 in its rpm-ostreed.conf it exits
// once nothing uses it, and the next call starts it again.
func TestActivationAndIdleExit(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.daemon.Stop()
	e.daemon = nil

	dir := filepath.Join(e.dir, "activation")
	services := filepath.Join(dir, "system-services")
	if err := os.MkdirAll(services, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rpm-ostreed.conf")
	if err := os.WriteFile(conf, []byte("# what an administrator writes\n[Daemon]\nIdleExitTimeout=1\nAutomaticUpdatePolicy=check\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir, err := os.MkdirTemp("", "strata-run-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(runDir)
	service := fmt.Sprintf("[D-BUS Service]\nName=%s\nExec=%s --sysroot=%s --run-dir=%s --config=%s\nUser=root\n",
		fixture.BusName, bins.stratad, e.host.Sysroot, runDir, conf)
	if err := os.WriteFile(filepath.Join(services, fixture.BusName+".service"), []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	busConf := filepath.Join(dir, "servicedir.conf")
	if err := os.WriteFile(busConf, []byte("<busconfig><servicedir>"+services+"</servicedir></busconfig>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bus, err := fixture.StartBus(e.ctx, filepath.Join(dir, "bus"), bins.policy, busConf)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Stop()
	e.bus = bus

	owned := func() bool {
		out, _ := exec.Command("busctl", "--address="+bus.Address, "status", fixture.BusName).CombinedOutput()
		return strings.Contains(string(out), "PID=")
	}
	if owned() {
		t.Fatal("the name is owned before anyone called")
	}
	for round := 1; round <= 2; round++ {
		out := e.mustStrata("status")
		if !strings.Contains(out, "AutomaticUpdates: check") {
			t.Errorf("round %d: status does not show the configured policy:\n%s", round, out)
		}
		if !owned() {
			t.Fatalf("round %d: the call did not leave an activated daemon", round)
		}
		waitFor(t, "stratad to exit when idle", 20*time.Second, func() bool { return !owned() })
	}
}

// TestLockLayering: with LockLayering=true in rpm-ostreed.conf, package
// changes are refused (saying why) and nothing changes; after the setting
// is removed, `strata reload` lets them through.
func TestLockLayering(t *testing.T) {
	e := newLayeringEnv(t)
	conf := filepath.Join(e.dir, "rpm-ostreed.conf")
	if err := os.WriteFile(conf, []byte("[Daemon]\nLockLayering=true\nIdleExitTimeout=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.daemon.Stop()
	e.daemonArgs = []string{"--config=" + conf}
	e.startDaemon()
	e.expectFailure("LockLayering=true", "install", "demo-extra")
	e.expectFailure("LockLayering=true", "override", "remove", "demo-tools")
	if err := os.WriteFile(conf, []byte("[Daemon]\nIdleExitTimeout=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
	e.mustStrata("install", "demo-extra")
}

// TestAutomaticUpdatePolicy: `strata upgrade --trigger-automatic-update-policy`
// (what strata-automatic.service runs) does what rpm-ostreed.conf says:
// nothing for none, a cached update for check, a new deployment for stage.
func TestAutomaticUpdatePolicy(t *testing.T) {
	e := newEnv(t, envOptions{})
	conf := filepath.Join(e.dir, "rpm-ostreed.conf")
	policy := func(p string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte("[Daemon]\nIdleExitTimeout=0\nAutomaticUpdatePolicy="+p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policy("none")
	e.daemon.Stop()
	e.daemonArgs = []string{"--config=" + conf}
	e.startDaemon()

	if out := e.mustStrata("upgrade", "--trigger-automatic-update-policy"); !strings.Contains(out, "Automatic updates are not enabled") {
		t.Errorf("policy none:\n%s", out)
	}
	if got := e.versions(); got != "1.0" {
		t.Errorf("policy none changed the deployments: %q", got)
	}

	policy("check")
	e.mustStrata("reload")
	out := e.mustStrata("upgrade", "--trigger-automatic-update-policy")
	if !strings.Contains(out, "AvailableUpdate:") || !strings.Contains(out, "Version: 2.0") {
		t.Errorf("policy check:\n%s", out)
	}
	if st := e.mustStrata("status"); !strings.Contains(st, "AutomaticUpdates: check") || !strings.Contains(st, "AvailableUpdate:") {
		t.Errorf("status after an automatic check:\n%s", st)
	}
	if got := e.versions(); got != "1.0" {
		t.Errorf("policy check deployed: %q", got)
	}

	policy("stage")
	e.mustStrata("reload")
	e.mustStrata("upgrade", "--trigger-automatic-update-policy")
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("policy stage: deployments %q, want the update written", got)
	}
}

// TestStatusJSONCommitMeta: status --json carries rpm-ostree's
// base-commit-meta, layered-commit-meta and, once an update was fetched,
// pending-base-* keys, which update agents read.
func TestStatusJSONCommitMeta(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-extra")
	e.mustStrata("upgrade", "--check")
	var doc struct {
		Deployments []map[string]any `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(e.mustStrata("status", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.Deployments[0]
	base, _ := d["base-commit-meta"].(map[string]any)
	layered, _ := d["layered-commit-meta"].(map[string]any)
	if base["version"] != "1.0" || layered["rpmostree.clientlayer"] != true {
		t.Errorf("commit metadata in status --json: base %v, layered %v", base, layered)
	}
	if _, ok := base["rpmostree.rpmdb.pkglist"]; ok {
		t.Error("base-commit-meta carries the package list")
	}
	if d["pending-base-version"] != "2.0" || d["pending-base-checksum"] != e.host.Versions["2.0"] {
		t.Errorf("pending base after upgrade --check: %v / %v", d["pending-base-version"], d["pending-base-checksum"])
	}
}

// TestStatusWhileTransactionRuns: reads never wait for a running
// transaction. While an upgrade is held in the middle of its download,
// `strata status` answers at once and shows the transaction.
func TestStatusWhileTransactionRuns(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	srv := slowRemote(e)
	srv.SetObjectDelay(5 * time.Second)
	cmd, _ := startUpgrade(e)
	defer func() {
		srv.SetObjectDelay(0)
		cmd.Wait()
	}()
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		out := e.mustStrata("status")
		took := time.Since(start)
		// The whole CLI process, on a loaded test machine: the bound is
		// far above the 50 ms the daemon needs and far below the 5 s the
		// transaction is held, so it only fails if status waited.
		if took > 2*time.Second {
			t.Errorf("status took %v while a transaction ran", took)
		}
		if !strings.Contains(out, "State: busy") && !strings.Contains(out, "Transaction: upgrade") {
			t.Errorf("status during the upgrade does not show it:\n%s", out)
		}
	}
	// The daemon's own answer, without the CLI's process start: the reads
	// `strata status` makes (every Sysroot property, the OS object, its
	// cached update) over one open connection. Issue 16 asks for 50 ms;
	// the median of several keeps one descheduling on a loaded machine
	// from failing it.
	c, err := client.ConnectAddress(e.ctx, e.bus.Address, "status-latency")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var took []time.Duration
	for i := 0; i < 7; i++ {
		start := time.Now()
		st, err := c.Status(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		o, err := c.OS(e.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.CachedUpdate(e.ctx); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		if !st.Busy() {
			t.Errorf("the daemon's status during the upgrade does not show it busy")
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	med := took[len(took)/2]
	t.Logf("the daemon answered status in %v (median of %v) while a transaction ran", med, took)
	if med > 50*time.Millisecond {
		t.Errorf("the daemon answered status in %v (median of %v) while a transaction ran, want ≤ 50ms", med, took)
	}
}

// TestAutomaticUpdateLastRun: status shows when automatic updates last ran,
// worded as rpm-ostree's AutomaticUpdates line. There is no systemd on the
// test bus, so the line comes from stratad's own record of its last
// AutomaticUpdateTrigger run, which `status -v` details (mode, when, what
// it did); the record outlives a daemon restart within the boot (it is
// kept in the run directory), and a failed run shows as failed.
func TestAutomaticUpdateLastRun(t *testing.T) {
	e := newEnv(t, envOptions{})
	conf := filepath.Join(e.dir, "rpm-ostreed.conf")
	if err := os.WriteFile(conf, []byte("[Daemon]\nIdleExitTimeout=0\nAutomaticUpdatePolicy=check\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.daemon.Stop()
	e.daemonArgs = []string{"--config=" + conf}
	e.startDaemon()

	if out := e.mustStrata("status"); !strings.Contains(out, "AutomaticUpdates: check; strata-automatic.timer: no runs since boot\n") {
		t.Errorf("status before any run:\n%s", out)
	}
	e.mustStrata("upgrade", "--trigger-automatic-update-policy")
	short := e.host.Versions["2.0"][:12]
	checkRan := func(when string) {
		t.Helper()
		out := e.mustStrata("status")
		if !strings.Contains(out, "AutomaticUpdates: check; strata-automatic.timer: last run ") || !strings.Contains(out, " ago\n") {
			t.Errorf("status %s does not show the last run:\n%s", when, out)
		}
		if strings.Contains(out, "LastRun:") {
			t.Errorf("status without -v shows the run's details:\n%s", out)
		}
		out = e.mustStrata("status", "-v")
		if !strings.Contains(out, "  LastRun: check at ") || !strings.Contains(out, "): update available: 2.0 ("+short+")\n") {
			t.Errorf("status -v %s lacks the run's details:\n%s", when, out)
		}
	}
	checkRan("after a check")
	// Idle exit and activation start a new daemon: the record stays.
	e.daemon.Stop()
	e.startDaemon()
	checkRan("after a daemon restart")

	// A run that fails (the remote is gone) is shown as failed.
	repo := filepath.Join(e.host.Sysroot, "ostree/repo")
	if out, err := exec.Command("ostree", "config", "--repo="+repo, "set", `remote "demo".url`, "file:///nonexistent").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	e.mustStrata("reload")
	if _, _, code := e.strata("upgrade", "--trigger-automatic-update-policy"); code == 0 {
		t.Fatal("the automatic update succeeded without its remote")
	}
	out := e.mustStrata("status", "-v")
	if !strings.Contains(out, "AutomaticUpdates: check; strata-automatic.service: last run failed\n") || !strings.Contains(out, "  LastRun: check at ") || !strings.Contains(out, "): failed: ") {
		t.Errorf("status -v after a failed run:\n%s", out)
	}
	if got := e.versions(); got != "1.0" {
		t.Errorf("automatic checks changed the deployments: %q", got)
	}
}

// TestRebootOption: on a booted host, --reboot on upgrade, rebase, deploy
// and rollback runs the reboot command once the transaction has succeeded
// (the client sees success, then the host goes down), and from then on the
// daemon refuses new transactions, as rpm-ostree does, while reads still
// work. (The test's reboot command only touches a file; a real host runs
// `systemctl reboot`.)
func TestRebootOption(t *testing.T) {
	for _, args := range [][]string{
		{"upgrade", "--reboot"},
		{"rebase", "--reboot", fixture.Remote + ":" + fixture.DevelRef},
		{"deploy", "--reboot", "version=2.0"},
		{"rollback", "--reboot"},
	} {
		t.Run(args[0], func(t *testing.T) {
			e := newEnv(t, envOptions{booted: true})
			if args[0] == "rollback" {
				// Something to roll back to: a finalized upgrade.
				e.mustStrata("upgrade")
				e.finalizeAtShutdown()
				e.waitBootOrder("2.0 1.0(booted)")
			}
			out, errOut, code := e.strata(args...)
			if code != 0 {
				t.Fatalf("strata %v: exit %d: %s%s\ndaemon log:\n%s", args, code, out, errOut, e.daemonLog())
			}
			if !strings.Contains(out, "Rebooting.") {
				t.Errorf("strata %v does not say it reboots:\n%s", args, out)
			}
			waitFor(t, "the reboot command", 10*time.Second, e.wasRebooted)
			before := e.bootOrder()
			_, errOut, code = e.strata("cleanup", "-p")
			if code == 0 || !strings.Contains(errOut, "Reboot initiated, cannot start new transaction") {
				t.Errorf("after %v: a new transaction was not refused: exit %d, %q", args, code, errOut)
			}
			if got := e.bootOrder(); got != before {
				t.Errorf("the refused transaction changed the deployments: %s -> %s", before, got)
			}
			e.mustStrata("status")
		})
	}
}

// TestConfigThatDoesNotParse: an rpm-ostreed.conf the daemon cannot read
// (a broken group header here) never keeps it from starting: it logs the
// line and runs with the defaults (automatic updates off), so the timer
// changes nothing. `strata reload` says what is wrong and how to go on,
// and once the file is fixed the reload takes it.
func TestConfigThatDoesNotParse(t *testing.T) {
	e := newEnv(t, envOptions{})
	conf := filepath.Join(e.dir, "rpm-ostreed.conf")
	if err := os.WriteFile(conf, []byte("[Daemon\nAutomaticUpdatePolicy=stage\nIdleExitTimeout=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.daemon.Stop()
	e.daemonArgs = []string{"--config=" + conf}
	e.startDaemon()
	if log := e.daemonLog(); !strings.Contains(log, conf+` line 1: malformed group header \"[Daemon\" (want [Daemon]); using the default`) {
		t.Errorf("the daemon did not log the broken line:\n%s", log)
	}
	if out := e.mustStrata("status", "-v"); !strings.Contains(out, "AutomaticUpdates: disabled") {
		t.Errorf("a broken config did not leave automatic updates off:\n%s", out)
	}
	if out := e.mustStrata("upgrade", "--trigger-automatic-update-policy"); !strings.Contains(out, "Automatic updates are not enabled") {
		t.Errorf("the automatic update ran on a broken config:\n%s", out)
	}
	e.expectFailure(conf+` line 1: malformed group header "[Daemon" (want [Daemon]); the defaults are used for those settings, fix the file and run `+"`strata reload`"+` again`, "reload")
	if got := e.versions(); got != "1.0" {
		t.Errorf("deployments changed: %q", got)
	}

	if err := os.WriteFile(conf, []byte("[Daemon]\nAutomaticUpdatePolicy=check\nIdleExitTimeout=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("reload")
	if out := e.mustStrata("status"); !strings.Contains(out, "AutomaticUpdates: check;") {
		t.Errorf("the fixed config was not taken:\n%s", out)
	}
}

// TestDaemonStartedTwice: a second stratad (the unit started by hand next
// to an activated one, say) finds the bus name taken, says so and exits;
// the first keeps serving and nothing changes.
func TestDaemonStartedTwice(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := e.ostreeStatus()
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.stratad, "--sysroot="+e.host.Sysroot, "--run-dir="+e.runDir, "--config="+filepath.Join(e.runDir, "rpm-ostreed.conf"))
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a second stratad kept running (or exited 0):\n%s", out)
	}
	if !strings.Contains(string(out), "bus name org.projectatomic.rpmostree1 is already owned: is another stratad or rpm-ostreed running?") {
		t.Errorf("the second stratad does not say why it stops:\n%s", out)
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("the second stratad changed the sysroot:\n%s\n->\n%s", before, after)
	}
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("the first daemon does not work after the second one left: %q", got)
	}
}

// TestAutomaticUpdateStartedTwice: strata-automatic.service started again
// while its run is still going (by hand, or a second timer) joins that run
// instead of starting another: both calls end when it ends, one deployment
// is written, and the record shows one run.
func TestAutomaticUpdateStartedTwice(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	conf := filepath.Join(e.dir, "rpm-ostreed.conf")
	if err := os.WriteFile(conf, []byte("[Daemon]\nIdleExitTimeout=0\nAutomaticUpdatePolicy=stage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.daemon.Stop()
	e.daemonArgs = []string{"--config=" + conf}
	e.startDaemon()

	srv := slowRemote(e)
	start := func() (*exec.Cmd, *strings.Builder) {
		cmd := exec.CommandContext(e.ctx, bins.strata, "upgrade", "--trigger-automatic-update-policy")
		cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	first, out1 := start()
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	if out := e.mustStrata("status"); !strings.Contains(out, "AutomaticUpdates: stage; strata-automatic.service: running\n") {
		t.Errorf("status during the run:\n%s", out)
	}
	second, out2 := start()
	time.Sleep(time.Second) // let the second call reach the daemon while the first runs
	srv.SetObjectDelay(0)
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out1)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out2)
	}
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("deployments after two overlapping runs: %q, want one new one", got)
	}
	if out := e.mustStrata("status", "-v"); !strings.Contains(out, "AutomaticUpdates: stage; strata-automatic.timer: last run ") ||
		!strings.Contains(out, "): deployed 2.0 (") {
		t.Errorf("status -v after the run:\n%s", out)
	}
}
