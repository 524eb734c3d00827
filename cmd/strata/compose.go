package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// composeHelper is the binary that does the work of `compose`: building
// images needs libostree and containers/image, which this CLI must not link.
const composeHelper = "strata-compose"

var composeCommand = &command{
	name: "compose", summary: "Commands to compose a tree",
	subcommands: []*command{
		{name: "container-encapsulate", parent: "compose", params: "REF IMAGE-REF",
			summary: "Write an OSTree commit as an OSTree-native container image, split into layers by package",
			run:     runComposeEncapsulate, opts: []option{
				{long: "repo", arg: "REPO", help: "OSTree repository holding REF (default: /ostree/repo)"},
				{long: "max-layers", arg: "N", help: "Use at most N layers (default: 64)"},
				{long: "label", short: 'l', arg: "KEY=VALUE", help: "Add a label to the image config (repeatable)"},
			}},
	},
}

// runComposeEncapsulate hands the command line, as parsed, to strata-compose.
func runComposeEncapsulate(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) != 2 {
		return 0, &usageError{"REF and IMAGE-REF must be specified"}
	}
	argv := []string{"container-encapsulate"}
	if v, ok := p.value("repo"); ok {
		argv = append(argv, "--repo="+v)
	}
	if v, ok := p.value("max-layers"); ok {
		argv = append(argv, "--max-layers="+v)
	}
	for _, l := range p.all("label") {
		argv = append(argv, "--label="+l)
	}
	argv = append(argv, "--", p.args[0], p.args[1])
	return runHelper(ctx, a, composeHelper, argv)
}

// runHelper runs a helper binary installed next to this executable (then
// found on $PATH) with the CLI's output streams, and returns its exit code.
func runHelper(ctx context.Context, a *app, name string, argv []string) (int, error) {
	bin := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), name); isExecutable(p) {
			bin = p
		}
	}
	if bin == "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return 0, fmt.Errorf("%s is not installed next to %s or on $PATH; install strata's %s binary", name, a.prog, name)
		}
		bin = p
	}
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, a.stdout, a.stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		// The helper printed its own error.
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("running %s: %w", bin, err)
	}
	return exitOK, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
