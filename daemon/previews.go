package daemon

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/transactions"
)

// The rebase and deploy previews (`rebase --preview`-like clients, Cockpit):
// Download*RpmDiff fetches the target's metadata and rpmdb in a
// transaction, GetCached*RpmDiff then compares it with the current base
// from what the repo holds. They pair as DownloadUpdateRpmDiff and
// GetCachedUpdateRpmDiff do.

// notSupported is the D-Bus error for a member strata serves with the right
// signature but cannot carry out yet; msg says what to do instead.
func notSupported(msg string) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.NotSupported", []any{msg})
}

// refusePreviewPackages refuses packages in a preview: the diff strata shows
// is the base's, and silently leaving out the packages would mislead.
func refusePreviewPackages(packages []string) *dbus.Error {
	if len(packages) == 0 {
		return nil
	}
	return notSupported("previewing packages layered along with the new base is not supported yet; preview the base alone (no packages) and layer them afterwards")
}

// DownloadRebaseRpmDiff fetches what GetCachedRebaseRpmDiff needs for refspec.
func (o *osObject) DownloadRebaseRpmDiff(sender dbus.Sender, refspec string, packages []string) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionRepoRefresh)
	if derr != nil {
		return "", derr
	}
	if err := refusePreviewPackages(packages); err != nil {
		return "", err
	}
	return o.d.begin(request{
		caller: c, method: "DownloadRebaseRpmDiff", title: "Fetching metadata of " + refspec,
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.CheckRebase(ctx, o.name, refspec, p)
		},
	})
}

// GetCachedRebaseRpmDiff compares the current base with the head of refspec
// as the repo has it (empty when it was never fetched).
func (o *osObject) GetCachedRebaseRpmDiff(refspec string, packages []string) ([]rpmDiffEntry, map[string]dbus.Variant, *dbus.Error) {
	if err := refusePreviewPackages(packages); err != nil {
		return nil, nil, err
	}
	changes, update, err := o.d.engine.RebaseDiff(context.Background(), o.name, refspec)
	return previewReply(changes, update, err)
}

// DownloadDeployRpmDiff fetches what GetCachedDeployRpmDiff needs for revision.
func (o *osObject) DownloadDeployRpmDiff(sender dbus.Sender, revision string, packages []string) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionRepoRefresh)
	if derr != nil {
		return "", derr
	}
	if err := refusePreviewPackages(packages); err != nil {
		return "", err
	}
	if strings.TrimSpace(revision) == "" {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"a deploy preview needs a revision: a commit checksum or a version"})
	}
	return o.d.begin(request{
		caller: c, method: "DownloadDeployRpmDiff", title: "Fetching metadata of " + revision,
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.CheckDeploy(ctx, o.name, revision, p)
		},
	})
}

// GetCachedDeployRpmDiff compares the current base with revision as the repo
// has it (empty when it was never fetched).
func (o *osObject) GetCachedDeployRpmDiff(revision string, packages []string) ([]rpmDiffEntry, map[string]dbus.Variant, *dbus.Error) {
	if err := refusePreviewPackages(packages); err != nil {
		return nil, nil, err
	}
	changes, update, err := o.d.engine.DeployDiff(context.Background(), o.name, revision)
	return previewReply(changes, update, err)
}

func previewReply(changes []nevra.Change, update *transactions.Update, err error) ([]rpmDiffEntry, map[string]dbus.Variant, *dbus.Error) {
	if err != nil {
		return nil, nil, failed(err)
	}
	details := map[string]dbus.Variant{}
	if update != nil {
		details = updateDict(update)
		delete(details, "ref-has-new-commit") // an update's notion, not a preview's
	}
	return rpmDiff(changes), details, nil
}

// ClearRollbackTarget is the older form of Cleanup(["rollback-deploy"]).
// Like rpm-ostree it needs the rollback action and ignores "reboot".
func (o *osObject) ClearRollbackTarget(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionRollback)
	if derr != nil {
		return "", derr
	}
	return o.d.begin(request{
		caller: c, method: "ClearRollbackTarget", title: "clear rollback target",
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.Cleanup(ctx, o.name, []string{"rollback-deploy"}, p)
		},
	})
}
