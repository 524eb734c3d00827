package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// solveReport is what the strata side prints (one JSON object on stdout;
// bench/solvechild writes it).
type solveReport struct {
	LoadInstalled time.Duration `json:"load_installed_ns"`
	LoadRepo      time.Duration `json:"load_repo_ns"`
	Solve         time.Duration `json:"solve_ns"`
	Install       []string      `json:"install"`
}

// depsolveResult is the outcome of the depsolve measurement.
type depsolveResult struct {
	skipped      string // why dnf could not be measured; empty when it was
	ratio        float64
	strata, dnf  []time.Duration
	strataPkgs   int
	dnfPkgs      int
	lastReport   solveReport
	repoPackages int
}

// ensureDnf installs Debian's dnf when it is missing. An error means the
// dnf side cannot be measured on this machine.
func ensureDnf(ctx context.Context, out io.Writer) error {
	if _, err := exec.LookPath("dnf"); err == nil {
		return nil
	}
	fmt.Fprintln(out, "  dnf is not installed; installing Debian's dnf package")
	apt := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	install := []string{"install", "-y", "--no-install-recommends", "dnf"}
	if _, err := apt(install...); err != nil {
		// Perhaps only the package lists are stale.
		if o, err := apt("update"); err != nil {
			return fmt.Errorf("apt-get update: %w: %s", err, lastLine(o))
		}
		if o, err := apt(install...); err != nil {
			return fmt.Errorf("apt-get install dnf: %w: %s", err, lastLine(o))
		}
	}
	if _, err := exec.LookPath("dnf"); err != nil {
		return fmt.Errorf("dnf still not found after installing it: %w", err)
	}
	return nil
}

// dnfPackages reads "Install  N Packages" from dnf's transaction summary.
var dnfInstallCount = regexp.MustCompile(`(?m)^Install\s+(\d+)\s+Package`)

