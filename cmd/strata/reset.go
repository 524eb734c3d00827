package main

import (
	"context"
	"fmt"

	"github.com/strata-os/strata/client"
)

// resetCommand is rpm-ostree's reset: drop the layered packages, the
// overrides and the initramfs regeneration of the default deployment (all
// three unless some are named), keeping the base; --install layers packages
// on the result in the same transaction.
var resetCommand = &command{
	name: "reset", summary: "Remove all mutations", run: runReset,
	opts: []option{
		optStateroot, optOS, optReboot, optLockFinal, optPkgUnchanged, optInstallPkg,
		{long: "overlays", short: 'l', help: "Remove all overlayed packages"},
		{long: "overrides", short: 'o', help: "Remove all overrides"},
		{long: "initramfs", short: 'i', help: "Stop regenerating initramfs or tracking files"},
	},
}

func runReset(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) > 0 {
		return 0, &usageError{"reset takes no arguments; name packages to layer with --install"}
	}
	overlays, overrides, initramfs := p.flag("overlays"), p.flag("overrides"), p.flag("initramfs")
	if !overlays && !overrides && !initramfs {
		overlays, overrides, initramfs = true, true, true
	}
	names, paths, err := splitLocal(p.all("install"))
	if err != nil {
		return 0, err
	}
	opts := pkgOptions(a, p)
	// Dropping mutations needs nothing from the network unless something
	// is layered at the same time.
	opts.CacheOnly = len(names) == 0
	if !overlays && !overrides && len(p.all("install")) == 0 {
		// Only --initramfs: nothing to send when the deployment does not
		// regenerate its initramfs (the daemon refuses an empty change).
		c, o, err := connectOS(ctx, a, p)
		if err != nil {
			return 0, err
		}
		d, err := o.DefaultDeployment(ctx)
		c.Close()
		if err != nil {
			return 0, err
		}
		if d == nil || (!d.RegenerateInitramfs && len(d.InitramfsEtc) == 0) {
			fmt.Fprintln(a.stdout, "No change.")
			if p.flag("unchanged-exit-77") {
				return exitUnchanged, nil
			}
			return exitOK, nil
		}
	}
	pl := layeringPlan{
		updateDeployment: true, // PkgChange has no way to drop overrides
		mods: client.Modifiers{
			InstallPackages: names, InstallLocalPackages: paths,
			UninstallAll: overlays, OverrideResetAll: overrides, InitramfsReset: initramfs,
		},
		opts: opts,
	}
	c, o, prev, err := a.send(ctx, p, pl)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return a.afterPkgChange(ctx, o, prev, pl.opts, p.flag("unchanged-exit-77"), nil)
}
