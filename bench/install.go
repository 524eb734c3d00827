package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/tests/fixture"
)

// baseFiles is the size of the base the install is measured on.
const baseFiles = 20000

// The small packages the install benchmark layers: one fresh package per
// timed install (so every timed install imports one package, never reuses),
// one to warm the metadata cache, one for the reuse check.
const (
	warmPackage  = "bench-warm"
	reusePackage = "bench-reuse"
)

func timedPackage(i int) string { return fmt.Sprintf("bench-pkg%d", i+1) }

// installEnv is the world of measurements 1 and 2: a sysroot with the base
// deployed, an rpm-md repo of small packages on loopback HTTP, a private
// system bus and stratad.
type installEnv struct {
	cfg     config
	sysroot string
	base    string // the base commit
	repo    *fixture.Server
	bus     *fixture.Bus
	daemon  *fixture.Daemon
	runDir  string
	out     io.Writer
	stages  *stageLog // the daemon's log, time-stamped on arrival
}

func (e *installEnv) close() {
	if e.daemon != nil {
		e.daemon.Stop()
	}
	if e.bus != nil {
		e.bus.Stop()
	}
	if e.repo != nil {
		e.repo.Close()
	}
	if e.runDir != "" {
		os.RemoveAll(e.runDir)
	}
}

// setupInstall builds the packages, the base tree (its files laid out as
// areas say) and commit, the sysroot with the base deployed, the package
// repo, the bus and the daemon.
func setupInstall(ctx context.Context, cfg config, dir string, areas []treeArea, out io.Writer) (*installEnv, []string, error) {
	e := &installEnv{cfg: cfg, sysroot: filepath.Join(dir, "sysroot"), out: out}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	start := time.Now()
	pkgs := []fixture.Package{benchKernel(), benchRelease(), smallPackage(warmPackage), smallPackage(reusePackage)}
	for i := 0; i < cfg.repeats; i++ {
		pkgs = append(pkgs, smallPackage(timedPackage(i)))
	}
	built, err := fixture.BuildPackages(ctx, filepath.Join(dir, "rpmbuild"), pkgs)
	if err != nil {
		return nil, nil, err
	}
	rpmPath := func(p fixture.Package) string {
		return built[fmt.Sprintf("%s-%s-1.noarch.rpm", p.Name, p.Version)]
	}
	baseRPMs := []string{rpmPath(benchKernel()), rpmPath(benchRelease())}
	repoDir := filepath.Join(dir, "pkgrepo")
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		return nil, nil, err
	}
	for _, p := range pkgs[2:] {
		src := rpmPath(p)
		if err := os.Rename(src, filepath.Join(repoDir, filepath.Base(src))); err != nil {
			return nil, nil, err
		}
	}
	if err := fixture.CreateRepo(ctx, repoDir); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "  built %d RPMs and the package repo in %s\n", len(pkgs), since(start))

	start = time.Now()
	tree := filepath.Join(dir, "tree")
	if err := buildBaseTree(ctx, tree, baseRPMs, baseFiles, areas); err != nil {
		return nil, nil, fmt.Errorf("building the base tree: %w", err)
	}
	n, err := countFiles(tree)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "  generated the base tree (%d files) in %s\n", n, since(start))

	start = time.Now()
	if err := os.MkdirAll(e.sysroot, 0o755); err != nil {
		return nil, nil, err
	}
	if err := runTool(ctx, "ostree", "admin", "init-fs", e.sysroot); err != nil {
		return nil, nil, err
	}
	if err := runTool(ctx, "ostree", "admin", "os-init", fixture.OSName, "--sysroot="+e.sysroot); err != nil {
		return nil, nil, err
	}
	if e.base, err = commitBase(ctx, filepath.Join(e.sysroot, "ostree/repo"), tree); err != nil {
		return nil, nil, err
	}
	if err := os.RemoveAll(tree); err != nil {
		return nil, nil, err
	}
	if _, err := e.deployBase(ctx); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "  committed and deployed the base %.12s in %s\n", e.base, since(start))

	if e.repo, err = fixture.Serve(repoDir); err != nil {
		return nil, nil, err
	}
	host := &fixture.Host{Sysroot: e.sysroot}
	if err := host.InstallRepoFile("bench", e.repo.URL); err != nil {
		return nil, nil, err
	}
	if e.bus, err = fixture.StartBus(ctx, filepath.Join(dir, "bus"), cfg.policies...); err != nil {
		return nil, nil, err
	}
	// Transaction sockets live in the run dir and must fit a sun_path.
	if e.runDir, err = os.MkdirTemp("", "strata-bench-run-"); err != nil {
		return nil, nil, err
	}
	e.stages = &stageLog{}
	if cfg.verbose {
		e.stages.next = os.Stderr
	}
	if e.daemon, err = fixture.StartDaemon(ctx, cfg.stratad, e.bus, e.sysroot, e.runDir, e.stages); err != nil {
		return nil, nil, err
	}
	ok = true
	return e, baseRPMs, nil
}

