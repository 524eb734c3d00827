// Command stratad is strata's privileged daemon: it owns the host's OSTree
// sysroot and serves the org.projectatomic.rpmostree1 API on the system bus.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/daemon"
)

func main() {
	sysroot := flag.String("sysroot", "/", "the OSTree sysroot to manage")
	runDir := flag.String("run-dir", "/run/strata", "directory for transaction sockets")
	containersRoot := flag.String("containers-root", "/", "read container image configuration (etc/containers/registries.conf, policy.json, registries.d; etc/ostree/auth.json) under this directory")
	config := flag.String("config", daemon.DefaultConfigPath, "the daemon configuration file (rpm-ostree's keys: AutomaticUpdatePolicy, IdleExitTimeout, LockLayering)")
	polkitTimeout := flag.Duration("polkit-timeout", daemon.DefaultPolkitTimeout, "how long to wait for polkit's answer (and the caller's authentication agent) before refusing")
	reboot := flag.String("reboot-command", "systemctl reboot", "the command that reboots the host (split on spaces), for the reboot option and FinalizeDeployment")
	imageProxy := flag.String("image-proxy", "", "the strata-image-proxy helper that fetches container images (default: next to stratad, then ../libexec)")
	debug := flag.Bool("debug", false, "log debug messages")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "stratad: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}

	log := logrus.New()
	log.SetOutput(os.Stderr)
	if *debug {
		log.SetLevel(logrus.DebugLevel)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := daemon.Run(ctx, daemon.Config{Sysroot: *sysroot, RunDir: *runDir, Log: log, ContainersRoot: *containersRoot, ImageProxy: *imageProxy, ConfigPath: *config,
		PolkitTimeout: *polkitTimeout, RebootCommand: strings.Fields(*reboot)})
	if err != nil {
		log.WithError(err).Error("stratad failed")
		os.Exit(1)
	}
}
