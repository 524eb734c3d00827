// Command demo is the `make demo` driver: it builds a demo host (an OSTree
// sysroot running 1.0, with 2.0 waiting on an HTTP remote) and a loopback
// container registry serving the same OS as an image, starts a private
// system bus and stratad on it, and runs strata commands as a user would,
// printing each command and its output.
//
// With -cockpit it serves the same demo host to a browser through strata's
// Cockpit page (cockpit-ws on loopback) until Ctrl-C, instead of the
// walkthrough.
//
// It owns nothing but this walkthrough; everything it runs is real and lives
// in tests/fixture. It always stops its processes and removes its temp dir,
// also on Ctrl-C.
//
//	go run ./tests/demo -strata bin/strata -stratad bin/stratad \
//	    -policy dbus-policy/org.projectatomic.rpmostree1.conf
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// step is one strata invocation of the walkthrough.
type step struct {
	args []string
	// want lists strings the command's stdout must contain for the demo
	// to count it as a success, beyond a zero exit.
	want []string
	// before, when set, changes the world first (a new image in the
	// registry); note says what it did, as a comment line.
	before func(ctx context.Context) error
	note   string
}

// demoSteps is the walkthrough, in order. image is the container image the
// host is rebased onto; pushNext makes that image's tag carry OS 2.0.
func demoSteps(image string, pushNext func(ctx context.Context) error) []step {
	return []step{
		{args: []string{"status"}},
		{args: []string{"upgrade"}},
		{args: []string{"status"}, want: []string{"2.0"}},
		{args: []string{"rollback"}},
		{args: []string{"status"}},
		// Package layering: a package from the host's rpm-md repo becomes part
		// of a new deployment, and leaves again.
		{args: []string{"install", "demo-extra"}},
		{args: []string{"status"}, want: []string{"LayeredPackages: demo-extra"}},
		{args: []string{"uninstall", "demo-extra"}},
		{args: []string{"status"}},
		// Container images: the same OS arrives from a registry, layer by
		// layer; an upgrade fetches only the layer that changed.
		{args: []string{"rebase", image}, want: []string{"Fetching layer"}},
		{args: []string{"status"}, want: []string{image, "Digest: sha256:"}},
		{args: []string{"upgrade", "--check"}, before: pushNext,
			note: "the registry's os:stable now carries OS 2.0 (only its base layer differs)", want: []string{"AvailableUpdate"}},
		{args: []string{"upgrade"}, want: []string{"0 layer(s) fetched, 2 already present"}},
		{args: []string{"install", "demo-extra"}},
		{args: []string{"status"}, want: []string{image, "LayeredPackages: demo-extra"}},
	}
}

type config struct {
	strata, stratad string
	policies        []string
	verbose         bool
	keep            bool
	cacheDir        string // fixture cache; "" = the fixture's default
	// cockpit, when set, is the Cockpit page (the repo's cockpit/): instead
	// of the walkthrough, the demo host is served to a browser through
	// cockpit-ws on 127.0.0.1:cockpitPort (0: any free port) until Ctrl-C.
	cockpit     string
	cockpitPort int
}

