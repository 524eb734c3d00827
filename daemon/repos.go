package daemon

import (
	"context"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

const actionRepoModify = actionPrefix + "repo-modify"

// ModifyYumRepo changes a setting (only "enabled", as in rpm-ostree) of a
// repo in the merge deployment's /etc/yum.repos.d. Settings are checked
// before a transaction starts; the repo id once it runs.
func (o *osObject) ModifyYumRepo(sender dbus.Sender, repoID string, settings map[string]string) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionRepoModify)
	if derr != nil {
		return "", derr
	}
	if err := transactions.CheckRepoSettings(settings); err != nil {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{err.Error()})
	}
	return o.d.begin(request{
		caller: c, method: "ModifyYumRepo", title: "Modify repo " + repoID,
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.ModifyRepo(ctx, o.name, repoID, settings, p)
		},
	})
}
