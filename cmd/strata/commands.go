package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/strata-os/strata/client"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	params  string // positional parameters for the usage line
	hidden  bool   // an alias, left out of the command list
	opts    []option
	run     func(ctx context.Context, a *app, p *parsedArgs) (int, error)
	// subcommands make this a command group ("override", "db"); parent is
	// set on each subcommand, for its usage line.
	subcommands []*command
	parent      string
}

// fullName is the command as typed: "status", "override remove".
func (c *command) fullName() string {
	if c.parent != "" {
		return c.parent + " " + c.name
	}
	return c.name
}

// globalOptions are accepted by every command (and without one).
var globalOptions = []option{
	{long: "help", short: 'h', help: "Show help options"},
	{long: "version", help: "Print version information and exit"},
	{long: "quiet", short: 'q', help: "Print less informational output"},
}

var (
	optReboot    = option{long: "reboot", short: 'r', help: "Reboot once the operation is complete"}
	optStateroot = option{long: "stateroot", arg: "STATEROOT", help: "Act on STATEROOT instead of the booted one"}
	optOS        = option{long: "os", arg: "OSNAME", help: "Same as --stateroot", hidden: true}
	optCacheOnly = option{long: "cache-only", short: 'C', help: "Use only data already downloaded"}
	optDownload  = option{long: "download-only", help: "Download the new tree and packages, do not deploy"}
	optLockFinal = option{long: "lock-finalization", help: "Do not finalize the staged deployment on shutdown"}
	optUnchanged = option{long: "unchanged-exit-77", help: "Exit 77 when no new deployment was made"}
)

// commands is the table of implemented subcommands.
var commands = []*command{
	{name: "status", summary: "Show the deployments and the daemon's state", run: runStatus, opts: []option{
		{long: "verbose", short: 'v', help: "Show more fields (StateRoot, Staged, index…)"},
		{long: "json", help: "Print JSON"},
		{long: "jsonpath", short: 'J', arg: "EXPRESSION", help: "Print the JSON values a JSONPath expression selects"},
		{long: "booted", short: 'b', help: "Show only the booted deployment"},
		{long: "pending-exit-77", help: "Exit 77 when a pending deployment exists"},
		{long: "advisories", short: 'a', help: "Accepted for compatibility", hidden: true},
		{long: "pretty", short: 'p', help: "Accepted for compatibility", hidden: true},
	}},
	{name: "upgrade", summary: "Upgrade the system to the newest commit of its ref", run: runUpgrade, opts: upgradeOptions},
	{name: "update", summary: "Same as upgrade", hidden: true, run: runUpgrade, opts: upgradeOptions},
	{name: "rebase", params: "REFSPEC|IMAGE [REVISION]", summary: "Switch the system to another ref or container image", run: runRebase, opts: []option{
		optStateroot, optOS, optReboot, optCacheOnly, optDownload, optLockFinal,
		{long: "branch", short: 'b', arg: "BRANCH", help: "Rebase to BRANCH (with --remote, on that remote)"},
		{long: "remote", short: 'm', arg: "REMOTE", help: "Rebase to the current branch on REMOTE"},
		{long: "skip-purge", help: "Keep the previous ref"},
		{long: "disallow-downgrade", help: "Refuse to deploy an older commit"},
		{long: "custom-origin-url", arg: "URL", help: "For a checksum or image digest, record URL as its origin"},
		{long: "custom-origin-description", arg: "TEXT", help: "Describe the custom origin (required with --custom-origin-url)"},
		// The cluster's machine-config daemon passes it with image references
		// (container rebases were experimental in older rpm-ostree).
		{long: "experimental", hidden: true, help: "Accepted for compatibility; has no effect"},
	}},
	{name: "deploy", params: "REVISION", summary: "Deploy a given version or commit of the current ref", run: runDeploy, opts: []option{
		optStateroot, optOS, optReboot, optCacheOnly, optDownload, optLockFinal, optUnchanged,
		{long: "disallow-downgrade", help: "Refuse to deploy an older commit"},
		{long: "skip-branch-check", help: "Do not check that the commit belongs to the ref"},
	}},
	{name: "rollback", summary: "Make the previous deployment the default again", run: runRollback, opts: []option{optReboot}},
	{name: "cleanup", summary: "Remove pending or rollback deployments and cached data", run: runCleanup, opts: []option{
		optStateroot, optOS,
		{long: "base", short: 'b', help: "Remove temporary files, keep deployments"},
		{long: "pending", short: 'p', help: "Remove the pending deployment"},
		{long: "rollback", short: 'r', help: "Remove the rollback deployment"},
		{long: "repomd", short: 'm', help: "Remove cached rpm-md repository metadata"},
	}},
	{name: "finalize-deployment", params: "CHECKSUM", summary: "Unset the finalization locking state of the staged deployment and reboot", run: runFinalize, opts: []option{
		optStateroot, optOS,
		{long: "allow-missing-checksum", help: "Don't error out if no expected checksum is provided"},
		{long: "allow-unlocked", help: "Don't error out if staged deployment wasn't locked"},
	}},
	{name: "cancel", summary: "Cancel the running transaction", run: runCancel},
	{name: "reload", summary: "Reload the daemon's configuration and state", run: runReload},
	installCommand, uninstallCommand,
	{name: "pkg-add", summary: "Same as install", hidden: true, params: installCommand.params, opts: installCommand.opts, run: runInstall},
	{name: "pkg-remove", summary: "Same as uninstall", hidden: true, params: uninstallCommand.params, opts: uninstallCommand.opts, run: runUninstall},
	overrideCommand, refreshMdCommand, dbCommand, kargsCommand, composeCommand,
	searchCommand, initramfsCommand, initramfsEtcCommand, usroverlayCommand, testutilsCommand, resetCommand,
}