// deployBase is the baseline: ostree admin deploy of the base, i.e. another
// deployment of the same commit, which is the least any tool must do to
// write a deployment.
func (e *installEnv) deployBase(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := runTool(ctx, "ostree", "admin", "deploy", "--sysroot="+e.sysroot, "--os="+fixture.OSName, baseRef)
	return time.Since(start), err
}

// strata runs the CLI and fails unless it exits 0.
func (e *installEnv) strata(ctx context.Context, args ...string) (string, time.Duration, error) {
	start := time.Now()
	stdout, stderr, code, err := fixture.RunCLI(ctx, e.cfg.strata, e.bus, args...)
	d := time.Since(start)
	if err == nil && code != 0 {
		err = fmt.Errorf("exited %d: %s%s\n--- stratad log tail ---\n%s", code, stdout, stderr, tail(e.daemon.Log(), 30))
	}
	if err != nil {
		return stdout, d, fmt.Errorf("strata %s: %w", strings.Join(args, " "), err)
	}
	return stdout, d, nil
}

// expectDefault checks that the default deployment is the base with exactly
// the requested packages layered (none: the plain base).
func (e *installEnv) expectDefault(ctx context.Context, pkgs ...string) error {
	out, _, err := e.strata(ctx, "status", "--json")
	if err != nil {
		return err
	}
	var s struct {
		Deployments []struct {
			Checksum     string   `json:"checksum"`
			BaseChecksum string   `json:"base-checksum"`
			Requested    []string `json:"requested-packages"`
		} `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.Deployments) == 0 {
		return fmt.Errorf("strata status --json: %v:\n%s", err, out)
	}
	d := s.Deployments[0]
	base := d.BaseChecksum
	if base == "" {
		base = d.Checksum
	}
	if base != e.base || strings.Join(d.Requested, " ") != strings.Join(pkgs, " ") {
		return fmt.Errorf("default deployment is base %s with packages %q, want base %s with %q", base, d.Requested, e.base, pkgs)
	}
	if len(pkgs) > 0 && d.Checksum == e.base {
		return fmt.Errorf("default deployment with %q is the plain base commit", pkgs)
	}
	return nil
}

// expectPlainBase checks that the default deployment is the plain base, as
// after the baseline deploy. The daemon polls the sysroot for changes made
// behind its back; reload makes it see ostree's new deployment now.
func (e *installEnv) expectPlainBase(ctx context.Context) error {
	if _, _, err := e.strata(ctx, "reload"); err != nil {
		return err
	}
	if err := e.expectDefault(ctx); err != nil {
		return fmt.Errorf("after ostree admin deploy: %w", err)
	}
	return nil
}

// installResult is the outcome of measurement 1.
type installResult struct {
	deploy, install []time.Duration
	ratio           float64
	dryRun          time.Duration // strata install --dry-run, for scale
	stages          [][]stageTime // the daemon's stages of each timed install
}

// report prints the medians and the per-stage split and returns the
// summary line, named name.
func (r *installResult) report(out io.Writer, name string) string {
	line := fmt.Sprintf("%s: %.2f (target ≤ %.2f) %s", name, r.ratio, installTarget, verdict(r.ratio <= installTarget))
	fmt.Fprintf(out, "  median: ostree admin deploy %s, strata install %s (for scale: strata install --dry-run %s)\n",
		ms(medianDur(r.deploy)), ms(medianDur(r.install)), ms(r.dryRun))
	fmt.Fprintf(out, "  median stage split of strata install: %s\n  %s\n\n", medianStages(r.stages, r.install), line)
	return line
}

// measureInstall warms the metadata cache, then alternates the baseline
// deploy and a strata install of a fresh small package, repeats times.
func measureInstall(ctx context.Context, e *installEnv) (*installResult, error) {
	out := e.out
	start := time.Now()
	if _, _, err := e.strata(ctx, "refresh-md"); err != nil {
		return nil, err
	}
	if _, _, err := e.strata(ctx, "install", warmPackage); err != nil {
		return nil, err
	}
	if _, _, err := e.strata(ctx, "uninstall", warmPackage); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  warm-up (refresh-md, install + uninstall %s): %s\n", warmPackage, since(start))

	res := &installResult{}
	var ratios []float64
	for i := 0; i < e.cfg.repeats; i++ {
		settle()
		dd, err := e.deployBase(ctx)
		if err != nil {
			return nil, err
		}
		if err := e.expectPlainBase(ctx); err != nil {
			return nil, err
		}
		pkg := timedPackage(i)
		mark := e.stages.mark()
		settle()
		_, id, err := e.strata(ctx, "install", pkg)
		if err != nil {
			return nil, err
		}
		if err := e.expectDefault(ctx, pkg); err != nil {
			return nil, fmt.Errorf("after strata install: %w", err)
		}
		res.deploy = append(res.deploy, dd)
		res.install = append(res.install, id)
		ratios = append(ratios, id.Seconds()/dd.Seconds())
		fmt.Fprintf(out, "  run %d: ostree admin deploy %s, strata install %s %s, ratio %.2f\n", i+1, ms(dd), pkg, ms(id), ratios[i])
		stages := e.stages.stagesSince(mark)
		res.stages = append(res.stages, stages)
		fmt.Fprintf(out, "         daemon stages: %s\n", formatStages(stages))
	}
	res.ratio = median(ratios)
	// Not part of the ratio: how much of an install is resolution alone
	// (metadata load and libsolv, over D-Bus, writing nothing).
	_, dry, err := e.strata(ctx, "install", "--dry-run", warmPackage)
	if err != nil {
		return nil, err
	}
	res.dryRun = dry
	return res, nil
}

// importedLine matches the daemon's "packages imported" log entry (logrus
// text or JSON formatting) and captures its fields.
var (
	importedLine  = regexp.MustCompile(`(?m)^.*packages imported.*$`)
	importedField = regexp.MustCompile(`"?(imported|reused)"?[=:](\d+)`)
)

// checkReuse is measurement 2: install, uninstall and install again the same
// package; the second install must reuse the first import. It returns a
// description of what was wrong, or "" when the import was reused.
func checkReuse(ctx context.Context, e *installEnv) (string, error) {
	pkg := reusePackage
	ref := rpmimport.Ref(pkg, 0, "1.0", "1", "noarch")
	repo := filepath.Join(e.sysroot, "ostree/repo")
	// Start from the plain base, so the package is the only one layered.
	if _, err := e.deployBase(ctx); err != nil {
		return "", err
	}
	if err := e.expectPlainBase(ctx); err != nil {
		return "", err
	}
	if _, _, err := e.strata(ctx, "install", pkg); err != nil {
		return "", err
	}
	first, err := toolOutput(ctx, "ostree", "rev-parse", "--repo="+repo, ref)
	if err != nil {
		return "", fmt.Errorf("the first install left no %s: %w", ref, err)
	}
	if _, _, err := e.strata(ctx, "uninstall", pkg); err != nil {
		return "", err
	}
	before := len(importedLine.FindAllString(e.daemon.Log(), -1))
	if _, _, err := e.strata(ctx, "install", pkg); err != nil {
		return "", err
	}
	if err := e.expectDefault(ctx, pkg); err != nil {
		return "", err
	}
	var problems []string
	second, err := toolOutput(ctx, "ostree", "rev-parse", "--repo="+repo, ref)
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s is gone after the second install", ref))
	} else if trim(second) != trim(first) {
		problems = append(problems, fmt.Sprintf("%s moved from %.12s to %.12s", ref, trim(first), trim(second)))
	}
	lines := importedLine.FindAllString(e.daemon.Log(), -1)
	if len(lines) <= before {
		problems = append(problems, "the daemon logged no \"packages imported\" line for the second install")
	} else {
		line := lines[len(lines)-1]
		fields := map[string]int{"imported": -1, "reused": -1}
		for _, m := range importedField.FindAllStringSubmatch(line, -1) {
			fields[m[1]], _ = strconv.Atoi(m[2])
		}
		if fields["imported"] != 0 || fields["reused"] != 1 {
			problems = append(problems, fmt.Sprintf("the second install logged %q, want imported=0 reused=1", strings.TrimSpace(line)))
		}
	}
	fmt.Fprintf(e.out, "  %s: %.12s after the first install, %.12s after the second\n", ref, trim(first), trim(second))
	return strings.Join(problems, "; "), nil
}
