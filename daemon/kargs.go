package daemon

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/transactions"
)

const actionBootconfig = actionPrefix + "bootconfig"

// KernelArgs deploys the current commit again with edited kernel arguments.
func (o *osObject) KernelArgs(sender dbus.Sender, existing string, added, replaced, removed []string, options map[string]dbus.Variant) (string, *dbus.Error) {
	ch := transactions.KargsChange{
		Existing:        existing,
		Append:          added,
		Replace:         replaced,
		Delete:          removed,
		AppendIfMissing: stringsOpt(options, "append-if-missing"),
		DeleteIfPresent: stringsOpt(options, "delete-if-present"),
		Final:           stringOpt(options, "final-kernel-args"),
	}
	var parts []string
	for _, p := range [][]string{added, replaced, removed, ch.AppendIfMissing, ch.DeleteIfPresent} {
		parts = append(parts, p...)
	}
	return o.d.begin(request{
		sender: sender, method: "KernelArgs", reboot: boolOpt(options, "reboot"),
		title:   "kargs " + strings.Join(parts, " ") + flagsTitle(options),
		actions: []string{actionBootconfig},
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
	var found *ostree.Deployment
	err := o.d.engine.View(context.Background(), func(s *ostree.Sysroot) error {
		for _, d := range s.Deployments() {
			switch {
			case id != "" && d.ID() == id,
				id == "" && d.Booted,
				id == "" && found == nil && s.BootedDeployment() == nil && d.Osname == o.name:
				found = d
			}
		}
		return nil
	})
	if err != nil {
		return nil, failed(err)
	}
	if found == nil {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no deployment " + id})
	}
	return map[string]dbus.Variant{"options": dbus.MakeVariant(found.Kargs)}, nil
}
