package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// The polkit scenarios run the real polkitd (Debian's) on the test bus with
// strata's policy file and a rules file, and the CLI as two unprivileged
// users: nobody, whom the rules let upgrade and nothing else, and daemon
// (uid 1), whom no rule names.
const (
	polkitGrantedUser = "nobody"
	polkitDeniedUser  = "daemon"
	// polkitTestTimeout is stratad's --polkit-timeout here: long enough for
	// polkitd on a loaded machine, short enough to wait out in a test.
	polkitTestTimeout = 4 * time.Second
)

// polkitRules grants the upgrade action, and only it, to polkitGrantedUser.
const polkitRules = `// strata e2e: nobody may upgrade the OS, and do nothing else.
polkit.addRule(function(action, subject) {
    if (action.id == "org.projectatomic.rpmostree1.upgrade" && subject.user == "` + polkitGrantedUser + `") {
        return polkit.Result.YES;
    }
});
`

// polkitActionDefaults are rpm-ostree's defaults (any, inactive, active) for
// each action, which our policy file must keep.
var polkitActionDefaults = map[string][3]string{
	"install-uninstall-packages": {"auth_admin", "auth_admin", "auth_admin_keep"},
	"install-local-packages":     {"auth_admin", "auth_admin", "auth_admin_keep"},
	"override":                   {"auth_admin", "auth_admin", "auth_admin_keep"},
	"deploy":                     {"auth_admin", "auth_admin", "auth_admin_keep"},
	"upgrade":                    {"auth_admin", "auth_admin", "auth_admin_keep"},
	"rebase":                     {"auth_admin", "auth_admin", "auth_admin_keep"},
	"rollback":                   {"auth_admin", "auth_admin", "auth_admin_keep"},
	"bootconfig":                 {"auth_admin", "auth_admin", "auth_admin_keep"},
	"reload-daemon":              {"auth_admin", "auth_admin", "auth_admin_keep"},
	"cancel":                     {"auth_admin", "auth_admin", "auth_admin_keep"},
	"cleanup":                    {"auth_admin", "auth_admin", "auth_admin_keep"},
	"repo-refresh":               {"auth_admin", "auth_admin", "auth_admin_keep"},
	"repo-modify":                {"auth_admin", "auth_admin", "auth_admin_keep"},
	"client-management":          {"auth_admin_keep", "auth_admin_keep", "yes"},
	"finalize-deployment":        {"auth_admin", "auth_admin", "auth_admin_keep"},
}

// polkitEnv is an env whose bus has a real polkitd, and a CLI the test users
// can run.
type polkitEnv struct {
	*env
	polkit *fixture.Polkit
	cli    string
}

func newPolkitEnv(t *testing.T) *polkitEnv {
	t.Helper()
	e := newEnv(t, envOptions{polkit: true})
	// Restart the daemon with a short polkit timeout (the agent scenario
	// waits it out).
	e.daemon.Stop()
	e.daemonArgs = append(e.daemonArgs, "--polkit-timeout="+polkitTestTimeout.String())
	e.startDaemon()

	p, err := fixture.StartPolkit(e.ctx, e.bus, filepath.Join(e.dir, "polkit"), fixture.PolkitConfig{
		Actions: []string{polkitPolicyFile()},
		Rules:   map[string]string{"50-strata-test.rules": polkitRules},
	})
	if err != nil {
		t.Fatalf("starting polkitd: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("polkitd output:\n%s", p.Log())
		}
	})
	pe := &polkitEnv{env: e, polkit: p}
	e.asNobody() // opens the bus socket (and the directories above it) to everyone
	// Transaction sockets are 0666 in the run dir, which must be passable.
	if err := os.Chmod(e.runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pe.cli = filepath.Join(t.TempDir(), "strata")
	copyExecutable(t, bins.strata, pe.cli)
	for _, dir := range []string{filepath.Dir(pe.cli), filepath.Dir(filepath.Dir(pe.cli))} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return pe
}

