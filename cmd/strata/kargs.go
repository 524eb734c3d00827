package main

import (
	"context"
	"fmt"

	"github.com/strata-os/strata/client"
)

var kargsCommand = &command{
	name: "kargs", summary: "Query or modify kernel arguments", run: runKargs,
	opts: []option{
		optStateroot, optOS, optReboot, optLockFinal, optUnchanged,
		{long: "append", arg: "KEY=VALUE", help: "Append a kernel argument (repeatable)"},
		{long: "replace", arg: "KEY=VALUE", help: "Replace a kernel argument, or KEY=OLD=NEW one of its values (repeatable)"},
		{long: "delete", arg: "KEY=VALUE", help: "Delete a kernel argument, or one of its values (repeatable)"},
		{long: "append-if-missing", arg: "KEY=VALUE", help: "Append a kernel argument unless present (repeatable)"},
		{long: "delete-if-present", arg: "KEY=VALUE", help: "Delete a kernel argument if present (repeatable)"},
		{long: "deploy-index", arg: "INDEX", help: "Act on the deployment at INDEX (not supported yet)", hidden: true},
		{long: "editor", help: "Edit in $EDITOR (not supported yet)", hidden: true},
		{long: "import-proc-cmdline", help: "Start from /proc/cmdline (not supported yet)", hidden: true},
	},
}

// runKargs prints the kernel arguments of the booted (or default) deployment,
// or deploys it again with edited ones.
func runKargs(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	for _, unsupported := range []string{"deploy-index", "editor", "import-proc-cmdline"} {
		if _, set := p.value(unsupported); set || p.flag(unsupported) {
			return 0, fmt.Errorf("kargs --%s is not implemented yet", unsupported)
		}
	}
	if len(p.args) > 0 {
		return 0, &usageError{"kargs takes no arguments; use --append, --replace or --delete"}
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	current, err := o.KernelArgsOf(ctx, "")
	if err != nil {
		return 0, err
	}
	added, replaced, removed := p.all("append"), p.all("replace"), p.all("delete")
	ifMissing, ifPresent := p.all("append-if-missing"), p.all("delete-if-present")
	if len(added)+len(replaced)+len(removed)+len(ifMissing)+len(ifPresent) == 0 {
		fmt.Fprintln(a.stdout, current)
		return exitOK, nil
	}
	prev, err := o.DefaultDeployment(ctx)
	if err != nil {
		return 0, err
	}
	reboot := p.flag("reboot")
	txn, err := o.KernelArgs(ctx, current, added, replaced, removed, client.KargsOptions{
		AppendIfMissing: ifMissing, DeleteIfPresent: ifPresent,
		Reboot: reboot, LockFinalization: p.flag("lock-finalization"), InitiatingCommandLine: a.cmdline,
	})
	return a.deployed(ctx, c, o, txn, err, prev, reboot, p.flag("unchanged-exit-77"), false,
		"Kernel arguments updated.\nRun \"systemctl reboot\" to start a reboot")
}
