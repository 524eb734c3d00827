package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// Soak targets (issue 16): idle RSS after the run, and nothing that grows.
const (
	soakRSSTarget = 30.0 // MB
	soakEvery     = 50   // sample every this many transactions
)

// soakRound is one round of mixed transactions that ends where it started
// (the demo host's 1.0, nothing layered, one deployment).
var soakRound = [][]string{
	{"install", "demo-extra"},
	{"kargs", "--append=soak=1"},
	{"rollback"},
	{"uninstall", "demo-extra"},
	{"deploy", "2.0"},
	{"deploy", "1.0"},
	{"cleanup", "-r"},
}

type soakSample struct {
	txns       int
	rssMB      float64
	anonMB     float64 // anonymous pages: Go and C heaps, stacks
	fileMB     float64 // file-backed pages: text and data of the binary and libraries
	goHeapMB   float64 // live Go heap objects
	goroutines int
	fds        int
	objects    int     // files in the repo's objects/
	objectsMB  float64 // their sizes (not the directories': those grow as entries come and go)
	runEntries int
	repoTmp    []string // staging-*/checkout-* left in the repo's tmp
}

// runSoak is measurement 6: n transactions of mixed kinds against one
// daemon on the demo host, sampled every soakEvery.
func runSoak(ctx context.Context, cfg config, dir string, n int, out io.Writer) ([]string, error) {
	fmt.Fprintf(out, "6. soak: %d mixed transactions (install, kargs, rollback, uninstall, deploy, cleanup) against one daemon\n", n)
	host, err := fixture.BuildHost(ctx, filepath.Join(dir, "host"), fixture.Options{HTTP: true})
	if err != nil {
		return nil, err
	}
	defer host.Close()
	pkgs, err := fixture.BuildPackageRepo(ctx, filepath.Join(dir, "pkgs"))
	if err != nil {
		return nil, err
	}
	defer pkgs.Close()
	if err := host.InstallRepoFile(fixture.PackageRepoID, pkgs.URL); err != nil {
		return nil, err
	}
	bus, err := fixture.StartBus(ctx, filepath.Join(dir, "bus"), cfg.policies...)
	if err != nil {
		return nil, err
	}
	defer bus.Stop()
	runDir, err := os.MkdirTemp("", "strata-bench-run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(runDir)
	daemon, err := fixture.StartDaemon(ctx, cfg.stratad, bus, host.Sysroot, runDir, nil)
	if err != nil {
		return nil, err
	}
	defer daemon.Stop()
	pid := daemon.Pid()
	sample := func(txns int) (soakSample, error) {
		s := soakSample{txns: txns, rssMB: procRSSMB(pid), fds: procFDs(pid)}
		stats, err := daemon.RuntimeStats(ctx)
		if err != nil {
			return s, err
		}
		// A finished transaction's peer goroutines linger for a moment
		// (late readers of Finished); a leaked one never leaves. The
		// fewest of a few looks over a second tells the two apart.
		for i := 0; i < 3; i++ {
			time.Sleep(300 * time.Millisecond)
			again, err := daemon.RuntimeStats(ctx)
			if err != nil {
				return s, err
			}
			if again["goroutines"] < stats["goroutines"] {
				stats["goroutines"] = again["goroutines"]
			}
		}
		s.anonMB, s.fileMB = float64(stats["anon_kb"])/1024, float64(stats["file_kb"])/1024
		s.goHeapMB = float64(stats["go_heap_objects_kb"]) / 1024
		s.goroutines = int(stats["goroutines"])
		s.objects, s.objectsMB = objectStore(filepath.Join(host.Sysroot, "ostree/repo/objects"))
		entries, _ := os.ReadDir(runDir)
		s.runEntries = len(entries)
		s.repoTmp = repoLeftovers(filepath.Join(host.Sysroot, "ostree/repo"))
		return s, nil
	}
	report := func(s soakSample) {
		fmt.Fprintf(out, "  after %4d: RSS %.1f MB (anon %.1f, file-backed %.1f; live Go heap %.1f), %d goroutines, %d fds, %d objects (%.2f MB), run dir %d entries\n",
			s.txns, s.rssMB, s.anonMB, s.fileMB, s.goHeapMB, s.goroutines, s.fds, s.objects, s.objectsMB, s.runEntries)
	}
	start, err := sample(0)
	if err != nil {
		return nil, err
	}
	report(start)
	var samples []soakSample
	for done := 0; done < n; {
		for _, args := range soakRound {
			if done == n {
				break
			}
			stdout, stderr, code, err := fixture.RunCLI(ctx, cfg.strata, bus, args...)
			if err == nil && code != 0 {
				err = fmt.Errorf("exited %d: %s%s", code, stdout, stderr)
			}
			if err != nil {
				return nil, fmt.Errorf("transaction %d, strata %s: %w\n--- stratad log tail ---\n%s", done+1, strings.Join(args, " "), err, tail(daemon.Log(), 40))
			}
			done++
			if done%soakEvery == 0 {
				s, err := sample(done)
				if err != nil {
					return nil, err
				}
				samples = append(samples, s)
				report(s)
			}
		}
	}
	if len(samples) < 2 {
		return nil, fmt.Errorf("soak of %d transactions gave %d samples; run at least %d", n, len(samples), 2*soakEvery)
	}
	first, last := samples[0], samples[len(samples)-1]
	var xs, rss, anon, fds, gor, objs []float64
	for _, s := range samples {
		xs = append(xs, float64(s.txns))
		rss = append(rss, s.rssMB)
		anon = append(anon, s.anonMB)
		fds = append(fds, float64(s.fds))
		gor = append(gor, float64(s.goroutines))
		objs = append(objs, s.objectsMB)
	}
	rssSlope := slope(xs, rss) * 100
	// The trend is judged on the second half of the run: the first
	// transactions fill caches and malloc arenas up to their working size
	// (the whole-run slope is printed too); a leak keeps growing in the
	// second half as well.
	half := len(xs) / 2
	if len(xs)-half < 2 {
		half = 0
	}
	lateSlope := slope(xs[half:], rss[half:]) * 100
	fdFlat := last.fds <= first.fds
	gorFlat := last.goroutines <= first.goroutines
	lines := []string{
		fmt.Sprintf("soak idle RSS after %d transactions: %.1f MB (target ≤ %.0f MB) %s", n, last.rssMB, soakRSSTarget, verdict(last.rssMB <= soakRSSTarget)),
		fmt.Sprintf("soak RSS slope after %d transactions: %+.2f MB per 100 (whole run %+.2f; target: no upward trend) %s", samples[half].txns, lateSlope, rssSlope, verdict(lateSlope <= 0.1)),
		fmt.Sprintf("soak RSS split after the run: anon %.1f MB (slope %+.2f per 100), file-backed %.1f MB, live Go heap %.1f MB", last.anonMB, slope(xs, anon)*100, last.fileMB, last.goHeapMB),
		fmt.Sprintf("soak open fds: %d → %d (slope %+.2f per 100; target: flat) %s", first.fds, last.fds, slope(xs, fds)*100, verdict(fdFlat)),
		fmt.Sprintf("soak goroutines: %d → %d (slope %+.2f per 100; target: flat) %s", first.goroutines, last.goroutines, slope(xs, gor)*100, verdict(gorFlat)),
		fmt.Sprintf("soak object store: %d → %d objects, %.2f → %.2f MB (slope %+.3f MB per 100; target: flat) %s", first.objects, last.objects, first.objectsMB, last.objectsMB, slope(xs, objs)*100, verdict(last.objects <= first.objects)),
		// Only the fixture's config file may stay in the run directory.
		fmt.Sprintf("soak run dir leftovers: %d (target: none) %s", last.runEntries-1, verdict(last.runEntries <= 1)),
		fmt.Sprintf("soak repo tmp leftovers: %d %v (target: none) %s", len(last.repoTmp), last.repoTmp, verdict(len(last.repoTmp) == 0)),
	}
	for _, l := range lines {
		fmt.Fprintf(out, "  %s\n", l)
	}
	fmt.Fprintln(out)
	return lines, nil
}

// objectStore counts the files under an OSTree repo's objects/ and their
// sizes.
func objectStore(dir string) (n int, mb float64) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n++
				mb += float64(info.Size()) / 1e6
			}
		}
		return nil
	})
	return n, mb
}

// repoLeftovers lists what finished transactions may leave in an OSTree
// repo's tmp: staging directories of commits and checkouts.
func repoLeftovers(repo string) []string {
	var out []string
	for _, dir := range []string{"tmp", "tmp/cache"} {
		entries, _ := os.ReadDir(filepath.Join(repo, dir))
		for _, en := range entries {
			if strings.HasPrefix(en.Name(), "staging-") || strings.HasPrefix(en.Name(), "checkout-") {
				out = append(out, filepath.Join(dir, en.Name()))
			}
		}
	}
	return out
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(xs))
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

func procRSSMB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if kb, err := strconv.ParseFloat(strings.Fields(v)[0], 64); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

func procFDs(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}