func polkitPolicyFile() string {
	return filepath.Join(filepath.Dir(bins.policy), "org.projectatomic.rpmostree1.policy")
}

// userCmd is a command run as the named user, on the test bus.
func (e *polkitEnv) userCmd(name, bin string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		e.t.Fatalf("test user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.CommandContext(e.ctx, bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS=" + e.bus.Address}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// as runs bin as the named user and returns its combined output.
func (e *polkitEnv) as(name, bin string, args ...string) (string, error) {
	e.t.Helper()
	cmd, out := e.userCmd(name, bin, args...)
	err := cmd.Run()
	e.t.Logf("$ (%s) %s %s -> %v\n%s", name, filepath.Base(bin), strings.Join(args, " "), err, out)
	return out.String(), err
}

// gdbusAs calls a method with gdbus as the named user.
func (e *polkitEnv) gdbusAs(name, path, method string, args ...string) (string, error) {
	return e.as(name, "gdbus", append([]string{"call", "--address", e.bus.Address, "--dest", busName,
		"--object-path", path, "--method", method}, args...)...)
}

// TestPolkitPolicyFile: polkitd itself reads our policy file and reports
// every rpm-ostree action id with rpm-ostree's defaults.
func TestPolkitPolicyFile(t *testing.T) {
	e := newPolkitEnv(t)
	cmd := exec.CommandContext(e.ctx, "pkaction", "--verbose")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS=" + e.bus.Address}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkaction: %v\n%s", err, out)
	}
	// pkaction --verbose prints one block per action: "ID:" then indented
	// "key: value" lines.
	got := map[string]map[string]string{}
	var cur map[string]string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "org.") && strings.HasSuffix(line, ":") {
			cur = map[string]string{}
			got[strings.TrimSuffix(line, ":")] = cur
			continue
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && cur != nil {
			cur[k] = strings.TrimSpace(v)
		}
	}
	if len(got) != len(polkitActionDefaults) {
		t.Errorf("polkitd knows %d actions, want %d:\n%s", len(got), len(polkitActionDefaults), out)
	}
	for id, want := range polkitActionDefaults {
		a, ok := got["org.projectatomic.rpmostree1."+id]
		if !ok {
			t.Errorf("polkitd does not know org.projectatomic.rpmostree1.%s", id)
			continue
		}
		if g := [3]string{a["implicit any"], a["implicit inactive"], a["implicit active"]}; g != want {
			t.Errorf("%s defaults (any, inactive, active) = %v, want rpm-ostree's %v", id, g, want)
		}
		if a["description"] == "" || a["message"] == "" {
			t.Errorf("%s has no description or message: %v", id, a)
		}
	}
}