var upgradeOptions = []option{
	optStateroot, optOS, optReboot, optCacheOnly, optDownload, optLockFinal, optUnchanged,
	{long: "allow-downgrade", help: "Allow deploying an older commit"},
	{long: "check", help: "Only check whether an update exists (exit 77 if not)"},
	{long: "preview", help: "Only show what an update would change (exit 77 if none)"},
	{long: "check-diff", help: "Same as --preview", hidden: true},
	{long: "upgrade-unchanged-exit-77", help: "Same as --unchanged-exit-77", hidden: true},
	{long: "bypass-driver", help: "Accepted for compatibility", hidden: true},
	{long: "trigger-automatic-update-policy", help: "Do what the AutomaticUpdatePolicy of /etc/rpm-ostreed.conf says (none, check, stage)"},
}

// notImplemented are rpm-ostree commands strata does not have yet; they get
// a clear message instead of "Unknown command".
var notImplemented = map[string]bool{
	"apply-live": true, "compose": true,
	"unlock": true,
	"rpm":    true,
	"remove": true, "makecache": true, "ex": true, "rebuild": true,
	"shlib-backend": true, "start-daemon": true, "scriptlet-intercept": true,
}

// containerOnly are the `ex` subcommands rpm-ostree runs only in a container
// build; on a host they get rpm-ostree's refusal.
var containerOnly = map[string]bool{"rebuild": true}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (a *app) printTopHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  %s [OPTION…] COMMAND\n\nBuiltin Commands:\n", a.prog)
	var names []string
	for _, c := range commands {
		if !c.hidden {
			names = append(names, c.name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-23s%s\n", n, lookupCommand(n).summary)
	}
	fmt.Fprintf(w, "\nHelp Options:\n")
	writeOptionHelp(w, globalOptions[:1])
	fmt.Fprintf(w, "\nApplication Options:\n")
	writeOptionHelp(w, globalOptions[1:])
	fmt.Fprintln(w)
}

func (a *app) printCommandHelp(w io.Writer, c *command) {
	usage := a.prog + " " + c.fullName() + " [OPTION…]"
	if c.params != "" {
		usage += " " + c.params
	}
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n\nHelp Options:\n", usage, c.summary)
	writeOptionHelp(w, globalOptions[:1])
	fmt.Fprintf(w, "\nApplication Options:\n")
	writeOptionHelp(w, append(append([]option{}, c.opts...), globalOptions[1:]...))
	fmt.Fprintln(w)
}

// printGroupHelp lists a command group's subcommands.
func (a *app) printGroupHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage:\n  %s %s [OPTION…] COMMAND\n\n%s\n\nBuiltin \"%s\" Commands:\n", a.prog, c.name, c.summary, c.name)
	for _, s := range c.subcommands {
		if !s.hidden {
			fmt.Fprintf(w, "  %-23s%s\n", s.name, s.summary)
		}
	}
	fmt.Fprintf(w, "\nHelp Options:\n")
	writeOptionHelp(w, globalOptions[:1])
	fmt.Fprintf(w, "\nApplication Options:\n")
	writeOptionHelp(w, globalOptions[1:])
	fmt.Fprintln(w)
}