// measureDepsolve generates the 60 000-package repo and times resolving
// synthTarget with strata's libsolv binding and with dnf, alternating.
func measureDepsolve(ctx context.Context, cfg config, dir string, rpms []string, out io.Writer) (*depsolveResult, error) {
	res := &depsolveResult{repoPackages: synthCount}
	if err := ensureDnf(ctx, out); err != nil {
		res.skipped = err.Error()
		return res, nil
	}
	repo := filepath.Join(dir, "repo")
	start := time.Now()
	primary, filelists, err := writeSynthRepo(repo)
	if err != nil {
		return nil, fmt.Errorf("generating the synthetic repo: %w", err)
	}
	fmt.Fprintf(out, "  generated %d-package rpm-md metadata in %s\n", synthCount, since(start))

	// The installed set: a couple of packages recorded with rpm --justdb in
	// usr/share/rpm. dnf reads the rpmdb where librpm's %_dbpath says,
	// relative to the installroot; Debian's rpm says ~/.rpmdb, Fedora's
	// /var/lib/rpm: both are pointed at usr/share/rpm.
	root := filepath.Join(dir, "root")
	args := append([]string{"--root=" + root, "--dbpath=/usr/share/rpm", "-i", "--justdb", "--nodeps", "--noscripts"}, rpms...)
	if err := runTool(ctx, "rpm", args...); err != nil {
		return nil, fmt.Errorf("making the depsolve rpmdb: %w", err)
	}
	for link, target := range map[string]string{"var/lib/rpm": "../../usr/share/rpm", "root/.rpmdb": "../usr/share/rpm"} {
		p := filepath.Join(root, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.Symlink(target, p); err != nil {
			return nil, err
		}
	}

	// The strata side is its own small program (bench/solvechild): a
	// resolution runs inside the long-lived daemon, so the start-up of the
	// benchmark binary (hosts, registries, image code) is no part of it.
	child := filepath.Join(dir, "solvechild")
	if err := runTool(ctx, "go", "build", "-o", child, "github.com/strata-os/strata/bench/solvechild"); err != nil {
		return nil, fmt.Errorf("building the strata side: %w", err)
	}
	solvCache := filepath.Join(dir, "synth.solv")
	strataCmd := []string{child, "-root", root, "-primary", primary,
		"-filelists", filelists, "-solv", solvCache, "-install", synthName(synthTarget)}

	dnfConf := filepath.Join(dir, "dnf.conf")
	reposDir := filepath.Join(dir, "repos.d")
	if err := writeFile(dnfConf, "[main]\ngpgcheck=0\ninstall_weak_deps=0\n", 0o644); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(reposDir, "synth.repo"),
		fmt.Sprintf("[synth]\nname=synthetic\nbaseurl=file://%s\nenabled=1\ngpgcheck=0\nmetadata_expire=-1\n", repo), 0o644); err != nil {
		return nil, err
	}
	dnfBase := []string{"dnf", "--config=" + dnfConf, "--installroot=" + root, "--releasever=1",
		"--setopt=reposdir=" + reposDir, "--setopt=cachedir=" + filepath.Join(dir, "dnf-cache"),
		"--noplugins", "--nodocs"}
	// HOME fixes where Debian's %_dbpath (~/.rpmdb) points inside the root.
	dnfEnv := append(os.Environ(), "HOME=/root", "LC_ALL=C.UTF-8")

	// Warm both caches: dnf's makecache writes its .solv files, the first
	// strata run writes synth.solv.
	start = time.Now()
	if o, err := runEnv(ctx, dnfEnv, append(dnfBase, "makecache")...); err != nil {
		return nil, fmt.Errorf("dnf makecache: %w: %s", err, o)
	}
	fmt.Fprintf(out, "  dnf makecache (cold metadata): %s\n", since(start))
	if o, err := runEnv(ctx, dnfEnv, append(dnfBase, "-C", "list", "--installed")...); err != nil || !strings.Contains(o, "bench-release") {
		return nil, fmt.Errorf("dnf does not see the installroot's rpmdb (err %v):\n%s", err, o)
	}
	start = time.Now()
	if _, err := runStrataSolve(ctx, strataCmd); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  strata first resolution (writes .solv cache): %s\n", since(start))
	// One untimed resolution by dnf too: its first run after makecache
	// still pays for things (python byte code, its own caches) that later
	// runs do not.
	dnfInstall := append(dnfBase, "-C", "--assumeno", "install", synthName(synthTarget))
	if _, err := runDnfResolve(ctx, dnfEnv, dnfInstall); err != nil {
		return nil, err
	}

	var ratios []float64
	for i := 0; i < cfg.repeats; i++ {
		settle()
		start := time.Now()
		rep, err := runStrataSolve(ctx, strataCmd)
		if err != nil {
			return nil, err
		}
		st := time.Since(start)
		settle()
		start = time.Now()
		n, err := runDnfResolve(ctx, dnfEnv, dnfInstall)
		dt := time.Since(start)
		if err != nil {
			return nil, err
		}
		res.dnfPkgs = n
		res.strataPkgs = len(rep.Install)
		res.lastReport = rep
		res.strata = append(res.strata, st)
		res.dnf = append(res.dnf, dt)
		ratios = append(ratios, st.Seconds()/dt.Seconds())
		fmt.Fprintf(out, "  run %d: strata %s (installed set %s, repo load %s, solve %s; %d packages), dnf %s (%d packages), ratio %.2f\n",
			i+1, ms(st), ms(rep.LoadInstalled), ms(rep.LoadRepo), ms(rep.Solve), len(rep.Install), ms(dt), res.dnfPkgs, ratios[i])
	}
	res.ratio = median(ratios)
	return res, nil
}

// runDnfResolve runs dnf install --assumeno and returns how many packages
// its transaction installs.
func runDnfResolve(ctx context.Context, env, argv []string) (int, error) {
	o, err := runEnv(ctx, env, argv...)
	// --assumeno makes dnf exit 1 after resolving; anything else is a
	// broken measurement.
	var exitErr *exec.ExitError
	if err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1 && strings.Contains(o, "Operation aborted")) {
		return 0, fmt.Errorf("dnf install --assumeno: %w:\n%s", err, o)
	}
	m := dnfInstallCount.FindStringSubmatch(o)
	if m == nil {
		return 0, fmt.Errorf("dnf did not print a transaction:\n%s", o)
	}
	return strconv.Atoi(m[1])
}

func runStrataSolve(ctx context.Context, argv []string) (solveReport, error) {
	var rep solveReport
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return rep, fmt.Errorf("strata resolution: %w: %s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("strata resolution printed %q: %w", stdout.String(), err)
	}
	return rep, nil
}

// runEnv runs argv with env and returns its combined output.
func runEnv(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	return string(b), err
}
