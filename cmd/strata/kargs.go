package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

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
		{long: "deploy-index", arg: "INDEX", help: "Start from the arguments of the deployment at INDEX (0 is the first in status)"},
		{long: "editor", help: "Edit the arguments in $EDITOR"},
		{long: "import-proc-cmdline", help: "Start from the booted deployment's arguments instead of the pending one's"},
	},
}

// runKargs prints the kernel arguments of the pending (or booted) deployment,
// or deploys the current commit again with edited ones.
func runKargs(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) > 0 {
		return 0, &usageError{"kargs takes no arguments; use --append, --replace or --delete"}
	}
	added, replaced, removed := p.all("append"), p.all("replace"), p.all("delete")
	ifMissing, ifPresent := p.all("append-if-missing"), p.all("delete-if-present")
	edits := len(added) + len(replaced) + len(removed) + len(ifMissing) + len(ifPresent)
	index, byIndex := p.value("deploy-index")
	fromProc, editor := p.flag("import-proc-cmdline"), p.flag("editor")
	_, osSet := p.value("os")
	if _, set := p.value("stateroot"); set {
		osSet = true
	}
	switch {
	case editor && edits > 0:
		return 0, errors.New("Cannot specify --editor with --replace, --delete, --append, --delete-if-present or --append-if-missing")
	case fromProc && byIndex:
		return 0, errors.New("Cannot specify both --import-from-proc-cmdline and --deploy-index")
	case fromProc && osSet:
		return 0, errors.New("Cannot specify both osname and --import-from-proc-cmdline")
	case p.flag("reboot") && edits == 0 && !editor:
		return 0, errors.New("Cannot reboot when kernel arguments not changed")
	}
	c, o, err := connectOS(ctx, a, p)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// As rpm-ostree: the pending deployment's arguments unless
	// --import-proc-cmdline asks for the booted one's; an index wins.
	current, err := o.KernelArgsOf(ctx, index, !fromProc)
	if err != nil {
		return 0, err
	}
	if edits == 0 && !editor {
		fmt.Fprintln(a.stdout, current)
		return exitOK, nil
	}
	prev, err := o.DefaultDeployment(ctx)
	if err != nil {
		return 0, err
	}
	if editor {
		edited, err := editKargs(ctx, current)
		if err != nil {
			return 0, err
		}
		// The host may have changed while the editor was open: refuse to
		// act on arguments read from a deployment that is no longer there.
		now, err := o.DefaultDeployment(ctx)
		if err != nil {
			return 0, err
		}
		if deploymentID(now) != deploymentID(prev) {
			return 0, fmt.Errorf("Conflict: bootloader configuration changed. Saved kernel arguments: \n%s", edited)
		}
		// The edited line is the whole new set: it goes as the existing
		// arguments with nothing to add, replace or delete.
		current, added, replaced, removed, ifMissing, ifPresent = edited, nil, nil, nil, nil, nil
	}
	reboot := p.flag("reboot")
	txn, err := o.KernelArgs(ctx, current, added, replaced, removed, client.KargsOptions{
		AppendIfMissing: ifMissing, DeleteIfPresent: ifPresent,
		Reboot: reboot, LockFinalization: p.flag("lock-finalization"), InitiatingCommandLine: a.cmdline,
	})
	return a.deployed(ctx, c, o, txn, err, prev, reboot, p.flag("unchanged-exit-77"), false,
		"Kernel arguments updated.\nRun \"systemctl reboot\" to start a reboot")
}

func deploymentID(d *client.Deployment) string {
	if d == nil {
		return ""
	}
	return d.ID
}

// editKargs lets the user edit args in $VISUAL or $EDITOR (vi if neither is
// set), on a temporary file, and returns the edited line.
func editKargs(ctx context.Context, args string) (string, error) {
	shown := strings.Join(withoutOstreeKarg(strings.Fields(args)), " ")
	f, err := os.CreateTemp("", "strata-kargs-*.txt")
	if err != nil {
		return "", fmt.Errorf("creating the file to edit: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(kargsEditorText(shown)); err != nil {
		f.Close()
		return "", fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	// Through the shell, as git and ostree do, so EDITOR may carry options.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", editor+` "$@"`, editor, f.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("running editor %q: %w; set $EDITOR to a working editor", editor, err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return "", fmt.Errorf("reading the edited arguments: %w", err)
	}
	return parseEditedKargs(shown, string(b))
}

// kargsEditorText is what the editor opens: instructions, then the arguments.
func kargsEditorText(args string) string {
	return "\n" +
		"# Edit the kernel arguments below, as KEY or KEY=VALUE separated by spaces;\n" +
		"# a key may appear more than once. Lines starting with '#' are ignored.\n" +
		"# The ostree= argument is managed by the bootloader configuration and\n" +
		"# cannot be set here.\n" +
		args + "\n"
}

// parseEditedKargs joins the edited file's non-comment lines into one line
// of arguments and refuses what rpm-ostree refuses.
func parseEditedKargs(before, text string) (string, error) {
	var parts []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts = append(parts, line)
	}
	edited := strings.Join(parts, " ")
	fields := strings.Fields(edited)
	if len(withoutOstreeKarg(fields)) != len(fields) {
		return "", errors.New("You have an 'ostree' argument in your input, that is not going to be handled")
	}
	if edited == "" {
		return "", errors.New("The kernel arguments can not be empty")
	}
	if edited == before {
		return "", errors.New("The kernel arguments remained the same")
	}
	return edited, nil
}

// withoutOstreeKarg drops ostree=, which libostree writes on every entry.
func withoutOstreeKarg(args []string) []string {
	var out []string
	for _, a := range args {
		if key, _, _ := strings.Cut(a, "="); key != "ostree" {
			out = append(out, a)
		}
	}
	return out
}
