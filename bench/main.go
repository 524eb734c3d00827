// Command bench is `make bench`: it measures strata against a baseline timed
// in the same run on the same machine and prints ratios, never bare wall
// times, because the machines it runs on are noisy.
//
//  1. install vs deploy: `strata install` of one small package on a
//     20 000-file base, against `ostree admin deploy` of that base, with
//     the daemon's per-stage split; 1b. the same on a cheap-to-deploy base
//     (the same files in four flat directories).
//  2. reuse: a second install of the same package reuses its import.
//     2b. status: `strata status` against `ostree admin status`, and the
//     daemon's own answer.
//  3. depsolve: resolving one install over a 60 000-package rpm-md repo
//     with internal/solv (bench/solvechild), against `dnf --assumeno
//     install`.
//  4. image rebase: `strata rebase` onto a 20 000-file image in a loopback
//     docker-registry, against skopeo copy + umoci raw unpack + ostree
//     commit + ostree admin deploy.
//  5. image upgrade: to a tag that differs in one layer, the bytes read from
//     the registry against that layer + manifest + config, and the time
//     against `ostree admin deploy` of the result.
//  6. soak: 500 mixed transactions against one daemon; RSS (anonymous and
//     file-backed), goroutines, open fds, object store and leftovers in
//     the run dir and the repo's tmp sampled every 50, with slopes.
//
// It owns nothing but these measurements; hosts, buses and daemons come from
// tests/fixture. It exits non-zero only when a measurement could not be made
// (a command failed) or the reuse check failed; a ratio that misses its
// target is reported, not fatal. See bench/README.md.
//
//	go run ./bench -strata bin/strata -stratad bin/stratad \
//	    -policy dbus-policy/org.projectatomic.rpmostree1.conf
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-os/strata/tests/fixture"
)

// Targets from the issue.
const (
	installTarget  = 1.15
	depsolveTarget = 0.30
)

type config struct {
	strata, stratad string
	policies        []string
	verbose, keep   bool
	only            string // "", "install", "depsolve", "image" or "soak"
	soak            int    // transactions in the soak
	repeats         int    // timed pairs per measurement; the median ratio is reported
}

