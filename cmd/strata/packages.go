package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/strata-os/strata/client"
)

// Options shared by the layering commands, named as rpm-ostree names them.
var (
	optDryRun        = option{long: "dry-run", short: 'n', help: "Exit after printing the transaction"}
	optAssumeYes     = option{long: "assumeyes", short: 'y', help: "Auto-confirm interactive prompts for non-security questions"}
	optAllowInactive = option{long: "allow-inactive", help: "Allow inactive package requests"}
	optIdempotent    = option{long: "idempotent", help: "Do nothing if package already (un)installed"}
	optPkgUnchanged  = option{long: "unchanged-exit-77", help: "If no overlays were changed, exit 77"}
	optInstallPkg    = option{long: "install", arg: "PKG", help: "Overlay additional package"}
	optUninstallPkg  = option{long: "uninstall", arg: "PKG", help: "Remove overlayed additional package"}
	// Container-build options: accepted so that the error says why.
	optEnableRepo  = option{long: "enablerepo", arg: "REPO", help: "Only supported in a container build"}
	optDisableRepo = option{long: "disablerepo", arg: "REPO", help: "Only supported in a container build"}
	optReleaseVer  = option{long: "releasever", arg: "VERSION", help: "Only supported in a container build"}
)

var pkgCommonOptions = []option{
	optStateroot, optOS, optReboot, optDryRun, optAssumeYes, optAllowInactive, optIdempotent,
	optPkgUnchanged, optLockFinal, optEnableRepo, optDisableRepo, optReleaseVer,
}

var installCommand = &command{
	name: "install", params: "PACKAGE [PACKAGE...]", summary: "Overlay additional packages", run: runInstall,
	opts: append(append([]option{}, pkgCommonOptions...),
		optUninstallPkg, optCacheOnly,
		option{long: "download-only", help: "Just download latest ostree and RPM data, don't deploy"},
		option{long: "apply-live", short: 'A', help: "Apply changes to both pending deployment and running filesystem tree"},
		option{long: "force-replacefiles", help: "Allow package to replace files from other packages"},
	),
}

var uninstallCommand = &command{
	name: "uninstall", params: "PACKAGE [PACKAGE...]", summary: "Remove overlayed additional packages", run: runUninstall,
	opts: append(append([]option{}, pkgCommonOptions...),
		optInstallPkg,
		option{long: "all", help: "Remove all overlayed additional packages"},
	),
}

var refreshMdCommand = &command{
	name: "refresh-md", summary: "Generate rpm repo metadata", run: runRefreshMd,
	opts: []option{optStateroot, optOS, {long: "force", short: 'f', help: "Expire current cache"}},
}

// overrideOptions are common to the override subcommands (rpm-ostree adds
// --install/--uninstall to each).
var overrideOptions = []option{
	optStateroot, optOS, optReboot, optDryRun, optLockFinal,
	{long: "cache-only", short: 'C', help: "Only operate on cached data"},
	optInstallPkg, optUninstallPkg,
}

var overrideCommand = &command{
	name: "override", summary: "Manage base package overrides",
	subcommands: []*command{
		{name: "replace", parent: "override", params: "PACKAGE [PACKAGE...]", summary: "Replace packages in the base layer",
			run: runOverrideReplace, opts: append(append([]option{}, overrideOptions...),
				option{long: "remove", arg: "PKG", help: "Remove a package"},
				option{long: "experimental", hidden: true, help: "Allow experimental options such as --from or --freeze"},
				option{long: "freeze", hidden: true, help: "Pin packages to versions found"},
				option{long: "from", arg: "KIND=NAME", hidden: true, help: "Source of override"},
			)},
		{name: "remove", parent: "override", params: "PACKAGE [PACKAGE...]", summary: "Remove packages from the base layer",
			run: runOverrideRemove, opts: append(append([]option{}, overrideOptions...),
				option{long: "replace", arg: "RPM", help: "Replace a package"},
			)},
		{name: "reset", parent: "override", params: "PACKAGE [PACKAGE...]", summary: "Reset currently active package overrides",
			run: runOverrideReset, opts: append(append([]option{}, overrideOptions...),
				option{long: "all", short: 'a', help: "Reset all active overrides"},
			)},
	},
}

