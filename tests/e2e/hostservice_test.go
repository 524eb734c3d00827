package e2e

import (
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
