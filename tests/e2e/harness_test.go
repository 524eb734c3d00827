// Package e2e drives the real strata and stratad binaries against real OSTree
// sysroots on a private system bus. Each test builds its own host (from a cached
// golden copy), starts a bus and a daemon, runs CLI commands as a user would, and
// checks the result with strata's JSON and with the ostree CLI itself.
//
// Most scenarios are data: rows of TestScenarios (scenarios_test.go), run by
// one harness (scenario_harness_test.go). Add a row there for a new one; write
// a function only for what a table cannot say (raw D-Bus clients, killing the
// daemon, concurrent or cancelled transactions).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// bins holds the binaries under test, built once by TestMain.
var bins struct{ strata, stratad, rpmOstree, policy string }

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: tests need root (OSTree sysroots, a system bus); skipping")
		os.Exit(0)
	}
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "strata-e2e-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := fixture.BuildCommands(dir, "strata", "stratad", "strata-compose", "strata-image-proxy"); err != nil {
		return 0, err
	}
	bins.strata = filepath.Join(dir, "strata")
	bins.stratad = filepath.Join(dir, "stratad")
	bins.rpmOstree = filepath.Join(dir, "rpm-ostree")
	if err := os.Symlink("strata", bins.rpmOstree); err != nil {
		return 0, err
	}
	bins.policy = filepath.Join(root, "dbus-policy", "org.projectatomic.rpmostree1.conf")
	return m.Run(), nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// env is one test's world: a host, its bus and its daemon.
type env struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	host   *fixture.Host
	bus    *fixture.Bus
	daemon *fixture.Daemon
	runDir string
	pkgs   *fixture.PackageRepo // the layering package repo, when envOptions.packages
	// reg is the loopback registry, when envOptions.registry; stratad then
	// reads containersRoot/etc/containers, which marks reg insecure.
	reg            *fixture.Registry
	containersRoot string
	// daemonArgs are extra stratad arguments (e.g. --config=…).
	daemonArgs []string
	// booted runs the daemon on the host booted from its deployment
	// (fixture.StartBootedDaemon); rebooted is then the file its reboot
	// command creates instead of rebooting.
	booted   bool
	rebooted string
}

type envOptions struct {
	http bool
	// packages serves fixture.BuildPackageRepo and enables it on the host as
	// fixture.PackageRepoID before the daemon starts.
	packages bool
	// registry starts a loopback docker-registry (plain HTTP) the daemon
	// may pull from.
	registry bool
	// vm builds a host whose deployments boot (fixture.BuildVMHost with
	// a real kernel; see vm_test.go) instead of the plain demo host.
	vm bool
	// polkit lets the bus host a polkitd (fixture.PolkitBusPolicy); the
	// test starts it with its own rules (see polkit_test.go).
	polkit bool
	// booted runs the daemon in a mount namespace where the host's
	// deployment is "/" (fixture.StartBootedDaemon): libostree sees a
	// booted host, so deployments are staged.
	booted bool
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	var host *fixture.Host
	var err error
	if opts.vm {
		a := vmAssets(t)
		host, err = fixture.BuildVMHost(ctx, filepath.Join(dir, "host"), a.kernel, a.initramfs, fixture.Options{})
	} else {
		host, err = fixture.BuildHost(ctx, filepath.Join(dir, "host"), fixture.Options{HTTP: opts.http})
	}
	if err != nil {
		t.Fatalf("building host: %v", err)
	}
	t.Cleanup(func() { host.Close() })
	policies := []string{bins.policy}
	if opts.polkit {
		policies = append(policies, fixture.PolkitBusPolicy)
	}
	bus, err := fixture.StartBus(ctx, filepath.Join(dir, "bus"), policies...)
	if err != nil {
		t.Fatalf("starting bus: %v", err)
	}
	t.Cleanup(func() { bus.Stop() })
	e := &env{t: t, ctx: ctx, dir: dir, host: host, bus: bus, booted: opts.booted}
	if opts.booted {
		e.rebooted = filepath.Join(dir, "rebooted")
		e.daemonArgs = append(e.daemonArgs, "--reboot-command=touch "+e.rebooted)
	}
	if opts.packages {
		repo, err := fixture.BuildPackageRepo(ctx, filepath.Join(dir, "pkgs"))
		if err != nil {
			t.Fatalf("building package repo: %v", err)
		}
		t.Cleanup(repo.Close)
		if err := host.InstallRepoFile(fixture.PackageRepoID, repo.URL); err != nil {
			t.Fatal(err)
		}
		e.pkgs = repo
	}
	if opts.registry {
		e.startRegistry()
	}
	e.startDaemon()
	t.Cleanup(func() {
		if e.daemon != nil {
			e.daemon.Stop()
		}
		e.fsck()
	})
	return e
}

func (e *env) startDaemon() {
	e.t.Helper()
	// Transaction sockets must fit a sun_path (108 bytes): keep the run dir short.
	if e.runDir == "" {
		dir, err := os.MkdirTemp("", "strata-run-")
		if err != nil {
			e.t.Fatal(err)
		}
		e.runDir = dir
		e.t.Cleanup(func() { os.RemoveAll(dir) })
	}
	extra := append([]string(nil), e.daemonArgs...)
	if e.containersRoot != "" {
		extra = append(extra, "--containers-root="+e.containersRoot)
	}
	var d *fixture.Daemon
	var err error
	if e.booted {
		d, err = fixture.StartBootedDaemon(e.ctx, bins.stratad, e.bus, e.host, e.runDir, nil, extra...)
	} else {
		d, err = fixture.StartDaemon(e.ctx, bins.stratad, e.bus, e.host.Sysroot, e.runDir, nil, extra...)
	}
	if err != nil {
		e.t.Fatalf("starting stratad: %v", err)
	}
	e.daemon = d
}

