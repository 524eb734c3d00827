package daemon

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

// AutomaticUpdateTrigger runs what the automatic update policy says (or the
// mode the caller names): "check" fetches the newest base far enough for
// CachedUpdate to describe it, "stage" also deploys it (staged on a booted
// host). With the policy none and no explicit mode it does nothing and
// returns enabled=false, as rpm-ostree does; strata-automatic.service
// (`strata upgrade --trigger-automatic-update-policy`) calls it.
func (o *osObject) AutomaticUpdateTrigger(sender dbus.Sender, options map[string]dbus.Variant) (bool, string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionUpgrade)
	if derr != nil {
		return false, "", derr
	}
	mode := "auto"
	if m, ok := options["mode"].Value().(string); ok && m != "" {
		mode = m
	}
	if mode == "auto" {
		o.d.mu.Lock()
		mode = o.d.hostCfg.AutomaticUpdatePolicy
		o.d.mu.Unlock()
	}
	var run func(ctx context.Context, p transactions.Progress) error
	switch mode {
	case "none":
		return false, "", nil
	case "check":
		run = func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.CheckUpdate(ctx, o.name, p)
		}
	case "stage":
		run = func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.Upgrade(ctx, o.name, transactions.UpgradeOptions{}, p)
			return err
		}
	default:
		return false, "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{fmt.Sprintf("mode %q: want auto, none, check or stage", mode)})
	}
	addr, derr := o.d.begin(request{
		caller: c, method: "AutomaticUpdateTrigger", title: "automatic update (" + mode + ")", run: run,
	})
	if derr != nil {
		return false, "", derr
	}
	return true, addr, nil
}