func writeOptionHelp(w io.Writer, opts []option) {
	for _, o := range opts {
		if o.hidden {
			continue
		}
		left := "--" + o.long
		if o.short != 0 {
			left = fmt.Sprintf("-%c, %s", o.short, left)
		}
		if o.arg != "" {
			left += "=" + o.arg
		}
		fmt.Fprintf(w, "  %-30s %s\n", left, o.help)
	}
}

// connectOS connects and looks up the OS object for --stateroot/--os.
func connectOS(ctx context.Context, a *app, p *parsedArgs) (*client.Client, *client.OS, error) {
	c, err := a.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	name, ok := p.value("stateroot")
	if !ok {
		name, _ = p.value("os")
	}
	o, err := c.OS(ctx, name)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, o, nil
}

// layeredMerge says whether the deployment an upgrade starts from (the
// booted one, else the default) has packages layered or overridden.
func layeredMerge(deps []client.Deployment) bool {
	for i, d := range deps {
		if d.Booted || (i == 0 && !anyBooted(deps)) {
			return d.BaseChecksum != ""
		}
	}
	return false
}

func anyBooted(deps []client.Deployment) bool {
	for _, d := range deps {
		if d.Booted {
			return true
		}
	}
	return false
}

// runAutomaticUpdate is `upgrade --trigger-automatic-update-policy`, what
// strata-automatic.service runs: the daemon applies its configured policy.
func runAutomaticUpdate(ctx context.Context, a *app, c *client.Client, o *client.OS) (int, error) {
	txn, err := o.AutomaticUpdateTrigger(ctx, "auto")
	if err != nil {
		return 0, err
	}
	if txn == nil {
		fmt.Fprintln(a.stdout, "Automatic updates are not enabled; exiting...")
		return exitOK, nil
	}
	if err := a.follow(ctx, c, txn); err != nil {
		return 0, err
	}
	if cu, err := o.CachedUpdate(ctx); err == nil && len(cu) > 0 {
		writeCachedUpdate(a.stdout, cu, false, a.tty)
	}
	return exitOK, nil
}

