package daemon

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

// InitramfsEtc tracks or untracks /etc files in an overlay initramfs and
// deploys the current commit again with them.
func (o *osObject) InitramfsEtc(sender dbus.Sender, track, untrack []string, untrackAll, forceSync bool, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionBootconfig)
	if derr != nil {
		return "", derr
	}
	ch := transactions.InitramfsEtcChange{
		Track: track, Untrack: untrack, UntrackAll: untrackAll, ForceSync: forceSync,
		LockFinalization: boolOpt(options, "lock-finalization"),
	}
	var parts []string
	for _, f := range track {
		parts = append(parts, "--track="+f)
	}
	for _, f := range untrack {
		parts = append(parts, "--untrack="+f)
	}
	if untrackAll {
		parts = append(parts, "--untrack-all")
	}
	if forceSync {
		parts = append(parts, "--force-sync")
	}
	return o.d.begin(request{
		caller: c, method: "InitramfsEtc", reboot: boolOpt(options, "reboot"),
		title: strings.TrimSpace("initramfs-etc "+strings.Join(parts, " ")) + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.InitramfsEtc(ctx, o.name, ch, p)
			return err
		},
	})
}

// SetInitramfsState turns regenerating the initramfs with the tree's own
// dracut on (with extra dracut arguments) or off, and deploys again.
func (o *osObject) SetInitramfsState(sender dbus.Sender, regenerate bool, args []string, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionBootconfig)
	if derr != nil {
		return "", derr
	}
	title := "initramfs --disable"
	if regenerate {
		title = strings.TrimSpace("initramfs --enable " + strings.Join(args, " "))
	}
	lock := boolOpt(options, "lock-finalization")
	return o.d.begin(request{
		caller: c, method: "SetInitramfsState", reboot: boolOpt(options, "reboot"),
		title: title + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.InitramfsState(ctx, o.name, regenerate, args, lock, p)
			return err
		},
	})
}
