package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWalkthrough runs the demo as `make demo` does, with the real strata and
// stratad. The failure and cancel tests drive the walkthrough with stand-ins
// for strata and stratad (the daemon stand-in is the fixture's; the CLI one is
// a shell script that checks the daemon through the same bus), because a real
// rollback cannot be made to fail on cue: they test the driver's handling of
// failures and its cleanup, not strata.

const policy = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root"><allow own="org.projectatomic.rpmostree1"/></policy>
  <policy context="default"><allow send_destination="org.projectatomic.rpmostree1"/></policy>
</busconfig>
`

const fakeStrata = `#!/bin/sh
busctl --system status org.projectatomic.rpmostree1 >/dev/null || { echo "no daemon on the bus" >&2; exit 2; }
echo "fake strata $*"
[ "$1" = status ] && echo "Version: 2.0"
[ "$1" = "$DEMO_TEST_FAIL_ON" ] && { echo "failing $1" >&2; exit 1; }
exit 0
`

// TestMain builds the stand-in daemon and the real binaries once for all tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demo-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range []struct{ name, pkg, env string }{
		{"standin", "../fixture/testdata/standin", standinEnv},
		{"strata", "../../cmd/strata", realStrataEnv},
		{"stratad", "../../cmd/stratad", realStratadEnv},
		// stratad finds its image helper next to itself.
		{"strata-image-proxy", "../../cmd/strata-image-proxy", ""},
	} {
		bin := filepath.Join(dir, b.name)
		if out, err := exec.Command("go", "build", "-tags", "containers_image_openpgp", "-o", bin, b.pkg).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.name, err, out)
			os.Exit(1)
		}
		if b.env != "" {
			os.Setenv(b.env, bin)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// These pass the binaries' paths from TestMain to the tests.
const (
	standinEnv     = "DEMO_TEST_STANDIN"
	realStrataEnv  = "DEMO_TEST_STRATA"
	realStratadEnv = "DEMO_TEST_STRATAD"
)

func setup(t *testing.T) (config, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root: the demo builds a sysroot")
	}
	dir := t.TempDir()
	cfg := config{
		strata:   filepath.Join(dir, "strata"),
		stratad:  os.Getenv(standinEnv),
		policies: []string{filepath.Join(dir, "policy.conf")},
		// Share the fixture's usual cache: TMPDIR is redirected below.
		cacheDir: os.TempDir(),
	}
	if err := os.WriteFile(cfg.strata, []byte(fakeStrata), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.policies[0], []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	// The driver's temp dir goes here, so the test can see it is removed.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	return cfg, tmp
}

func leftovers(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "strata-demo-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestWalkthrough(t *testing.T) {
	cfg, tmp := setup(t)
	cfg.strata, cfg.stratad = os.Getenv(realStrataEnv), os.Getenv(realStratadEnv)
	cfg.policies = []string{"../../dbus-policy/org.projectatomic.rpmostree1.conf"}
	var out bytes.Buffer
	if err := run(testContext(t), cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var cmds []string
	image := ""
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "$ strata rebase "); ok {
			image = rest
		}
		if strings.HasPrefix(line, "$ ") {
			cmds = append(cmds, line)
		}
	}
	want := []string{"$ strata status", "$ strata upgrade", "$ strata status", "$ strata rollback", "$ strata status",
		"$ strata install demo-extra", "$ strata status", "$ strata uninstall demo-extra", "$ strata status",
		"$ strata rebase " + image, "$ strata status", "$ strata upgrade --check", "$ strata upgrade",
		"$ strata install demo-extra", "$ strata status"}
	if strings.Join(cmds, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", cmds, want)
	}
	if !strings.HasPrefix(image, "ostree-unverified-registry:127.0.0.1:") {
		t.Errorf("rebased onto %q, want the loopback registry's image", image)
	}
	for _, shown := range []string{"Version: 2.0", "Added:\n  demo-extra-1.0-1.noarch", "LayeredPackages: demo-extra", "Removed:\n  demo-extra-1.0-1.noarch",
		"Fetching layer 2/2", "Digest: sha256:", "Upgraded:\n  demo-base-files 1.0-1 -> 2.0-1"} {
		if !strings.Contains(out.String(), shown) {
			t.Errorf("the walkthrough does not show %q:\n%s", shown, out.String())
		}
	}
	if l := leftovers(t, tmp); len(l) != 0 {
		t.Errorf("temp dir left behind: %v", l)
	}
}

func TestWalkthroughStopsAtFailure(t *testing.T) {
	cfg, tmp := setup(t)
	t.Setenv("DEMO_TEST_FAIL_ON", "rollback")
	var out bytes.Buffer
	err := run(testContext(t), cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "strata rollback: exit status 1") {
		t.Fatalf("run = %v, want the rollback failure\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "failing rollback") || !strings.Contains(out.String(), "stratad log tail") ||
		!strings.Contains(out.String(), "standin: owning name") {
		t.Errorf("output lacks the failure or the daemon log:\n%s", out.String())
	}
	if strings.Count(out.String(), "$ strata") != 4 {
		t.Errorf("demo went on after the failure:\n%s", out.String())
	}
	if l := leftovers(t, tmp); len(l) != 0 {
		t.Errorf("temp dir left behind: %v", l)
	}
}

func TestWalkthroughCancelled(t *testing.T) {
	cfg, tmp := setup(t)
	ctx, cancel := context.WithCancel(testContext(t))
	cancel() // as if Ctrl-C came before the first step
	var out bytes.Buffer
	if err := run(ctx, cfg, &out); err == nil {
		t.Fatalf("cancelled run succeeded:\n%s", out.String())
	}
	if l := leftovers(t, tmp); len(l) != 0 {
		t.Errorf("temp dir left behind: %v", l)
	}
}

// syncBuffer is a bytes.Buffer the demo writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCockpitMode: `make demo COCKPIT=1` serves the page for the demo host
// at the address it prints, until cancelled, then cleans up.
func TestCockpitMode(t *testing.T) {
	cfg, tmp := setup(t)
	cfg.strata, cfg.stratad = os.Getenv(realStrataEnv), os.Getenv(realStratadEnv)
	cfg.policies = []string{"../../dbus-policy/org.projectatomic.rpmostree1.conf"}
	cfg.cockpit, cfg.cockpitPort = "../../cockpit", 0
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()

	var url string
	for url == "" {
		for _, line := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "#   http://"); ok {
				url = "http://" + strings.TrimSpace(rest)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended before serving the page: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("no page address printed:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, u := range []string{url, strings.TrimSuffix(url, "strata/index.html") + "base1/cockpit.js"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", u, resp.Status)
		}
		if strings.HasSuffix(u, "index.html") && !strings.Contains(string(body), "strata.js") {
			t.Errorf("GET %s is not strata's page:\n%s", u, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo after Ctrl-C: %v\n%s", err, out.String())
	}
	if l := leftovers(t, tmp); len(l) != 0 {
		t.Errorf("temp dir left behind: %v", l)
	}
}
