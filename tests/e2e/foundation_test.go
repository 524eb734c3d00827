package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

const stableRefspec = fixture.Remote + ":" + fixture.StableRef

func TestStatusAgreesWithOstree(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := e.status()
	if len(s.Deployments) != 1 {
		t.Fatalf("want 1 deployment, got %+v", s.Deployments)
	}
	d := s.Deployments[0]
	if d.Checksum != e.host.Versions["1.0"] || d.Version != "1.0" || d.Origin != stableRefspec || d.OSName != fixture.OSName {
		t.Errorf("deployment = %+v, want v1.0 %s of %s", d, e.host.Versions["1.0"], stableRefspec)
	}
	if d.Booted || d.Staged || d.Pinned || d.Timestamp == 0 {
		t.Errorf("booted/staged/pinned/timestamp = %v/%v/%v/%d on a host not booted from this sysroot", d.Booted, d.Staged, d.Pinned, d.Timestamp)
	}
	if want := fixture.OSName + "-" + d.Checksum + ".0"; d.ID != want {
		t.Errorf("id = %q, want %q", d.ID, want)
	}
	if !strings.Contains(e.ostreeStatus(), d.Checksum+".0") {
		t.Errorf("ostree admin status does not show %s.0:\n%s", d.Checksum, e.ostreeStatus())
	}
	if string(s.Transaction) != "null" {
		t.Errorf("transaction = %s, want null when idle", s.Transaction)
	}
	human := e.mustStrata("status")
	for _, want := range []string{"State: idle", "Deployments:", stableRefspec, "Version: 1.0", "Commit: " + d.Checksum} {
		if !strings.Contains(human, want) {
			t.Errorf("status output lacks %q:\n%s", want, human)
		}
	}
	// Invoked as rpm-ostree, the CLI is the same program.
	asRpmOstree, _, code := e.run(bins.rpmOstree, "status", "--json")
	if code != 0 || !strings.Contains(asRpmOstree, d.Checksum) {
		t.Errorf("rpm-ostree status --json: exit %d, output %s", code, asRpmOstree)
	}
}

func TestUpgradeAndCheck(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	if _, _, code := e.strata("upgrade", "--check"); code != 0 {
		t.Fatalf("upgrade --check with v2 available exited %d, want 0", code)
	}
	if got := e.versions(); got != "1.0" {
		t.Fatalf("upgrade --check changed deployments: %s", got)
	}
	// --preview names the base packages the update changes.
	preview, _, code := e.strata("upgrade", "--preview")
	if code != 0 || !strings.Contains(preview, "demo-base-files") || !strings.Contains(preview, "2.0") {
		t.Errorf("upgrade --preview: exit %d, output lacks the demo-base-files 1.0 -> 2.0 change:\n%s", code, preview)
	}
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Fatalf("after upgrade: versions %q, want \"2.0 1.0\"", got)
	}
	s := e.status()
	if s.Deployments[0].Checksum != e.host.Versions["2.0"] {
		t.Errorf("default checksum %s, want v2 %s", s.Deployments[0].Checksum, e.host.Versions["2.0"])
	}
	if _, _, code := e.strata("upgrade", "--check"); code != 77 {
		t.Errorf("upgrade --check with nothing new exited %d, want 77", code)
	}
	out := e.mustStrata("upgrade")
	if !strings.Contains(out, "No upgrade available.") {
		t.Errorf("second upgrade says %q, want \"No upgrade available.\"", out)
	}
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("no-op upgrade changed deployments: %s", got)
	}
	// /etc of the new deployment is merged from the old one by libostree.
	deployDir := filepath.Join(e.host.Sysroot, "ostree/deploy", fixture.OSName, "deploy", s.Deployments[0].Checksum+"."+strconv.Itoa(s.Deployments[0].Serial))
	if _, err := os.Stat(filepath.Join(deployDir, "etc")); err != nil {
		t.Errorf("new deployment has no /etc: %v", err)
	}
}

func TestRollbackTwiceReturnsToStart(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.mustStrata("upgrade")
	start := e.ostreeStatus()
	e.mustStrata("rollback")
	if got := e.versions(); got != "1.0 2.0" {
		t.Fatalf("after rollback: %q, want \"1.0 2.0\"", got)
	}
	e.mustStrata("rollback")
	if got := e.versions(); got != "2.0 1.0" {
		t.Fatalf("after second rollback: %q", got)
	}
	if end := e.ostreeStatus(); end != start {
		t.Errorf("rollback twice is not the start:\n%s\nvs\n%s", start, end)
	}
}

// slowRemote makes object downloads of the host's remote slow so a pull can be
// caught in the middle.
func slowRemote(e *env) *fixture.Server {
	e.t.Helper()
	e.host.Server.SetObjectDelay(400 * time.Millisecond)
	e.host.Server.ResetObjectWait()
	return e.host.Server
}

