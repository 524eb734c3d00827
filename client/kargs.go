package client

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// KargsOptions are KernelArgs' options besides the three edit lists.
type KargsOptions struct {
	AppendIfMissing, DeleteIfPresent []string
	Reboot, LockFinalization         bool
	InitiatingCommandLine            string
}

// KernelArgs starts a transaction that deploys the current commit again with
// edited kernel arguments, starting from existing (as rpm-ostree's CLI sends
// what GetDeploymentBootConfig returned).
func (o *OS) KernelArgs(ctx context.Context, existing string, added, replaced, removed []string, opts KargsOptions) (*Transaction, error) {
	options := map[string]dbus.Variant{
		"reboot":            dbus.MakeVariant(opts.Reboot),
		"lock-finalization": dbus.MakeVariant(opts.LockFinalization),
	}
	if len(opts.AppendIfMissing) > 0 {
		options["append-if-missing"] = dbus.MakeVariant(opts.AppendIfMissing)
	}
	if len(opts.DeleteIfPresent) > 0 {
		options["delete-if-present"] = dbus.MakeVariant(opts.DeleteIfPresent)
	}
	if opts.InitiatingCommandLine != "" {
		options["initiating-command-line"] = dbus.MakeVariant(opts.InitiatingCommandLine)
	}
	return o.start(ctx, "KernelArgs", existing, nonNil(added), nonNil(replaced), nonNil(removed), options)
}

// KernelArgsOf returns the kernel arguments of a deployment: deployment is
// its id or its index in the sysroot's list (rpm-ostree's --deploy-index);
// "" is, with pending, the OS's default (pending) deployment, and without it
// the booted one (or the default one on a host not booted from the sysroot).
func (o *OS) KernelArgsOf(ctx context.Context, deployment string, pending bool) (string, error) {
	var cfg map[string]dbus.Variant
	if err := o.obj.CallWithContext(ctx, OSInterface+".GetDeploymentBootConfig", 0, deployment, pending).Store(&cfg); err != nil {
		return "", fmt.Errorf("reading boot configuration: %w", err)
	}
	args, _ := cfg["options"].Value().(string)
	return args, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