func runUpgrade(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	preview := p.flag("preview") || p.flag("check-diff")
	check := p.flag("check") && !preview // --preview wins when both are given
	reboot := p.flag("reboot")
	if reboot && preview {
		return 0, errors.New("Cannot specify both --reboot and --preview")
	}
	if reboot && check {
		return 0, errors.New("Cannot specify both --reboot and --check")
	}
	if p.flag("cache-only") && p.flag("download-only") {
		// One forbids the network, the other does nothing else.
		return 0, errors.New("Cannot specify both --cache-only and --download-only")
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if p.flag("trigger-automatic-update-policy") {
		return runAutomaticUpdate(ctx, a, c, o)
	}
	st, stErr := c.Status(ctx)
	if stErr == nil && st.AutomaticUpdatePolicy == "stage" {
		fmt.Fprintf(a.stdout, "note: automatic updates (%s) are enabled\n", st.AutomaticUpdatePolicy)
	}

	if check || preview {
		if stErr == nil && layeredMerge(st.Deployments) {
			// rpm-ostree's note (scripts match it): the check compares
			// bases; layered packages are re-resolved only by the upgrade.
			fmt.Fprintln(a.stdout, "Note: --check and --preview may be unreliable.  See https://github.com/coreos/rpm-ostree/issues/1579")
		}
		// Decision: --check/--preview run DownloadUpdateRpmDiff and then
		// read CachedUpdate. (rpm-ostree's own CLI reaches the same
		// daemon code through AutomaticUpdateTrigger(mode=check), which
		// only exists when automatic updates are configured.)
		txn, err := o.DownloadUpdateRpmDiff(ctx)
		if err != nil {
			return 0, err
		}
		if err := a.follow(ctx, c, txn); err != nil {
			return 0, err
		}
		cu, err := o.CachedUpdate(ctx)
		if err != nil {
			return 0, err
		}
		if len(cu) == 0 {
			fmt.Fprintln(a.stdout, "No updates available.")
			return exitUnchanged, nil
		}
		writeCachedUpdate(a.stdout, cu, preview, a.tty)
		if _, has := cu["rpm-diff"]; preview && !has {
			// No diff in CachedUpdate: ask for it directly. A daemon
			// without package data (or without the method) leaves just
			// the block above.
			if diff, _, err := o.GetCachedUpdateRpmDiff(ctx, ""); err == nil {
				writeDiffAligned(a.stdout, diff, updateKeyWidth)
			}
		}
		return exitOK, nil
	}

	return a.newDeployment(ctx, c, o, deployStep{
		reboot: reboot, exit77: p.flag("unchanged-exit-77") || p.flag("upgrade-unchanged-exit-77"), showDiff: true,
		hint: "Run \"systemctl reboot\" to start a reboot",
		start: func(ctx context.Context, o *client.OS) (*client.Transaction, error) {
			return o.Upgrade(ctx, client.UpgradeOptions{
				Reboot:                reboot,
				AllowDowngrade:        p.flag("allow-downgrade"),
				CacheOnly:             p.flag("cache-only"),
				DownloadOnly:          p.flag("download-only"),
				LockFinalization:      p.flag("lock-finalization"),
				InitiatingCommandLine: a.cmdline,
			})
		},
	})
}

// deployStep is what upgrade, rebase, deploy and rollback differ in once
// connected: how the transaction starts and how its outcome is reported.
type deployStep struct {
	reboot, exit77, showDiff bool // see afterDeploy
	hint                     string
	start                    func(ctx context.Context, o *client.OS) (*client.Transaction, error)
}

// deployOn is the shared prologue of rebase, deploy and rollback: connect to
// the OS of --stateroot/--os, then newDeployment.
func (a *app) deployOn(ctx context.Context, p *parsedArgs, step deployStep) (int, error) {
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return a.newDeployment(ctx, c, o, step)
}

// newDeployment remembers the default deployment, starts the transaction,
// follows it and reports what changed against the remembered default.
func (a *app) newDeployment(ctx context.Context, c *client.Client, o *client.OS, step deployStep) (int, error) {
	prev, err := o.DefaultDeployment(ctx)
	if err != nil {
		return 0, err
	}
	txn, err := step.start(ctx, o)
	return a.deployed(ctx, c, o, txn, err, prev, step.reboot, step.exit77, step.showDiff, step.hint)
}

func runRebase(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) > 2 {
		return 0, &usageError{"Too many arguments"}
	}
	branch, hasBranch := p.value("branch")
	remote, hasRemote := p.value("remote")
	var refspec, revision string
	switch {
	case len(p.args) >= 1:
		refspec = p.args[0]
		if len(p.args) == 2 {
			revision = p.args[1]
		}
	case hasRemote:
		refspec = remote + ":" + branch
	case hasBranch:
		refspec = branch
	default:
		return 0, &usageError{"Must specify refspec, or -b branch or -m remote"}
	}
	if refspec == "" {
		return 0, errors.New("Refspec is empty")
	}
	if strings.HasPrefix(refspec, "/") {
		return 0, fmt.Errorf("%s: rebasing to a local repository (LOCALPATH:REF) is not implemented yet", a.prog)
	}
	customURL, _ := p.value("custom-origin-url")
	customDesc, _ := p.value("custom-origin-description")
	if customURL != "" && customDesc == "" {
		return 0, errors.New("--custom-origin-description must be supplied with --custom-origin-url")
	}
	reboot := p.flag("reboot")
	opts := client.RebaseOptions{
		CustomOriginURL:         customURL,
		CustomOriginDescription: customDesc,
		Reboot:                  reboot,
		DisallowDowngrade:       p.flag("disallow-downgrade"),
		CacheOnly:               p.flag("cache-only"),
		DownloadOnly:            p.flag("download-only"),
		SkipPurge:               p.flag("skip-purge"),
		LockFinalization:        p.flag("lock-finalization"),
		InitiatingCommandLine:   a.cmdline,
	}
	if revision != "" {
		opts.Revision = client.NormalizeRevision(revision)
	}
	return a.deployOn(ctx, p, deployStep{
		reboot: reboot, showDiff: true, hint: "Changes queued for next boot. Run \"systemctl reboot\" to start a reboot",
		start: func(ctx context.Context, o *client.OS) (*client.Transaction, error) {
			return o.Rebase(ctx, refspec, nil, opts)
		},
	})
}