// TestPolkitAuthorization: with a real polkitd, a user granted the upgrade
// action by a rules file upgrades without root; a user no rule names is
// refused on every mutating method and nothing changes; both may read.
func TestPolkitAuthorization(t *testing.T) {
	e := newPolkitEnv(t)
	before := e.ostreeStatus()

	// Read-only calls and status work for anyone.
	for _, u := range []string{polkitGrantedUser, polkitDeniedUser} {
		if out, err := e.as(u, e.cli, "status"); err != nil || !strings.Contains(out, "1.0") {
			t.Errorf("status as %s: %v\n%s", u, err, out)
		}
		if out, err := e.gdbusAs(u, sysrootPath, "org.projectatomic.rpmostree1.Sysroot.GetOS", `""`); err != nil || !strings.Contains(out, osPath) {
			t.Errorf("GetOS as %s: %v\n%s", u, err, out)
		}
		if out, err := e.gdbusAs(u, osPath, "org.freedesktop.DBus.Properties.Get", "org.projectatomic.rpmostree1.OS", "BootedDeployment"); err != nil {
			t.Errorf("reading a property as %s: %v\n%s", u, err, out)
		}
	}

	// The denied user: every mutating method, answered by polkit with no.
	const (
		osIface      = "org.projectatomic.rpmostree1.OS."
		sysrootIface = "org.projectatomic.rpmostree1.Sysroot."
	)
	calls := []struct {
		name, path, method, action string
		args                       []string
	}{
		{"Upgrade", osPath, osIface + "Upgrade", "upgrade", []string{"{}"}},
		{"Rebase", osPath, osIface + "Rebase", "rebase", []string{"{}", `"` + fixture.Remote + ":" + fixture.DevelRef + `"`, "@as []"}},
		{"Deploy", osPath, osIface + "Deploy", "deploy", []string{`"` + e.host.Versions["2.0"] + `"`, "{}"}},
		{"Rollback", osPath, osIface + "Rollback", "rollback", []string{"{}"}},
		{"Cleanup", osPath, osIface + "Cleanup", "cleanup", []string{`["rollback-deployment"]`}},
		{"PkgChange", osPath, osIface + "PkgChange", "install-uninstall-packages", []string{"{}", `["demo-extra"]`, "@as []"}},
		{"UpdateDeployment", osPath, osIface + "UpdateDeployment", "install-uninstall-packages", []string{`{"install-packages": <["demo-extra"]>}`, "{}"}},
		{"UpdateDeployment override", osPath, osIface + "UpdateDeployment", "override", []string{`{"override-remove-packages": <["demo-base-files"]>}`, "{}"}},
		{"KernelArgs", osPath, osIface + "KernelArgs", "bootconfig", []string{`""`, `["quiet"]`, "@as []", "@as []", "{}"}},
		{"RefreshMd", osPath, osIface + "RefreshMd", "repo-refresh", []string{"{}"}},
		{"DownloadUpdateRpmDiff", osPath, osIface + "DownloadUpdateRpmDiff", "upgrade", nil},
		{"Reload", sysrootPath, sysrootIface + "Reload", "reload-daemon", nil},
		{"ReloadConfig", sysrootPath, sysrootIface + "ReloadConfig", "reload-daemon", nil},
	}
	for _, c := range calls {
		out, err := e.gdbusAs(polkitDeniedUser, c.path, c.method, c.args...)
		if err == nil {
			t.Errorf("%s as %s succeeded:\n%s", c.name, polkitDeniedUser, out)
			continue
		}
		if want := "not authorized for org.projectatomic.rpmostree1." + c.action; !strings.Contains(out, "org.freedesktop.DBus.Error.AccessDenied") || !strings.Contains(out, want) {
			t.Errorf("%s as %s: want AccessDenied %q, got:\n%s", c.name, polkitDeniedUser, want, out)
		}
		if after := e.ostreeStatus(); after != before {
			t.Fatalf("%s as %s changed the deployments:\nbefore:\n%s\nafter:\n%s", c.name, polkitDeniedUser, before, after)
		}
	}
	// The granted user may upgrade, and only that.
	for _, c := range calls {
		if c.action == "upgrade" {
			continue
		}
		out, err := e.gdbusAs(polkitGrantedUser, c.path, c.method, c.args...)
		if err == nil || !strings.Contains(out, "not authorized for org.projectatomic.rpmostree1."+c.action) {
			t.Errorf("%s as %s (granted only upgrade): want a refusal, got %v:\n%s", c.name, polkitGrantedUser, err, out)
		}
	}
	// The CLI says so in one line, and the host is untouched.
	out, err := e.as(polkitDeniedUser, e.cli, "upgrade")
	if err == nil || !strings.Contains(out, "not authorized for org.projectatomic.rpmostree1.upgrade") {
		t.Errorf("strata upgrade as %s: want a refusal naming the action, got %v:\n%s", polkitDeniedUser, err, out)
	}
	if after := e.ostreeStatus(); after != before {
		t.Fatalf("refused calls changed the deployments:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	e.daemonAlive()

	out, err = e.as(polkitGrantedUser, e.cli, "upgrade")
	if err != nil {
		t.Fatalf("strata upgrade as %s (granted by a rules file): %v\n%s\ndaemon log:\n%s", polkitGrantedUser, err, out, e.daemonLog())
	}
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("after %s's upgrade: versions %q, want \"2.0 1.0\"", polkitGrantedUser, got)
	}
}

// TestPolkitAgentNeverAnswers: when polkit hands the question to the
// caller's authentication agent and the agent never answers, stratad gives
// up after its timeout, refuses with a message that says so, and withdraws
// the question; nothing changes and the daemon keeps serving.
func TestPolkitAgentNeverAnswers(t *testing.T) {
	e := newPolkitEnv(t)
	before := e.ostreeStatus()
	// The CLI starts only once the agent is registered for its process
	// (same pid and start time across exec), so polkitd finds the agent.
	gateDir := t.TempDir()
	if err := os.Chmod(gateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	gate := filepath.Join(gateDir, "go")
	script := `while [ ! -e "$1" ]; do sleep 0.05; done; exec "$2" upgrade`
	cmd, out := e.userCmd(polkitDeniedUser, "sh", "-c", script, "sh", gate, e.cli)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	agent, err := fixture.RegisterSilentAgent(e.ctx, e.bus, cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	defer agent.Close()
	start := time.Now()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case action := <-agent.Asked:
		if action != "org.projectatomic.rpmostree1.upgrade" {
			t.Errorf("the agent was asked about %s, want the upgrade action", action)
		}
	case <-time.After(polkitTestTimeout + 30*time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("polkitd never asked the agent, so this test proves nothing (CLI:\n%s\npolkitd:\n%s)", out, e.polkit.Log())
	}
	// While the question hangs, the daemon serves everyone else.
	if sout, err := e.as(polkitGrantedUser, e.cli, "status"); err != nil {
		t.Errorf("status while a polkit question is pending: %v\n%s", err, sout)
	}
	err = cmd.Wait()
	took := time.Since(start)
	t.Logf("$ (%s) strata upgrade -> %v after %s\n%s", polkitDeniedUser, err, took, out)
	if err == nil {
		t.Fatalf("strata upgrade succeeded with an agent that never answered:\n%s", out)
	}
	if want := "no answer from polkit within " + polkitTestTimeout.String(); !strings.Contains(out.String(), want) {
		t.Errorf("strata upgrade: want an error containing %q, got:\n%s", want, out)
	}
	if took < polkitTestTimeout || took > polkitTestTimeout+30*time.Second {
		t.Errorf("the refusal came after %s, want just after the %s timeout", took, polkitTestTimeout)
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("deployments changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	e.daemonAlive()
}

// TestPolkitNotRunningDenies: without polkitd, a user a rules file would
// have granted is refused (never allowed) with a message naming the cause;
// root still may.
func TestPolkitNotRunningDenies(t *testing.T) {
	e := newPolkitEnv(t)
	if err := e.polkit.Stop(); err != nil {
		t.Fatal(err)
	}
	before := e.ostreeStatus()
	out, err := e.as(polkitGrantedUser, e.cli, "upgrade")
	if err == nil {
		t.Fatalf("strata upgrade without polkitd succeeded:\n%s", out)
	}
	if want := "polkit is not running"; !strings.Contains(out, want) {
		t.Errorf("strata upgrade without polkitd: want an error containing %q, got:\n%s", want, out)
	}
	if after := e.ostreeStatus(); after != before {
		t.Fatalf("deployments changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if out, err := e.as(polkitGrantedUser, e.cli, "status"); err != nil {
		t.Errorf("status without polkitd: %v\n%s", err, out)
	}
	e.mustStrata("upgrade")
	if got := e.versions(); got != "2.0 1.0" {
		t.Errorf("root's upgrade without polkitd: versions %q, want \"2.0 1.0\"", got)
	}
}
