package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// soakRounds is how many rounds of mixed transactions the short soak in
// `make test` runs (each round is seven transactions); the long soak of
// issue 16 belongs in `make bench`.
const soakRounds = 6

// TestSoakNoLeaks runs rounds of mixed transactions (install, kargs,
// rollback, uninstall, rebase onto an image and back, cleanup) against one
// daemon and checks, after a warm-up round, that the daemon's open files
// and goroutines do not grow, that its run directory keeps nothing of
// finished transactions, and that the repo keeps no staging leftovers. RSS
// (with its anonymous and file-backed parts) is logged for the record; the
// long soak in `make bench` reports its trend.
func TestSoakNoLeaks(t *testing.T) {
	e := newEnv(t, envOptions{http: true, packages: true, registry: true})
	e.pushOSImage("1", "1.0")
	image := "ostree-unverified-registry:" + e.reg.Addr + "/os:stable"
	pid := e.daemon.Pid()
	// Each round ends where it started: one deployment of the OSTree ref,
	// nothing layered.
	round := func() {
		e.mustStrata("install", "demo-extra")
		e.mustStrata("kargs", "--append=soak=1")
		e.mustStrata("rollback") // back to the install, without the karg
		e.mustStrata("uninstall", "demo-extra")
		e.mustStrata("rebase", image)
		e.mustStrata("rebase", fixture.Remote+":"+fixture.StableRef)
		e.mustStrata("cleanup", "-r", "-b")
	}
	round() // warm-up: caches, metadata, the solver's state
	baseFDs := openFDs(t, pid)
	baseStats := e.runtimeStats()
	t.Logf("after warm-up: %d fds, %s", baseFDs, describeStats(baseStats))
	for i := 1; i <= soakRounds; i++ {
		round()
		if fds := openFDs(t, pid); fds > baseFDs+2 {
			t.Errorf("round %d: %d open fds, %d after warm-up: the daemon leaks files", i, fds, baseFDs)
		}
		// A finished transaction's peers linger a little for late readers
		// of Finished (lingerTimeout); their goroutines are gone once the
		// CLI hung up, which it has. Allow a couple still on their way out.
		if st := e.runtimeStats(); st["goroutines"] > baseStats["goroutines"]+2 {
			t.Errorf("round %d: %d goroutines, %d after warm-up: the daemon leaks goroutines", i, st["goroutines"], baseStats["goroutines"])
		}
	}
	t.Logf("after %d rounds: %d fds, %s", soakRounds, openFDs(t, pid), describeStats(e.runtimeStats()))
	if t.Failed() {
		entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, en := range entries {
			target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, en.Name()))
			t.Logf("fd %s -> %s", en.Name(), target)
		}
	}

	if left, _ := os.ReadDir(e.runDir); len(left) > 1 { // the fixture's rpm-ostreed.conf
		var names []string
		for _, l := range left {
			names = append(names, l.Name())
		}
		if strings.Join(names, " ") != "rpm-ostreed.conf" {
			t.Errorf("run directory keeps %v after the transactions ended", names)
		}
	}
	repo := filepath.Join(e.host.Sysroot, "ostree/repo")
	for _, dir := range []string{"tmp", "tmp/cache"} {
		entries, _ := os.ReadDir(filepath.Join(repo, dir))
		for _, en := range entries {
			if strings.HasPrefix(en.Name(), "staging-") || strings.HasPrefix(en.Name(), "checkout-") {
				t.Errorf("repo %s keeps %s after the transactions ended", dir, en.Name())
			}
		}
	}
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("reading the daemon's fds: %v", err)
	}
	return len(entries)
}

// runtimeStats asks the test's daemon for its footprint (fixture.Daemon.RuntimeStats).
func (e *env) runtimeStats() map[string]int64 {
	e.t.Helper()
	st, err := e.daemon.RuntimeStats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func describeStats(st map[string]int64) string {
	mb := func(k string) float64 { return float64(st[k]) / 1024 }
	return fmt.Sprintf("%d goroutines, RSS %.1f MB (anon %.1f, file-backed %.1f, live Go heap %.1f)",
		st["goroutines"], mb("rss_kb"), mb("anon_kb"), mb("file_kb"), mb("go_heap_objects_kb"))
}