// splitLocal separates package arguments the way rpm-ostree's client does:
// an argument ending in ".rpm" or starting with "file://" is a local file
// (the client opens it; a missing file is an error, not a package name),
// anything else is a name or provide for the daemon to resolve.
func splitLocal(args []string) (names, paths []string, err error) {
	for _, arg := range args {
		switch {
		case strings.HasSuffix(arg, ".src.rpm"):
			return nil, nil, fmt.Errorf("%s appears to be a source RPM which are not usually intended to be installed", arg)
		case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
			return nil, nil, fmt.Errorf("Handling argument %s: fetching packages from URLs is not implemented yet; download it and pass the file", arg)
		case strings.HasPrefix(arg, "file://"):
			paths = append(paths, strings.TrimPrefix(arg, "file://"))
		case strings.HasSuffix(arg, ".rpm"):
			paths = append(paths, arg)
		default:
			names = append(names, arg)
		}
	}
	return names, paths, nil
}

// pkgRequest is what install and uninstall hand to the daemon.
type pkgRequest struct {
	install, uninstall []string
	uninstallAll       bool
	opts               client.UpdateOptions
}

// checkContainerOptions rejects the options rpm-ostree only honours in a
// container build, with its wording.
func checkContainerOptions(p *parsedArgs) error {
	for _, o := range []string{"enablerepo", "disablerepo", "releasever"} {
		if len(p.all(o)) > 0 {
			return fmt.Errorf("--%s currently only works in a container build", o)
		}
	}
	return nil
}

func pkgOptions(a *app, p *parsedArgs) client.UpdateOptions {
	return client.UpdateOptions{
		Reboot:                p.flag("reboot"),
		DryRun:                p.flag("dry-run"),
		Idempotent:            p.flag("idempotent"),
		AllowInactive:         p.flag("allow-inactive"),
		CacheOnly:             p.flag("cache-only"),
		DownloadOnly:          p.flag("download-only"),
		NoPullBase:            true, // layering never moves the base
		LockFinalization:      p.flag("lock-finalization"),
		InitiatingCommandLine: a.cmdline,
	}
}

func runInstall(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) < 1 {
		return 0, &usageError{"At least one PACKAGE must be specified"}
	}
	if p.flag("apply-live") {
		return 0, fmt.Errorf("%s: --apply-live is not implemented yet", a.prog)
	}
	if p.flag("force-replacefiles") {
		return 0, fmt.Errorf("%s: --force-replacefiles is not implemented yet", a.prog)
	}
	if err := checkContainerOptions(p); err != nil {
		return 0, err
	}
	return a.pkgChange(ctx, p, installRequest(a, p))
}

func installRequest(a *app, p *parsedArgs) pkgRequest {
	return pkgRequest{install: p.args, uninstall: p.all("uninstall"), opts: pkgOptions(a, p)}
}

func uninstallRequest(a *app, p *parsedArgs) pkgRequest {
	opts := pkgOptions(a, p)
	install := p.all("install")
	// Removing needs nothing new from the network unless something is
	// also installed (rpm-ostree: users don't expect uninstall to update).
	if len(install) == 0 {
		opts.CacheOnly = true
	}
	return pkgRequest{install: install, uninstall: p.args, uninstallAll: p.flag("all"), opts: opts}
}

func runUninstall(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	all := p.flag("all")
	if len(p.args) < 1 && !all {
		return 0, &usageError{"At least one PACKAGE must be specified"}
	}
	if err := checkContainerOptions(p); err != nil {
		return 0, err
	}
	return a.pkgChange(ctx, p, uninstallRequest(a, p))
}

// layeringPlan is a decided request: which method, which modifiers, which
// options. Deciding is kept apart from sending so that it can be tested
// without a daemon.
type layeringPlan struct {
	updateDeployment bool // else PkgChange (names only)
	mods             client.Modifiers
	opts             client.UpdateOptions
}

// planPkgChange decides a layering request. Like rpm-ostree's client it
// uses PkgChange when only names are involved and UpdateDeployment when a
// local RPM has to be passed.
func planPkgChange(r pkgRequest) (layeringPlan, error) {
	names, paths, err := splitLocal(r.install)
	if err != nil {
		return layeringPlan{}, err
	}
	return layeringPlan{
		updateDeployment: len(paths) > 0,
		mods: client.Modifiers{
			InstallPackages:      names,
			InstallLocalPackages: paths,
			UninstallPackages:    r.uninstall,
			UninstallAll:         r.uninstallAll,
		},
		opts: r.opts,
	}, nil
}