func main() {
	var cfg config
	var policy string
	flag.StringVar(&cfg.strata, "strata", "bin/strata", "path to the strata CLI")
	flag.StringVar(&cfg.stratad, "stratad", "bin/stratad", "path to the stratad daemon")
	flag.StringVar(&policy, "policy", "dbus-policy/org.projectatomic.rpmostree1.conf", "D-Bus policy file(s) for the private bus, comma-separated")
	flag.BoolVar(&cfg.verbose, "v", false, "copy the daemon's log to stderr as it runs")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (for poking at the host afterwards)")
	flag.StringVar(&cfg.cacheDir, "fixture-cache", "", "where the fixture keeps its golden host (default: the system temp dir)")
	flag.StringVar(&cfg.cockpit, "cockpit", "", "serve this Cockpit page (cockpit/) for the demo host through cockpit-ws until Ctrl-C, instead of the walkthrough")
	flag.IntVar(&cfg.cockpitPort, "cockpit-port", 9090, "loopback port of cockpit-ws with -cockpit")
	flag.Parse()
	for _, p := range strings.Split(policy, ",") {
		if p != "" {
			cfg.policies = append(cfg.policies, p)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// run returns instead of exiting so that its deferred cleanup always runs.
	if err := run(ctx, cfg, os.Stdout); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "demo interrupted; cleaned up")
		} else {
			fmt.Fprintln(os.Stderr, "demo failed:", err)
		}
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	for _, p := range []*string{&cfg.strata, &cfg.stratad} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
		if _, err := os.Stat(*p); err != nil {
			return fmt.Errorf("%w (build it with `make`)", err)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo deploys into an OSTree sysroot and must run as root")
	}

	tmp, err := os.MkdirTemp("", "strata-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if cfg.keep {
			fmt.Fprintln(out, "kept", tmp)
			return
		}
		if rmErr := fixture.RemoveAll(tmp); rmErr != nil && err == nil {
			err = rmErr
		}
	}()

	start := time.Now()
	host, err := fixture.BuildHost(ctx, filepath.Join(tmp, "host"), fixture.Options{HTTP: true, CacheDir: cfg.cacheDir})
	if err != nil {
		return err
	}
	defer host.Close()
	pkgs, err := fixture.BuildPackageRepo(ctx, filepath.Join(tmp, "pkgs"))
	if err != nil {
		return err
	}
	defer pkgs.Close()
	if err := host.InstallRepoFile(fixture.PackageRepoID, pkgs.URL); err != nil {
		return err
	}
	bus, err := fixture.StartBus(ctx, filepath.Join(tmp, "bus"), cfg.policies...)
	if err != nil {
		return err
	}
	defer bus.Stop()
	var logw io.Writer
	if cfg.verbose {
		logw = os.Stderr
	}
	images, err := startImageRegistry(ctx, host, filepath.Join(tmp, "images"))
	if err != nil {
		return err
	}
	defer images.reg.Stop()
	daemon, err := fixture.StartDaemon(ctx, cfg.stratad, bus, host.Sysroot, filepath.Join(tmp, "run"), logw,
		"--containers-root="+images.containersRoot)
	if err != nil {
		return err
	}
	defer daemon.Stop()
	fmt.Fprintf(out, "# demo host ready in %v: sysroot %s, remote %s (%s carries 2.0),\n# registry %s (os:stable is OS 1.0 as a container image)\n\n",
		time.Since(start).Round(time.Millisecond), host.Sysroot, host.RemoteURL, fixture.StableRef, images.reg.Addr)

	if cfg.cockpit != "" {
		return serveCockpit(ctx, cfg, bus, filepath.Join(tmp, "cockpit"), images.ref, out)
	}

	for _, s := range demoSteps(images.ref, images.pushNext) {
		if s.before != nil {
			if err := s.before(ctx); err != nil {
				return err
			}
			fmt.Fprintf(out, "# %s\n", s.note)
		}
		if err := runStep(ctx, cfg.strata, bus, s, out); err != nil {
			fmt.Fprintf(out, "\n--- stratad log tail ---\n%s\n", tail(daemon.Log(), 30))
			return err
		}
	}
	fmt.Fprintln(out, "# demo finished")
	fmt.Fprintln(out, "# To drive a fresh demo host from strata's Cockpit page in a browser instead, run:")
	fmt.Fprintln(out, "#   make demo COCKPIT=1")
	fmt.Fprintln(out, "# and open the address it prints (cockpit-ws on 127.0.0.1:9090, no login).")
	return nil
}

