// Package units checks what `make install` lays out for a host: the systemd
// units pass `systemd-analyze verify`, stratad.service is more locked down
// than rpm-ostree's own unit, rpm-ostree's unit names resolve to strata's,
// and the D-Bus activation file starts the installed daemon.
package units

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// rpmOstreedExposure is what `systemd-analyze security --offline=yes` (systemd
// 252) gives rpm-ostree's current rpm-ostreed.service (DynamicUser, with the
// daemon started with full privileges through ExecStart=+): the score to beat.
const rpmOstreedExposure = 8.3

// install runs `make install DESTDIR=…` from the module root and returns the
// root it filled, with the host's own unit files added under it so that
// systemd-analyze finds the targets and sockets the units refer to.
func install(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	unitDir := filepath.Join(root, "usr/lib/systemd/system")
	if out, err := exec.Command("cp", "-an", "/lib/systemd/system/.", unitDir).CombinedOutput(); err != nil {
		t.Fatalf("copying the host's units: %v\n%s", err, out)
	}
	return root
}

func TestUnitsVerify(t *testing.T) {
	root := install(t)
	for _, unit := range []string{"stratad.service", "strata-automatic.service", "strata-automatic.timer",
		"rpm-ostreed.service", "rpm-ostreed-automatic.service", "rpm-ostreed-automatic.timer"} {
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, "/usr/lib/systemd/system/"+unit).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
	// The rpm-ostree names are aliases of strata's units.
	for alias, target := range map[string]string{"rpm-ostreed.service": "stratad.service",
		"rpm-ostreed-automatic.service": "strata-automatic.service", "rpm-ostreed-automatic.timer": "strata-automatic.timer"} {
		if got, err := os.Readlink(filepath.Join(root, "usr/lib/systemd/system", alias)); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want %s", alias, got, err, target)
		}
	}
}

func TestStratadExposure(t *testing.T) {
	root := install(t)
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--root="+root,
		"/usr/lib/systemd/system/stratad.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for stratad.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("stratad.service exposure %.1f (rpm-ostreed.service %.1f)", score, rpmOstreedExposure)
	if score >= rpmOstreedExposure {
		t.Errorf("stratad.service exposure %.1f, want below rpm-ostreed.service's %.1f", score, rpmOstreedExposure)
	}
}

func TestActivationFile(t *testing.T) {
	root := install(t)
	data, err := os.ReadFile(filepath.Join(root, "usr/share/dbus-1/system-services/org.projectatomic.rpmostree1.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	if keys["Name"] != "org.projectatomic.rpmostree1" || keys["SystemdService"] != "stratad.service" || keys["User"] != "root" {
		t.Errorf("activation file keys %v", keys)
	}
	exe := strings.Fields(keys["Exec"])
	if len(exe) == 0 {
		t.Fatalf("activation file has no Exec: %v", keys)
	}
	if fi, err := os.Stat(filepath.Join(root, exe[0])); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("activation Exec %s is not the installed daemon (%v)", exe[0], err)
	}
}

// TestDefaultConfig: make install lays out a commented default
// /etc/rpm-ostreed.conf whose every setting is commented out (so the
// daemon's defaults apply) and names each key strata reads; an existing
// file is kept.
func TestDefaultConfig(t *testing.T) {
	root := install(t)
	path := filepath.Join(root, "etc/rpm-ostreed.conf")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"#AutomaticUpdatePolicy=none", "#IdleExitTimeout=60", "#LockLayering=false", "[Daemon]"} {
		if !strings.Contains(string(data), key) {
			t.Errorf("default config lacks %q", key)
		}
	}
	if err := os.WriteFile(path, []byte("[Daemon]\nIdleExitTimeout=5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("make", "-C", "../..", "install", "DESTDIR="+root).CombinedOutput(); err != nil {
		t.Fatalf("make install again: %v\n%s", err, out)
	}
	if kept, _ := os.ReadFile(path); string(kept) != "[Daemon]\nIdleExitTimeout=5\n" {
		t.Errorf("make install replaced the administrator's config: %q", kept)
	}
}