// send runs a plan on the OS of --stateroot and follows the transaction; it
// returns the client (to Close), the OS and the default deployment from
// before.
func (a *app) send(ctx context.Context, p *parsedArgs, pl layeringPlan) (*client.Client, *client.OS, *client.Deployment, error) {
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return nil, nil, nil, err
	}
	prev, err := o.DefaultDeployment(ctx)
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	var txn *client.Transaction
	if pl.updateDeployment {
		txn, err = o.UpdateDeployment(ctx, pl.mods, pl.opts)
	} else {
		txn, err = o.PkgChange(ctx, pl.opts, pl.mods.InstallPackages, pl.mods.UninstallPackages, pl.mods.UninstallAll)
	}
	if err == nil {
		err = a.follow(ctx, c, txn)
	}
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return c, o, prev, nil
}

func (a *app) pkgChange(ctx context.Context, p *parsedArgs, r pkgRequest) (int, error) {
	pl, err := planPkgChange(r)
	if err != nil {
		return 0, err
	}
	c, o, prev, err := a.send(ctx, p, pl)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return a.afterPkgChange(ctx, o, prev, pl.opts, p.flag("unchanged-exit-77"), nil)
}

// afterPkgChange reports the outcome of a layering or override transaction
// as rpm-ostree does: the dry-run notice, or (without --reboot) the package
// changes of the new deployment followed by the hints; exit 77 when asked
// and no new deployment was made.
func (a *app) afterPkgChange(ctx context.Context, o *client.OS, prev *client.Deployment, opts client.UpdateOptions, exit77 bool, hints []string) (int, error) {
	switch {
	case opts.DryRun:
		fmt.Fprintln(a.stdout, "Exiting because of '--dry-run' option")
		return exitOK, nil
	case opts.Reboot:
		return exitOK, nil
	}
	cur, err := o.DefaultDeployment(ctx)
	if err != nil {
		return 0, err
	}
	if !newDefault(prev, cur) {
		if exit77 {
			return exitUnchanged, nil
		}
		return exitOK, nil
	}
	a.printDeploymentDiff(ctx, o, prev, cur)
	if hints == nil {
		hints = []string{"Changes queued for next boot. Run \"systemctl reboot\" to start a reboot"}
	}
	for _, h := range hints {
		fmt.Fprintln(a.stdout, h)
	}
	return exitOK, nil
}

// printDeploymentDiff prints the package changes that the new default
// deployment cur brings: from the booted deployment, as rpm-ostree shows
// them, or from the previous default when the host did not boot from this
// sysroot (an image being prepared, a test). The transaction already
// succeeded, so a failure here is a warning, not an error.
func (a *app) printDeploymentDiff(ctx context.Context, o *client.OS, prev, cur *client.Deployment) {
	from := prev
	if b, err := o.BootedDeployment(ctx); err == nil && b != nil {
		from = b
	}
	if from == nil || cur == nil || from.ID == cur.ID {
		return
	}
	diff, err := o.GetDeploymentsRpmDiff(ctx, from.ID, cur.ID)
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: cannot show the package changes: %s\n", errorMessage(err))
		return
	}
	writeDiffBlock(a.stdout, diff)
}

// overrideRequest is what the override subcommands hand to the daemon.
type overrideRequest struct {
	remove, replace, reset []string
	resetAll               bool
	// replaceFrom are repo replacements, "repo=ID,PKG[,PKG...]".
	replaceFrom []string
}

// overrideRequestOf reads an override subcommand's arguments: the
// positionals are what the subcommand names, and replace/remove take the
// other kind through --remove/--replace.
func overrideRequestOf(sub string, p *parsedArgs) overrideRequest {
	switch sub {
	case "replace":
		return overrideRequest{remove: p.all("remove"), replace: p.args}
	case "remove":
		return overrideRequest{remove: p.args, replace: p.all("replace")}
	}
	return overrideRequest{reset: p.args, resetAll: p.flag("all")}
}