func main() {
	var cfg config
	var policy string
	flag.StringVar(&cfg.strata, "strata", "bin/strata", "path to the strata CLI")
	flag.StringVar(&cfg.stratad, "stratad", "bin/stratad", "path to the stratad daemon")
	flag.StringVar(&policy, "policy", "dbus-policy/org.projectatomic.rpmostree1.conf", "D-Bus policy file(s) for the private bus, comma-separated")
	flag.BoolVar(&cfg.verbose, "v", false, "copy the daemon's log to stderr")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir")
	flag.StringVar(&cfg.only, "only", "", `run only "install" (measurements 1 and 2), "depsolve" (3), "image" (4 and 5) or "soak" (6)`)
	flag.IntVar(&cfg.soak, "soak", 500, "transactions in the soak (measurement 6)")
	flag.IntVar(&cfg.repeats, "repeats", 3, "how many times each timed pair runs (the median ratio is reported)")
	flag.Parse()
	if cfg.repeats < 1 {
		fmt.Fprintln(os.Stderr, "bench: -repeats must be at least 1")
		os.Exit(2)
	}
	for _, p := range strings.Split(policy, ",") {
		if p != "" {
			cfg.policies = append(cfg.policies, p)
		}
	}
	for _, p := range []*string{&cfg.strata, &cfg.stratad} {
		abs, err := filepath.Abs(*p)
		if err == nil {
			*p = abs
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (OSTree sysroots, a system bus)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: measurement failed:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// run makes the measurements and prints them. ok is false when the reuse
// check failed; err is set when a measurement could not be made.
func run(ctx context.Context, cfg config, out io.Writer) (ok bool, err error) {
	dir, err := os.MkdirTemp("", "strata-bench-")
	if err != nil {
		return false, err
	}
	defer func() {
		if cfg.keep {
			fmt.Fprintln(out, "kept", dir)
			return
		}
		// Deployment roots are immutable; fixture.RemoveAll clears that.
		for _, sub := range []string{"install", "install-compact", "image", "soak"} {
			if rerr := fixture.RemoveAll(filepath.Join(dir, sub)); rerr != nil && err == nil {
				err = rerr
			}
		}
		if rerr := fixture.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	fmt.Fprintf(out, "strata benchmarks: %d CPUs, %s; each pair runs %d times alternating, the median ratio is reported\n\n",
		runtime.NumCPU(), time.Now().Format(time.RFC3339), cfg.repeats)

	var summary []string
	ok = true
	var baseRPMs []string
	if cfg.only == "" || cfg.only == "install" {
		fmt.Fprintf(out, "1. install vs deploy (spread-out base of %d files in ~2000 directories)\n", baseFiles)
		env, rpms, err := setupInstall(ctx, cfg, filepath.Join(dir, "install"), treeAreas, out)
		if err != nil {
			return false, fmt.Errorf("setting up the install benchmark: %w", err)
		}
		defer env.close()
		baseRPMs = rpms
		ir, err := measureInstall(ctx, env)
		if err != nil {
			return false, fmt.Errorf("install vs deploy: %w", err)
		}
		line := ir.report(out, "install/deploy ratio")
		summary = append(summary, line)

		fmt.Fprintln(out, "2. reuse of an imported package (install, uninstall, install)")
		problem, err := checkReuse(ctx, env)
		if err != nil {
			return false, fmt.Errorf("reuse: %w", err)
		}
		if problem == "" {
			line = "reused import: ok"
		} else {
			line = "reused import: FAILED: " + problem
			ok = false
		}
		fmt.Fprintf(out, "  %s\n\n", line)
		summary = append(summary, line)

		fmt.Fprintf(out, "2b. status: strata status vs ostree admin status on the same sysroot (%d pairs)\n", statusPairs)
		sr, err := measureStatus(ctx, env)
		if err != nil {
			return false, fmt.Errorf("status: %w", err)
		}
		line = fmt.Sprintf("status strata/ostree ratio: %.2f (target ≤ %.2f) %s", sr.ratio, statusTarget, verdict(sr.ratio <= statusTarget))
		daemonLine := fmt.Sprintf("status daemon answer: %s (target ≤ %s) %s", ms(sr.daemon), ms(statusDaemonGoal), verdict(sr.daemon <= statusDaemonGoal))
		fmt.Fprintf(out, "  median: ostree admin status %s, strata status %s (whole processes)\n  %s\n  %s\n\n",
			ms(medianDur(sr.ostree)), ms(medianDur(sr.strata)), line, daemonLine)
		summary = append(summary, line, daemonLine)
		env.close()

		fmt.Fprintf(out, "1b. install vs deploy (cheap-to-deploy base of %d files in %d directories)\n", baseFiles, len(compactAreas))
		cenv, _, err := setupInstall(ctx, cfg, filepath.Join(dir, "install-compact"), compactAreas, out)
		if err != nil {
			return false, fmt.Errorf("setting up the compact install benchmark: %w", err)
		}
		defer cenv.close()
		cr, err := measureInstall(ctx, cenv)
		if err != nil {
			return false, fmt.Errorf("install vs deploy on the compact base: %w", err)
		}
		summary = append(summary, cr.report(out, "install/deploy ratio (cheap base)"))
		cenv.close()
	}
	if cfg.only == "" || cfg.only == "depsolve" {
		fmt.Fprintf(out, "3. depsolve over a %d-package rpm-md repo (warm caches)\n", synthCount)
		if baseRPMs == nil {
			built, err := fixture.BuildPackages(ctx, filepath.Join(dir, "rpmbuild"), []fixture.Package{benchKernel(), benchRelease()})
			if err != nil {
				return false, err
			}
			for _, p := range built {
				baseRPMs = append(baseRPMs, p)
			}
			sort.Strings(baseRPMs)
		}
		dr, err := measureDepsolve(ctx, cfg, filepath.Join(dir, "depsolve"), baseRPMs, out)
		if err != nil {
			return false, fmt.Errorf("depsolve: %w", err)
		}
		var line string
		if dr.skipped != "" {
			line = "depsolve strata/dnf ratio: SKIPPED: dnf cannot be run here: " + dr.skipped
		} else {
			line = fmt.Sprintf("depsolve strata/dnf ratio: %.2f (target ≤ %.2f) %s", dr.ratio, depsolveTarget, verdict(dr.ratio <= depsolveTarget))
			if dr.strataPkgs != dr.dnfPkgs {
				fmt.Fprintf(out, "  note: strata resolved %d packages, dnf %d\n", dr.strataPkgs, dr.dnfPkgs)
			}
			fmt.Fprintf(out, "  median: strata %s, dnf %s (both whole processes)\n", ms(medianDur(dr.strata)), ms(medianDur(dr.dnf)))
		}
		fmt.Fprintf(out, "  %s\n\n", line)
		summary = append(summary, line)
	}
	if cfg.only == "" || cfg.only == "image" {
		lines, err := runImage(ctx, cfg, filepath.Join(dir, "image"), out)
		if err != nil {
			return false, err
		}
		summary = append(summary, lines...)
	}
	if cfg.only == "" || cfg.only == "soak" {
		lines, err := runSoak(ctx, cfg, filepath.Join(dir, "soak"), cfg.soak, out)
		if err != nil {
			return false, fmt.Errorf("soak: %w", err)
		}
		summary = append(summary, lines...)
	}
	fmt.Fprintln(out, "summary:")
	for _, l := range summary {
		fmt.Fprintln(out, "  "+l)
	}
	return ok, nil
}

func verdict(met bool) string {
	if met {
		return "- meets target"
	}
	return "- MISSES target"
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// runTool runs a tool, failing with its command line and stderr.
func runTool(ctx context.Context, name string, args ...string) error {
	_, err := toolOutput(ctx, name, args...)
	return err
}

// toolOutput runs a tool and returns its stdout; a failure carries the
// command line and stderr.
func toolOutput(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// settle flushes dirty pages before a timed step, so that it does not pay
// for writeback left over from the previous step (both ostree and strata
// fsync what they write).
func settle() { unix.Sync() }

func trim(s string) string { return strings.TrimSpace(s) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
