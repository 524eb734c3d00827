package main

import (
	"context"
	"fmt"
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
	opts: []option{optStateroot, optOS, optReboot, optLockFinal,
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

// runInitramfs asks the daemon, which refuses clearly until strata can
// regenerate an initramfs.
func runInitramfs(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if p.flag("enable") && p.flag("disable") {
		return 0, &usageError{"Cannot simultaneously specify --enable and --disable"}
	}
	if !p.flag("enable") && !p.flag("disable") {
		// rpm-ostree prints the state here; strata has none to print.
		return 0, fmt.Errorf("initramfs regeneration is not supported by strata yet: deployments boot the initramfs their base ships")
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	txn, err := o.SetInitramfsState(ctx, p.flag("enable"), p.all("arg"))
	if err != nil {
		return 0, err
	}
	return exitOK, a.follow(ctx, c, txn)
}

func runInitramfsEtc(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	txn, err := o.InitramfsEtc(ctx, p.all("track"), p.all("untrack"), p.flag("untrack-all"), p.flag("force-sync"))
	if err != nil {
		return 0, err
	}
	return exitOK, a.follow(ctx, c, txn)
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