// serveCockpit runs cockpit-ws for the demo host and waits for Ctrl-C: the
// page talks to this demo's stratad over its private bus, as on a host.
func serveCockpit(ctx context.Context, cfg config, bus *fixture.Bus, dir, image string, out io.Writer) error {
	page, err := filepath.Abs(cfg.cockpit)
	if err != nil {
		return err
	}
	c, err := fixture.StartCockpit(ctx, bus, dir, fixture.CockpitOptions{Package: page, Port: cfg.cockpitPort})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Fprintf(out, "# strata's Cockpit page for the demo host: open\n#\n#   %s\n#\n", c.URL)
	fmt.Fprintf(out, "# (cockpit-ws listens on 127.0.0.1 only; from another machine: ssh -L %s:127.0.0.1:%s THIS-HOST)\n",
		strings.TrimPrefix(c.Base, "http://127.0.0.1:"), strings.TrimPrefix(c.Base, "http://127.0.0.1:"))
	fmt.Fprintf(out, "# Try: Check for updates (2.0 waits on the remote), Update, Roll back, install demo-extra,\n")
	fmt.Fprintf(out, "# install no-such-package (an error), or rebase to %s\n", image)
	fmt.Fprintf(out, "# or to %s:%s. strata commands against this host: DBUS_SYSTEM_BUS_ADDRESS=%s bin/strata status\n",
		fixture.Remote, fixture.DevelRef, bus.Address)
	fmt.Fprintln(out, "# Press Ctrl-C to stop cockpit-ws and the demo host.")
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "# stopping")
		return nil
	case <-c.Done():
		return fmt.Errorf("cockpit-ws exited:\n%s", tail(c.Log(), 20))
	}
}

// imageRegistry is the demo's loopback registry and the configuration
// stratad reads to trust it.
type imageRegistry struct {
	reg            *fixture.Registry
	containersRoot string // holds etc/containers/registries.conf
	ref            string // the image the host is rebased onto
	pushNext       func(ctx context.Context) error
}

// startImageRegistry starts a registry in dir serving os:stable, the host's
// OS 1.0 as a two-layer image built with umoci and pushed with skopeo.
func startImageRegistry(ctx context.Context, host *fixture.Host, dir string) (*imageRegistry, error) {
	regDir := filepath.Join(dir, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		return nil, err
	}
	reg, err := fixture.StartRegistry(ctx, regDir)
	if err != nil {
		return nil, err
	}
	ir := &imageRegistry{reg: reg, containersRoot: filepath.Join(dir, "containers"),
		ref: "ostree-unverified-registry:" + reg.Addr + "/os:stable"}
	fail := func(err error) (*imageRegistry, error) {
		reg.Stop()
		return nil, err
	}
	conf, err := reg.WriteRegistriesConf()
	if err != nil {
		return fail(err)
	}
	confDir := filepath.Join(ir.containersRoot, "etc", "containers")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return fail(err)
	}
	if err := os.Rename(conf, filepath.Join(confDir, "registries.conf")); err != nil {
		return fail(err)
	}
	layout := filepath.Join(dir, "layout")
	push := func(ctx context.Context, version string) error {
		src, err := host.BuildOSImage(ctx, layout, version, version,
			map[string]string{"org.opencontainers.image.version": version},
			map[string]string{"usr/share/demo/welcome": "built as a container image\n"})
		if err != nil {
			return err
		}
		_, err = reg.Push(ctx, src, "os:stable")
		return err
	}
	if err := push(ctx, "1.0"); err != nil {
		return fail(err)
	}
	ir.pushNext = func(ctx context.Context) error { return push(ctx, "2.0") }
	return ir, nil
}

// runStep prints the command, then its output, the way a terminal would show it.
func runStep(ctx context.Context, strata string, bus *fixture.Bus, s step, out io.Writer) error {
	line := "strata " + strings.Join(s.args, " ")
	fmt.Fprintf(out, "$ %s\n", line)
	stdout, stderr, code, err := fixture.RunCLI(ctx, strata, bus, s.args...)
	fmt.Fprint(out, stdout)
	fmt.Fprint(out, stderr)
	fmt.Fprintln(out)
	if err != nil {
		return fmt.Errorf("%s: %w", line, err)
	}
	if code != 0 {
		return fmt.Errorf("%s: exit status %d", line, code)
	}
	for _, w := range s.want {
		if !strings.Contains(stdout, w) {
			return fmt.Errorf("%s: output lacks %q", line, w)
		}
	}
	return nil
}

// tail returns at most n trailing lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