// startRegistry starts the loopback registry and writes the containers
// configuration stratad reads: a registries.conf marking it insecure.
func (e *env) startRegistry() {
	e.t.Helper()
	regDir := filepath.Join(e.dir, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	reg, err := fixture.StartRegistry(e.ctx, regDir)
	if err != nil {
		e.t.Fatalf("starting registry: %v", err)
	}
	e.t.Cleanup(func() { reg.Stop() })
	conf, err := reg.WriteRegistriesConf()
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg = reg
	e.containersRoot = filepath.Join(e.dir, "containers")
	dir := filepath.Join(e.containersRoot, "etc", "containers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	data, err := os.ReadFile(conf)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "registries.conf"), data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// strata runs the CLI and returns its output and exit code.
func (e *env) strata(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	return e.run(bins.strata, args...)
}

func (e *env) run(bin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	stdout, stderr, code, err := fixture.RunCLI(e.ctx, bin, e.bus, args...)
	if err != nil {
		e.t.Fatalf("running %s %v: %v", filepath.Base(bin), args, err)
	}
	e.t.Logf("$ %s %s -> %d\n%s%s", filepath.Base(bin), strings.Join(args, " "), code, stdout, stderr)
	return stdout, stderr, code
}

// mustStrata runs the CLI and fails the test unless it exits 0.
func (e *env) mustStrata(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.strata(args...)
	if code != 0 {
		e.t.Fatalf("strata %v exited %d: %s%s\ndaemon log:\n%s", args, code, out, errOut, e.daemonLog())
	}
	return out
}

func (e *env) daemonLog() string {
	if e.daemon == nil {
		return ""
	}
	return e.daemon.Log()
}

// statusJSON is the part of `strata status --json` the tests read.
type statusJSON struct {
	Deployments []struct {
		ID        string `json:"id"`
		OSName    string `json:"osname"`
		Serial    int    `json:"serial"`
		Checksum  string `json:"checksum"`
		Version   string `json:"version"`
		Timestamp int64  `json:"timestamp"`
		Origin    string `json:"origin"`
		// Image and ImageDigest are set for a deployment following a
		// container image (which has no "origin").
		Image        string   `json:"container-image-reference"`
		ImageDigest  string   `json:"container-image-reference-digest"`
		BaseChecksum string   `json:"base-checksum"`
		Packages     []string `json:"packages"`
		Booted       bool     `json:"booted"`
		Staged       bool     `json:"staged"`
		Pinned       bool     `json:"pinned"`
	} `json:"deployments"`
	Transaction json.RawMessage `json:"transaction"`
}

func (e *env) status() statusJSON {
	e.t.Helper()
	out := e.mustStrata("status", "--json")
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	return s
}

// versions lists the deployments' versions in boot order, e.g. "2.0 1.0".
func (e *env) versions() string {
	e.t.Helper()
	var v []string
	for _, d := range e.status().Deployments {
		v = append(v, d.Version)
	}
	return strings.Join(v, " ")
}

// ostreeStatus is the ostree CLI's own view, used to prove the sysroot itself
// changed (or did not).
func (e *env) ostreeStatus() string {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, "ostree", "admin", "status", "--sysroot="+e.host.Sysroot).CombinedOutput()
	if err != nil {
		e.t.Fatalf("ostree admin status: %v\n%s", err, out)
	}
	return string(out)
}

func (e *env) fsck() {
	e.t.Helper()
	out, err := exec.Command("ostree", "fsck", "--repo="+filepath.Join(e.host.Sysroot, "ostree/repo")).CombinedOutput()
	if err != nil {
		e.t.Errorf("ostree fsck failed: %v\n%s", err, out)
	}
}

// expectFailure runs a command that must fail with a one-line error containing
// want, leaving the deployments exactly as they were.
func (e *env) expectFailure(want string, args ...string) {
	e.t.Helper()
	before := e.ostreeStatus()
	out, errOut, code := e.strata(args...)
	if code == 0 {
		e.t.Fatalf("strata %v succeeded, want failure containing %q:\n%s", args, want, out)
	}
	if !strings.Contains(errOut, want) {
		e.t.Errorf("strata %v: stderr %q does not contain %q", args, errOut, want)
	}
	if lines := strings.Count(strings.TrimRight(errOut, "\n"), "\n") + 1; !strings.HasPrefix(errOut, "error: ") || lines > 2 {
		e.t.Errorf("strata %v: want a short `error: …` message, got %d lines:\n%s", args, lines, errOut)
	}
	if after := e.ostreeStatus(); after != before {
		e.t.Errorf("deployments changed by failed %v:\nbefore:\n%s\nafter:\n%s", args, before, after)
	}
	e.daemonAlive()
}

// daemonAlive checks the daemon still answers.
func (e *env) daemonAlive() {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, "busctl", "--address="+e.bus.Address, "get-property",
		"org.projectatomic.rpmostree1", "/org/projectatomic/rpmostree1/Sysroot",
		"org.projectatomic.rpmostree1.Sysroot", "Path").CombinedOutput()
	if err != nil {
		e.t.Fatalf("daemon not answering: %v\n%s\ndaemon log:\n%s", err, out, e.daemonLog())
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