func runOverrideReplace(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) < 1 {
		return 0, &usageError{"At least one PACKAGE must be specified"}
	}
	_, hasFrom := p.value("from")
	if !p.flag("experimental") && (p.flag("freeze") || hasFrom) {
		return 0, errors.New("Must specify --experimental to use --freeze or --from")
	}
	if p.flag("freeze") {
		return 0, fmt.Errorf("%s: override replace --freeze is not implemented yet", a.prog)
	}
	r := overrideRequestOf("replace", p)
	if from, _ := p.value("from"); hasFrom {
		kind, name, ok := strings.Cut(from, "=")
		switch {
		case !ok:
			return 0, errors.New("Not in KIND=NAME format")
		case kind != "repo":
			return 0, fmt.Errorf("Invalid kind '%s'", kind)
		case name == "":
			return 0, errors.New("Empty name")
		}
		// Local files named with --from still replace as local files.
		names, paths, err := splitLocal(r.replace)
		if err != nil {
			return 0, err
		}
		r.replace = paths
		if len(names) > 0 {
			r.replaceFrom = []string{from + "," + strings.Join(names, ",")}
		}
	}
	return a.override(ctx, p, r)
}

func runOverrideRemove(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) < 1 {
		return 0, &usageError{"At least one PACKAGE must be specified"}
	}
	return a.override(ctx, p, overrideRequestOf("remove", p))
}

func runOverrideReset(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	all := p.flag("all")
	switch {
	case len(p.args) < 1 && !all:
		return 0, &usageError{"At least one PACKAGE must be specified"}
	case all && len(p.args) > 0:
		return 0, &usageError{"Cannot specify PACKAGEs with --all"}
	}
	return a.override(ctx, p, overrideRequestOf("reset", p))
}

// planOverride decides an override request: always UpdateDeployment, as
// rpm-ostree's client does for every override subcommand.
func planOverride(a *app, p *parsedArgs, r overrideRequest) (layeringPlan, error) {
	replaceNames, replacePaths, err := splitLocal(r.replace)
	if err != nil {
		return layeringPlan{}, err
	}
	installNames, installPaths, err := splitLocal(p.all("install"))
	if err != nil {
		return layeringPlan{}, err
	}
	return layeringPlan{
		updateDeployment: true,
		mods: client.Modifiers{
			InstallPackages:              installNames,
			InstallLocalPackages:         installPaths,
			UninstallPackages:            p.all("uninstall"),
			OverrideRemovePackages:       r.remove,
			OverrideReplacePackages:      append(replaceNames, r.replaceFrom...),
			OverrideReplaceLocalPackages: replacePaths,
			OverrideResetPackages:        r.reset,
			OverrideResetAll:             r.resetAll,
		},
		opts: client.UpdateOptions{
			Reboot: p.flag("reboot"),
			DryRun: p.flag("dry-run"),
			// Overrides work offline unless something new must be fetched.
			CacheOnly:             p.flag("cache-only") || (len(r.replace) == 0 && len(r.replaceFrom) == 0 && len(p.all("install")) == 0),
			NoPullBase:            true,
			LockFinalization:      p.flag("lock-finalization"),
			InitiatingCommandLine: a.cmdline,
		},
	}, nil
}

func (a *app) override(ctx context.Context, p *parsedArgs, r overrideRequest) (int, error) {
	pl, err := planOverride(a, p, r)
	if err != nil {
		return 0, err
	}
	c, o, prev, err := a.send(ctx, p, pl)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	hints := []string{"Run \"systemctl reboot\" to start a reboot"}
	if len(r.replace) > 0 || len(r.replaceFrom) > 0 || len(r.remove) > 0 {
		hints = append([]string{fmt.Sprintf("Use \"%s override reset\" to undo overrides", a.prog)}, hints...)
	}
	return a.afterPkgChange(ctx, o, prev, pl.opts, false, hints)
}

func runRefreshMd(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	// rpm-ostree tolerates one stray argument here; so do we.
	if len(p.args) > 1 {
		return 0, &usageError{"Too few or too many arguments"}
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	txn, err := o.RefreshMd(ctx, p.flag("force"))
	if err != nil {
		return 0, err
	}
	return exitOK, a.follow(ctx, c, txn)
}
