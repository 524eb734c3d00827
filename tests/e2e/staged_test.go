package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// Staged deployments on a booted host (issue 14, item 5). The daemon runs on
// the host booted from its 1.0 deployment (envOptions.booted); shutdown's
// finalization is libostree's own `ostree admin finalize-staged`, run in the
// daemon's namespace, which is what ostree-finalize-staged.service runs.

// stagedLock is libostree's flag that keeps a staged deployment from being
// finalized.
const stagedLock = "/run/ostree/staged-deployment-locked"

// The booted-host harness: libostree in the daemon's namespace sees the
// host booted from its deployment.
func TestBootedHostHarness(t *testing.T) {
	e := newEnv(t, envOptions{booted: true})
	st := e.status()
	if len(st.Deployments) != 1 || !st.Deployments[0].Booted {
		t.Fatalf("deployments %+v, want the one deployment booted\ndaemon log:\n%s", st.Deployments, e.daemonLog())
	}
	if out := e.inNamespace("ostree", "admin", "status"); !strings.HasPrefix(out, "* demo ") {
		t.Fatalf("ostree admin status in the namespace does not mark the deployment booted:\n%s", out)
	}
	if got := e.busctl("get-property", busName, sysrootPath, "org.projectatomic.rpmostree1.Sysroot", "Booted"); !strings.Contains(got, osPath) {
		t.Errorf("Sysroot.Booted on the booted host = %s, want %s", got, osPath)
	}
	// rpm-ostree's signature, which its clients (Zincati, the MCO) call.
	intro := e.busctl("introspect", busName, osPath, "org.projectatomic.rpmostree1.OS")
	if !regexp.MustCompile(`\.FinalizeDeployment\s+method\s+a\{sv\}\s+s\s`).MatchString(intro) {
		t.Errorf("OS introspection lacks FinalizeDeployment(a{sv}) -> s:\n%s", intro)
	}
}

// inNamespace runs a tool on the booted host and returns its output.
func (e *env) inNamespace(name string, args ...string) string {
	e.t.Helper()
	out, err := e.daemon.InNamespace(e.ctx, name, args...)
	if err != nil {
		e.t.Fatalf("%v\ndaemon log:\n%s", err, e.daemonLog())
	}
	e.t.Logf("(booted host) $ %s %s\n%s", name, strings.Join(args, " "), out)
	return out
}

// locked says whether the staged deployment's finalization is locked.
func (e *env) locked() bool {
	e.t.Helper()
	_, err := e.daemon.InNamespace(e.ctx, "test", "-e", stagedLock)
	return err == nil
}

// finalizeAtShutdown runs what ostree-finalize-staged.service runs.
func (e *env) finalizeAtShutdown() {
	e.t.Helper()
	e.inNamespace("ostree", "admin", "finalize-staged")
}

// waitBootOrder waits for the daemon to publish want as its bootOrder: it
// notices changes made by other tools (ostree admin) by polling.
func (e *env) waitBootOrder(want string) {
	e.t.Helper()
	got := ""
	waitFor(e.t, "deployments "+want, 15*time.Second, func() bool {
		got = e.bootOrder()
		return got == want
	})
}

// bootOrder is the deployments' versions with their marks, e.g.
// "2.0(staged) 1.0(booted)".
func (e *env) bootOrder() string {
	e.t.Helper()
	var out []string
	for _, d := range e.status().Deployments {
		s := d.Version
		if d.Staged {
			s += "(staged)"
		}
		if d.Booted {
			s += "(booted)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// diskDeployments counts the deployment checkouts in the sysroot.
func (e *env) diskDeployments() int {
	e.t.Helper()
	dirs, err := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree", "deploy", fixture.OSName, "deploy", "*.[0-9]*"))
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			n++
		}
	}
	return n
}

func (e *env) wasRebooted() bool {
	_, err := os.Stat(e.rebooted)
	return err == nil
}

// upgrade, deploy and rebase stage their deployment; nothing enters the boot
// order until shutdown finalizes it.
func TestStagedDeployments(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		version string
	}{
		{"upgrade", []string{"upgrade"}, "2.0"},
		{"deploy", []string{"deploy", "2.0"}, "2.0"},
		{"rebase", []string{"rebase", fixture.Remote + ":" + fixture.DevelRef}, "10.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{booted: true})
			bootEntries := e.ostreeStatus()
			e.mustStrata(tt.args...)
			if got, want := e.bootOrder(), tt.version+"(staged) 1.0(booted)"; got != want {
				t.Fatalf("after %v: deployments %s, want %s", tt.args, got, want)
			}
			if out := e.mustStrata("status", "-v"); !strings.Contains(out, "Staged: yes") {
				t.Errorf("status -v does not mark the staged deployment:\n%s", out)
			}
			if out := e.inNamespace("ostree", "admin", "status"); !strings.Contains(out, "(staged)") {
				t.Errorf("libostree does not see a staged deployment:\n%s", out)
			}
			if e.locked() {
				t.Error("finalization locked without --lock-finalization")
			}
			if after := e.ostreeStatus(); after != bootEntries {
				t.Errorf("the boot entries changed before shutdown:\nbefore:\n%s\nafter:\n%s", bootEntries, after)
			}
			e.finalizeAtShutdown()
			e.waitBootOrder(tt.version + " 1.0(booted)")
			if out := e.ostreeStatus(); !strings.Contains(out, "Version: "+tt.version) {
				t.Errorf("the boot entries do not list %s after finalization:\n%s", tt.version, out)
			}
		})
	}
}