func runDeploy(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) < 1 {
		return 0, &usageError{"REVISION must be specified"}
	}
	reboot := p.flag("reboot")
	return a.deployOn(ctx, p, deployStep{
		reboot: reboot, exit77: p.flag("unchanged-exit-77"), showDiff: true, hint: "Run \"systemctl reboot\" to start a reboot",
		start: func(ctx context.Context, o *client.OS) (*client.Transaction, error) {
			return o.Deploy(ctx, client.NormalizeRevision(p.args[0]), client.DeployOptions{
				Reboot:                reboot,
				DisallowDowngrade:     p.flag("disallow-downgrade"),
				CacheOnly:             p.flag("cache-only"),
				DownloadOnly:          p.flag("download-only"),
				SkipBranchCheck:       p.flag("skip-branch-check"),
				LockFinalization:      p.flag("lock-finalization"),
				InitiatingCommandLine: a.cmdline,
			})
		},
	})
}

func runRollback(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	reboot := p.flag("reboot")
	return a.deployOn(ctx, p, deployStep{
		reboot: reboot, hint: "Changes queued for next boot. Run \"systemctl reboot\" to start a reboot",
		start: func(ctx context.Context, o *client.OS) (*client.Transaction, error) {
			return o.Rollback(ctx, client.RollbackOptions{Reboot: reboot})
		},
	})
}

// cleanupElements maps cleanup's flags to the daemon's element names, in
// rpm-ostree's order.
func cleanupElements(p *parsedArgs) []string {
	var el []string
	for _, f := range []struct{ flag, element string }{
		{"base", client.CleanupBase},
		{"pending", client.CleanupPending},
		{"rollback", client.CleanupRollback},
		{"repomd", client.CleanupRepomd},
	} {
		if p.flag(f.flag) {
			el = append(el, f.element)
		}
	}
	return el
}

