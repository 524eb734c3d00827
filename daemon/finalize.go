package daemon

import (
	"context"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

// actionFinalize is rpm-ostree's polkit action for FinalizeDeployment.
const actionFinalize = actionPrefix + "finalize-deployment"

// FinalizeDeployment lets shutdown finalize the staged deployment and
// reboots, as rpm-ostree's does: options "checksum" (the staged base the
// caller expects), "allow-missing-checksum", "allow-unlocked".
func (o *osObject) FinalizeDeployment(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionFinalize)
	if derr != nil {
		return "", derr
	}
	opts := transactions.FinalizeOptions{
		Checksum:             stringOpt(options, "checksum"),
		AllowMissingChecksum: boolOpt(options, "allow-missing-checksum"),
		AllowUnlocked:        boolOpt(options, "allow-unlocked"),
	}
	return o.d.begin(request{
		caller: c, method: "FinalizeDeployment", reboot: true, title: "finalize-deployment" + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.FinalizeDeployment(ctx, o.name, opts, p)
		},
	})
}