// startUpgrade runs `strata upgrade` in the background.
func startUpgrade(e *env) (*exec.Cmd, *strings.Builder) {
	e.t.Helper()
	cmd := exec.CommandContext(e.ctx, bins.strata, "upgrade")
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, &out
}

func TestConcurrentRequestRefused(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	srv := slowRemote(e)
	cmd, out := startUpgrade(e)
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.strata("deploy", "1.0")
	if code == 0 || !strings.Contains(errOut, "Transaction in progress") || !strings.Contains(errOut, "upgrade") {
		t.Errorf("second request: exit %d, stderr %q; want refusal naming the upgrade", code, errOut)
	}
	srv.SetObjectDelay(0)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("upgrade failed: %v\n%s", err, out)
	}
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("after upgrade: %q", got)
	}
}

func TestCancelMidPullLeavesDeploymentsUnchanged(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	before := e.ostreeStatus()
	srv := slowRemote(e)
	cmd, out := startUpgrade(e)
	if err := srv.WaitObjectRequest(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("cancel")
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("cancelled upgrade exited 0:\n%s", out)
	}
	if !strings.Contains(strings.ToLower(out.String()), "cancel") {
		t.Errorf("cancelled upgrade output does not say so:\n%s", out)
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("cancel changed deployments:\n%s\nvs\n%s", before, after)
	}
	// The daemon is free for the next transaction.
	srv.SetObjectDelay(0)
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("upgrade after cancel: %q", got)
	}
}

func TestDaemonRestartSeesSameState(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.mustStrata("upgrade")
	before := e.mustStrata("status", "--json")
	if err := e.daemon.Stop(); err != nil {
		t.Fatal(err)
	}
	e.startDaemon()
	if after := e.mustStrata("status", "--json"); after != before {
		t.Errorf("status changed across restart:\n%s\nvs\n%s", before, after)
	}
}

func TestCorruptRemote(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Damage every file object the upgrade needs and v1 does not have.
	corrupted := 0
	filepath.Walk(filepath.Join(e.host.RemoteRepo, "objects"), func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(path, ".filez") && info.ModTime().After(time.Now().Add(-24*time.Hour)) {
			if os.WriteFile(path, []byte("this is not an ostree object"), 0o644) == nil {
				corrupted++
			}
		}
		return nil
	})
	if corrupted == 0 {
		t.Fatal("found no objects to corrupt")
	}
	before := e.ostreeStatus()
	_, errOut, code := e.strata("upgrade")
	if code == 0 {
		t.Fatal("upgrade from a corrupt remote succeeded")
	}
	if !strings.HasPrefix(errOut, "error: ") {
		t.Errorf("want `error: …`, got %q", errOut)
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("deployments changed:\n%s\nvs\n%s", before, after)
	}
	e.daemonAlive()
}

func TestMalformedOrigin(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.status().Deployments[0]
	originFile := filepath.Join(e.host.Sysroot, "ostree/deploy", d.OSName, "deploy", d.Checksum+"."+strconv.Itoa(d.Serial)+".origin")
	good, err := os.ReadFile(originFile)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed keyfile that says nothing about what to follow.
	if err := os.WriteFile(originFile, []byte("[origin]\nunrelated=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.daemon.Stop()
	e.startDaemon()
	e.expectFailure("origin has no [origin] refspec", "upgrade")

	// A file that is not a keyfile at all: libostree itself cannot load the
	// sysroot now, so neither can `ostree admin status`. The daemon keeps
	// serving and says which file is broken.
	if err := os.WriteFile(originFile, []byte("[origin\nthis is not a keyfile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deployDir := filepath.Dir(originFile)
	before, _ := os.ReadDir(deployDir)
	_, errOut, code := e.strata("upgrade")
	if code == 0 || !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, ".origin") {
		t.Errorf("upgrade with a corrupt origin: exit %d, stderr %q; want an error naming the origin file", code, errOut)
	}
	if after, _ := os.ReadDir(deployDir); len(after) != len(before) {
		t.Errorf("deploy directory changed: %d entries, was %d", len(after), len(before))
	}
	e.daemonAlive()

	// Repaired, everything works again without restarting the daemon.
	if err := os.WriteFile(originFile, good, 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("after repair and upgrade: %q", got)
	}
}

func TestNotASysroot(t *testing.T) {
	e := newEnv(t, envOptions{})
	empty := t.TempDir()
	cmd := exec.CommandContext(e.ctx, bins.stratad, "--sysroot="+empty, "--run-dir="+t.TempDir())
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("stratad on an empty directory did not fail:\n%s", out)
	}
	if !strings.Contains(string(out), "not an OSTree sysroot") {
		t.Errorf("stratad's error does not say what is wrong:\n%s", out)
	}
	e.daemonAlive() // the real daemon kept its name
}
