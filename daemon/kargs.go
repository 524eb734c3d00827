package daemon

import (
	"context"
	"fmt"
	"strconv"
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
// holds its kernel arguments. id is a deployment id or, as rpm-ostree's
// `kargs --deploy-index` sends it, an index into the sysroot's deployments.
// An empty id means, with pending, osname's default (pending) deployment, and
// without it the booted one, or on a host not booted from the sysroot the
// default one.
func (o *osObject) GetDeploymentBootConfig(id string, pending bool) (map[string]dbus.Variant, *dbus.Error) {
	st, err := o.d.engine.State(context.Background(), true)
	if err != nil {
		return nil, failed(err)
	}
	found, err := bootConfigDeployment(st, o.name, id, pending)
	if err != nil {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{err.Error()})
	}
	return map[string]dbus.Variant{"options": dbus.MakeVariant(found.Kargs)}, nil
}

// bootConfigDeployment picks the deployment GetDeploymentBootConfig describes.
func bootConfigDeployment(st *transactions.State, osname, id string, pending bool) (*transactions.Deployment, error) {
	if id == "" {
		var first, booted *transactions.Deployment
		for i := range st.Deployments {
			d := &st.Deployments[i]
			if d.OSName != osname {
				continue
			}
			if first == nil {
				first = d
			}
			if d.Booted {
				booted = d
			}
		}
		// The pending deployment, when there is one, is the stateroot's
		// first; otherwise the first is the booted one anyway.
		if booted != nil && !pending {
			return booted, nil
		}
		if first == nil {
			return nil, fmt.Errorf("No deployments found for os %s", osname)
		}
		return first, nil
	}
	for i := range st.Deployments {
		if st.Deployments[i].ID == id {
			return &st.Deployments[i], nil
		}
	}
	// Not an id: rpm-ostree's CLI sends --deploy-index's number as is.
	idx, err := strconv.Atoi(id)
	if err != nil {
		return nil, fmt.Errorf("no deployment %s", id)
	}
	if idx < 0 || idx >= len(st.Deployments) {
		return nil, fmt.Errorf("Out of range deployment index %d, expected < %d", idx, len(st.Deployments))
	}
	return &st.Deployments[idx], nil
}
