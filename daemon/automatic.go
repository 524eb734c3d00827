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
	var run func(ctx context.Context, p transactions.Progress) (string, error)
	switch mode {
	case "none":
		return false, "", nil
	case "check":
		run = func(ctx context.Context, p transactions.Progress) (string, error) {
			if err := o.d.engine.CheckUpdate(ctx, o.name, p); err != nil {
				return "", err
			}
			return o.d.cachedUpdateOutcome(ctx, o.name), nil
		}
	case "stage":
		run = func(ctx context.Context, p transactions.Progress) (string, error) {
			res, err := o.d.engine.Upgrade(ctx, o.name, transactions.UpgradeOptions{}, p)
			if err != nil || !res.Changed {
				return "no update available", err
			}
			return "deployed " + o.d.describeCommit(ctx, res.Checksum), nil
		}
	default:
		return false, "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{fmt.Sprintf("mode %q: want auto, none, check or stage", mode)})
	}
	addr, derr := o.d.begin(request{
		caller: c, method: "AutomaticUpdateTrigger", title: "automatic update (" + mode + ")", run: o.d.recordAutomatic(mode, run),
	})
	if derr != nil {
		return false, "", derr
	}
	return true, addr, nil
}
