package daemon

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

const actionBootconfig = actionPrefix + "bootconfig"

// KernelArgs deploys the current commit again with edited kernel arguments.
func (o *osObject) KernelArgs(sender dbus.Sender, existing string, added, replaced, removed []string, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionBootconfig)
	if derr != nil {
		return "", derr
	}
	ch := transactions.KargsChange{
		Existing:         existing,
		Append:           added,
		Replace:          replaced,
		Delete:           removed,
		AppendIfMissing:  stringsOpt(options, "append-if-missing"),
		DeleteIfPresent:  stringsOpt(options, "delete-if-present"),
		Final:            stringOpt(options, "final-kernel-args"),
		LockFinalization: boolOpt(options, "lock-finalization"),
	}
	var parts []string
	for _, p := range [][]string{added, replaced, removed, ch.AppendIfMissing, ch.DeleteIfPresent} {
		parts = append(parts, p...)
	}
	return o.d.begin(request{
		caller: c, method: "KernelArgs", reboot: boolOpt(options, "reboot"),
		title: "kargs " + strings.Join(parts, " ") + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.KernelArgs(ctx, o.name, ch, p)
			return err
		},
	})
}

// GetDeploymentBootConfig returns a deployment's boot configuration; "options"
// holds its kernel arguments. An empty id means the booted deployment, or on a
// host not booted from the sysroot the default one.
func (o *osObject) GetDeploymentBootConfig(id string, pending bool) (map[string]dbus.Variant, *dbus.Error) {
	st, err := o.d.engine.State(context.Background(), true)
	if err != nil {
		return nil, failed(err)
	}
	found := bootConfigDeployment(st, o.name, id)
	if found == nil {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no deployment " + id})
	}
	return map[string]dbus.Variant{"options": dbus.MakeVariant(found.Kargs)}, nil
}

// bootConfigDeployment picks the deployment GetDeploymentBootConfig describes:
// the one with id, or for "" the booted one, else (a host not booted from the
// sysroot) osname's default one.
func bootConfigDeployment(st *transactions.State, osname, id string) *transactions.Deployment {
	notBooted := st.Booted() == nil
	var found *transactions.Deployment
	for i := range st.Deployments {
		d := &st.Deployments[i]
		switch {
		case id != "" && d.ID == id,
			id == "" && d.Booted,
			id == "" && found == nil && notBooted && d.OSName == osname:
			found = d
		}
	}
	return found
}