// Package layering stages too.
func TestStagedPackageInstall(t *testing.T) {
	e := newEnv(t, envOptions{booted: true, packages: true})
	e.mustStrata("install", "demo-extra")
	st := e.status()
	if len(st.Deployments) != 2 || !st.Deployments[0].Staged || strings.Join(st.Deployments[0].Packages, " ") != "demo-extra" {
		t.Fatalf("deployments %+v, want a staged deployment layering demo-extra", st.Deployments)
	}
	e.finalizeAtShutdown()
	e.waitBootOrder("1.0 1.0(booted)")
	if st := e.status(); strings.Join(st.Deployments[0].Packages, " ") != "demo-extra" {
		t.Fatalf("after finalization: %+v", st.Deployments)
	}
}

// --lock-finalization keeps the staged deployment through shutdown until
// finalize-deployment names it; finalize-deployment then reboots.
func TestLockedFinalization(t *testing.T) {
	e := newEnv(t, envOptions{booted: true})
	// This host does not go down: its reboot command fails after leaving
	// its mark, so the daemon takes transactions again (as after a failed
	// `systemctl reboot`) and the test goes on.
	e.daemon.Stop()
	e.daemonArgs = append(e.daemonArgs, "--reboot-command="+failingReboot(t, e))
	e.startDaemon()
	e.mustStrata("upgrade", "--lock-finalization")
	if !e.locked() {
		t.Fatal("upgrade --lock-finalization left the staged deployment unlocked")
	}
	staged := e.status().Deployments[0]
	e.finalizeAtShutdown()
	if got := e.bootOrder(); got != "2.0(staged) 1.0(booted)" {
		t.Fatalf("a locked deployment was finalized: %s", got)
	}

	// The wrong checksum changes nothing and does not reboot.
	e.expectFailure("Expected staged base checksum "+e.host.Versions["1.0"]+", but found "+staged.Checksum,
		"finalize-deployment", e.host.Versions["1.0"])
	if !e.locked() || e.wasRebooted() {
		t.Fatalf("a refused finalize-deployment unlocked (%t) or rebooted (%t)", !e.locked(), e.wasRebooted())
	}
	if _, errOut, code := e.strata("finalize-deployment"); code == 0 || !strings.Contains(errOut, "Must provide expected CHECKSUM or --allow-missing-checksum") {
		t.Errorf("finalize-deployment without a checksum: exit %d, %q", code, errOut)
	}

	out := e.mustStrata("finalize-deployment", staged.Checksum)
	if e.locked() {
		t.Fatal("finalize-deployment left the lock")
	}
	if !e.wasRebooted() {
		t.Fatalf("finalize-deployment did not reboot:\n%s\ndaemon log:\n%s", out, e.daemonLog())
	}
	// Unlocked already: refused unless allowed.
	e.expectFailure("already unlocked", "finalize-deployment", staged.Checksum)
	e.mustStrata("finalize-deployment", "--allow-unlocked", staged.Checksum)
	e.finalizeAtShutdown()
	e.waitBootOrder("2.0 1.0(booted)")
}

// finalize-deployment with nothing staged is refused, without a reboot.
func TestFinalizeNothingStaged(t *testing.T) {
	e := newEnv(t, envOptions{booted: true})
	e.expectFailure("No pending staged deployment", "finalize-deployment", e.host.Versions["2.0"])
	if e.wasRebooted() {
		t.Fatal("rebooted although nothing was staged")
	}
	if got := e.bootOrder(); got != "1.0(booted)" {
		t.Fatalf("deployments %s, want 1.0 alone", got)
	}
}

// cleanup -p drops the staged deployment: its checkout, libostree's state
// and the lock; shutdown then has nothing to finalize.
func TestCleanupPendingDropsStaged(t *testing.T) {
	e := newEnv(t, envOptions{booted: true})
	e.mustStrata("upgrade", "--lock-finalization")
	if n := e.diskDeployments(); n != 2 {
		t.Fatalf("%d deployment checkouts after staging, want 2", n)
	}
	e.mustStrata("cleanup", "-p")
	if got := e.bootOrder(); got != "1.0(booted)" {
		t.Fatalf("after cleanup -p: %s, want 1.0 alone", got)
	}
	if e.locked() {
		t.Error("cleanup -p left the finalization lock")
	}
	if _, err := e.daemon.InNamespace(e.ctx, "test", "-e", "/run/ostree/staged-deployment"); err == nil {
		t.Error("cleanup -p left libostree's staged state")
	}
	if n := e.diskDeployments(); n != 1 {
		t.Errorf("%d deployment checkouts after cleanup -p, want 1", n)
	}
	e.finalizeAtShutdown()
	if got := e.bootOrder(); got != "1.0(booted)" {
		t.Fatalf("after shutdown: %s, want 1.0 alone", got)
	}
}

// failingReboot writes a reboot command that leaves e.rebooted and fails.
func failingReboot(t *testing.T, e *env) string {
	t.Helper()
	script := filepath.Join(e.dir, "reboot-fails")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+e.rebooted+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}