func runCleanup(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	el := cleanupElements(p)
	if len(el) == 0 {
		return 0, errors.New("cleanup: At least one cleanup option must be specified")
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	txn, err := o.Cleanup(ctx, el)
	if err != nil {
		return 0, err
	}
	return exitOK, a.follow(ctx, c, txn)
}

func runFinalize(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	missing := p.flag("allow-missing-checksum")
	switch {
	case len(p.args) > 1:
		return 0, &usageError{"Too many arguments passed"}
	case len(p.args) == 0 && !missing:
		return 0, &usageError{"Must provide expected CHECKSUM or --allow-missing-checksum"}
	case len(p.args) == 1 && missing:
		return 0, &usageError{"Cannot specify both CHECKSUM and --allow-missing-checksum"}
	}
	opts := client.FinalizeOptions{AllowMissingChecksum: missing, AllowUnlocked: p.flag("allow-unlocked"), InitiatingCommandLine: a.cmdline}
	if len(p.args) == 1 {
		opts.Checksum = p.args[0]
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	txn, err := o.FinalizeDeployment(ctx, opts)
	if err != nil {
		return 0, err
	}
	return exitOK, a.follow(ctx, c, txn)
}

func runCancel(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	c, err := a.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	txn, err := c.ActiveTransaction(ctx)
	if err != nil {
		return 0, err
	}
	if txn == nil {
		// Not an error: cancelling races with the transaction ending.
		fmt.Fprintln(a.stdout, "No active transaction.")
		return exitOK, nil
	}
	title, _ := txn.Title(ctx)
	fmt.Fprintf(a.stdout, "Cancelling transaction: %s\n", title)
	if err := txn.Cancel(ctx); err != nil {
		return 0, err
	}
	if err := c.WaitTransactionGone(ctx, txn.Address); err != nil {
		return 0, err
	}
	fmt.Fprintln(a.stdout, "Cancelled.")
	return exitOK, nil
}

func runReload(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	c, err := a.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return exitOK, c.ReloadConfig(ctx)
}

// follow runs a transaction, rendering its progress, then asks the daemon to
// reload so that the properties we read next reflect the result (rpm-ostree's
// client does the same).
func (a *app) follow(ctx context.Context, c *client.Client, txn *client.Transaction) error {
	r := newProgress(a.stdout, a.tty)
	events := r.handle
	if a.quiet {
		events = nil
	}
	err := txn.Run(ctx, events)
	r.finish()
	if err != nil {
		return err
	}
	_ = c.Reload(ctx) // only a sync point; the transaction already succeeded
	return nil
}

// afterDeploy reports the outcome of a deployment-changing transaction: a
// new default deployment gets the reboot hint; none gets exit 77 when asked.
// With --reboot the daemon is rebooting the host, so there is nothing to say.
// showDiff prints the new deployment's package changes first, as rpm-ostree
// does after upgrade, deploy and rebase (not after rollback).
// deployed follows a transaction that writes a deployment (txn, err are what
// starting it returned) and then reports what changed (afterDeploy).
func (a *app) deployed(ctx context.Context, c *client.Client, o *client.OS, txn *client.Transaction, err error, prev *client.Deployment, reboot, exit77, showDiff bool, hint string) (int, error) {
	if err != nil {
		return 0, err
	}
	if err := a.follow(ctx, c, txn); err != nil {
		return 0, err
	}
	return a.afterDeploy(ctx, o, prev, reboot, exit77, showDiff, hint)
}

func (a *app) afterDeploy(ctx context.Context, o *client.OS, prev *client.Deployment, reboot, exit77, showDiff bool, hint string) (int, error) {
	if reboot {
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
	if showDiff {
		a.printDeploymentDiff(ctx, o, prev, cur)
	}
	fmt.Fprintln(a.stdout, hint)
	return exitOK, nil
}

func newDefault(prev, cur *client.Deployment) bool {
	switch {
	case cur == nil:
		return false
	case prev == nil:
		return true
	}
	return prev.ID != cur.ID
}
