package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-os/strata/client"
)

var searchCommand = &command{
	name: "search", summary: "Search for packages", params: "TERM...", run: runSearch,
	opts: []option{optStateroot, optOS},
}

var initramfsCommand = &command{
	name: "initramfs", summary: "Enable or disable local initramfs regeneration", run: runInitramfs,
	opts: []option{optStateroot, optOS, optReboot, optLockFinal,
		{long: "enable", help: "Enable regenerating initramfs locally using dracut"},
		{long: "disable", help: "Disable regenerating initramfs locally"},
		{long: "arg", arg: "ARG", help: "Append ARG to the dracut arguments"},
	},
}

var initramfsEtcCommand = &command{
	name: "initramfs-etc", summary: "Add files to the initramfs", run: runInitramfsEtc,
	opts: []option{optStateroot, optOS, optReboot, optLockFinal, optUnchanged,
		{long: "track", arg: "FILE", help: "Track root /etc file"},
		{long: "untrack", arg: "FILE", help: "Untrack root /etc file"},
		{long: "untrack-all", help: "Untrack all root /etc files"},
		{long: "force-sync", help: "Deploy a new tree with the latest tracked /etc files"},
	},
}

var usroverlayCommand = &command{
	// rpm-ostree's usroverlay is `ostree admin unlock`; its help says so,
	// and scripts check that.
	name: "usroverlay", summary: "Apply a transient overlayfs to /usr (ostree admin unlock)", run: runUsroverlay,
	opts: []option{{long: "hotfix", help: "Make the overlay persist across reboots"}},
}

// runSearch prints the matches in rpm-ostree's three groups.
func runSearch(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) == 0 {
		return 0, &usageError{"At least one search term must be specified"}
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	pkgs, err := o.Search(ctx, p.args)
	if err != nil {
		return 0, err
	}
	if len(pkgs) == 0 {
		fmt.Fprintln(a.stdout, "No matches found.")
		return exitOK, nil
	}
	headers := map[string]string{
		"match_group_a": "Summary & Name Matched",
		"match_group_b": "Name Matched",
		"match_group_c": "Summary Matched",
	}
	last := ""
	for _, pkg := range pkgs {
		if pkg.Key != last {
			if last != "" {
				fmt.Fprintln(a.stdout)
			}
			fmt.Fprintf(a.stdout, "===== %s =====\n", headers[pkg.Key])
			last = pkg.Key
		}
		fmt.Fprintf(a.stdout, "%s : %s\n", pkg.Name, pkg.Summary)
	}
	return exitOK, nil
}

// runInitramfs prints whether the pending deployment regenerates its
// initramfs, or turns that on (with --arg dracut arguments) or off.
func runInitramfs(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	enable, disable, args := p.flag("enable"), p.flag("disable"), p.all("arg")
	switch {
	case !enable && !disable:
		if p.flag("reboot") {
			return 0, &usageError{"--reboot must be used with --enable or --disable"}
		}
		if len(args) > 0 {
			return 0, &usageError{"--arg must be used with --enable"}
		}
	case enable && disable:
		// rpm-ostree's spelling, which scripts may match.
		return 0, &usageError{"Cannot simultaenously specify --enable and --disable"}
	case disable && len(args) > 0:
		return 0, &usageError{"Cannot simultaenously specify --disable and --arg"}
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if !enable && !disable {
		pending, err := o.DefaultDeployment(ctx)
		if err != nil {
			return 0, err
		}
		on := pending != nil && pending.RegenerateInitramfs
		fmt.Fprintf(a.stdout, "Initramfs regeneration: %s\n", enabledWord(on))
		if on && len(pending.InitramfsArgs) > 0 {
			fmt.Fprintf(a.stdout, "Initramfs args: %s \n", strings.Join(pending.InitramfsArgs, " "))
		}
		return exitOK, nil
	}
	txn, err := o.SetInitramfsState(ctx, enable, args, client.BootOptions{
		Reboot: p.flag("reboot"), LockFinalization: p.flag("lock-finalization"), InitiatingCommandLine: a.cmdline,
	})
	if err != nil {
		return 0, err
	}
	if err := a.follow(ctx, c, txn); err != nil {
		return 0, err
	}
	fmt.Fprintf(a.stdout, "Initramfs regeneration is now: %s\n", enabledWord(enable))
	if disable {
		fmt.Fprintln(a.stdout, "Initramfs will be reset to default on next reboot.")
	}
	return exitOK, nil
}

func enabledWord(on bool) string {
	if on {
		return "enabled"
	}
	return "disabled"
}

// runInitramfsEtc lists the tracked files of the pending deployment, or
// changes them and deploys again.
func runInitramfsEtc(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	track, untrack := p.all("track"), p.all("untrack")
	acting := len(track) > 0 || len(untrack) > 0 || p.flag("untrack-all") || p.flag("force-sync")
	if !acting && p.flag("reboot") {
		return 0, &usageError{"Cannot use ---reboot without --track, --untrack, --untrack-all, or --force-sync"}
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	prev, err := o.DefaultDeployment(ctx)
	if err != nil {
		return 0, err
	}
	if !acting {
		if prev == nil || len(prev.InitramfsEtc) == 0 {
			fmt.Fprintln(a.stdout, "No tracked files.")
			return exitOK, nil
		}
		fmt.Fprintln(a.stdout, "Tracked files:")
		for _, f := range prev.InitramfsEtc {
			fmt.Fprintf(a.stdout, "  %s\n", f)
		}
		return exitOK, nil
	}
	txn, err := o.InitramfsEtc(ctx, track, untrack, p.flag("untrack-all"), p.flag("force-sync"), client.BootOptions{
		Reboot: p.flag("reboot"), LockFinalization: p.flag("lock-finalization"), InitiatingCommandLine: a.cmdline,
	})
	return a.deployed(ctx, c, o, txn, err, prev, p.flag("reboot"), p.flag("unchanged-exit-77"), false,
		"Run \"systemctl reboot\" to start a reboot")
}

// runUsroverlay refuses: a writable /usr over a deployment is what strata's
// deployments are built to avoid.
func runUsroverlay(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	return 0, fmt.Errorf("usroverlay is not supported by strata: /usr stays read-only; layer a package (`%s install`) or deploy a new base instead", a.prog)
}

// testutilsCommand keeps the one testutils subcommand that is not about
// rpm-ostree's own build: moo, which scripts use to see the daemon answers.
var testutilsCommand = &command{
	name: "testutils", summary: "Development tools", hidden: true,
	subcommands: []*command{
		{name: "moo", parent: "testutils", summary: "Check the daemon answers", run: runMoo},
	},
}

func runMoo(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	cow, err := o.Moo(ctx, a.tty)
	if err != nil {
		return 0, err
	}
	fmt.Fprint(a.stdout, cow)
	return exitOK, nil
}
