package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

// osObject serves org.projectatomic.rpmostree1.OS for one stateroot.
type osObject struct {
	d     *Daemon
	name  string
	props *properties
}

// ensureOS exports the OS object of a stateroot the first time it is seen.
func (d *Daemon) ensureOS(name string) error {
	d.mu.Lock()
	_, ok := d.osObjects[name]
	d.mu.Unlock()
	if ok {
		return nil
	}
	o := &osObject{d: d, name: name}
	path := d.osPath(name)
	if err := d.conn.Export(o, path, OSIface); err != nil {
		return err
	}
	if err := d.conn.Export(&osExperimental{o: o}, path, OSExperimentalIface); err != nil {
		return err
	}
	props, err := exportProperties(d.conn, path, OSIface, map[string]any{
		"BootedDeployment":       dict{},
		"DefaultDeployment":      dict{},
		"RollbackDeployment":     dict{},
		"CachedUpdate":           dict{},
		"HasCachedUpdateRpmDiff": false,
		"Name":                   name,
	})
	if err != nil {
		return err
	}
	o.props = props
	if err := d.exportIntrospection(path, node(nil, osInterface, osExperimentalInterface)); err != nil {
		return err
	}
	d.mu.Lock()
	d.osObjects[name] = o
	d.mu.Unlock()
	if err := d.exportTree(); err != nil {
		return err
	}
	d.announce(path, o.managed())
	return nil
}

func (o *osObject) update(st osState) {
	if st.booted == nil { // stateroot without deployments
		st = osState{booted: dict{}, def: dict{}, rollback: dict{}, cachedUpdate: dict{}}
	}
	o.props.set(OSIface, "BootedDeployment", st.booted)
	o.props.set(OSIface, "DefaultDeployment", st.def)
	o.props.set(OSIface, "RollbackDeployment", st.rollback)
	o.props.set(OSIface, "CachedUpdate", st.cachedUpdate)
}

// Upgrade deploys the newest commit of the current refspec.
func (o *osObject) Upgrade(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionUpgrade)
	if derr != nil {
		return "", derr
	}
	opts := transactions.UpgradeOptions{
		AllowDowngrade:   boolOpt(options, "allow-downgrade"),
		CacheOnly:        boolOpt(options, "cache-only"),
		DownloadOnly:     boolOpt(options, "download-only"),
		LockFinalization: boolOpt(options, "lock-finalization"),
	}
	return o.d.begin(request{
		caller: c, method: "Upgrade", reboot: boolOpt(options, "reboot"), title: "upgrade" + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.Upgrade(ctx, o.name, opts, p)
			return err
		},
	})
}

// Rebase switches to another refspec, optionally layering more packages.
func (o *osObject) Rebase(sender dbus.Sender, options map[string]dbus.Variant, refspec string, packages []string) (string, *dbus.Error) {
	actions := []string{actionRebase}
	if len(packages) > 0 {
		actions = append(actions, actionInstall)
	}
	c, derr := o.d.gate(sender, actions...)
	if derr != nil {
		return "", derr
	}
	return o.rebase(c, options, refspec, packages)
}

// rebase is Rebase for an authorized caller.
func (o *osObject) rebase(c caller, options map[string]dbus.Variant, refspec string, packages []string) (string, *dbus.Error) {
	opts := transactions.RebaseOptions{Revision: stringOpt(options, "revision"), CacheOnly: boolOpt(options, "cache-only"),
		DisallowDowngrade: disallowsDowngrade(options), SkipPurge: boolOpt(options, "skip-purge"), Packages: packages,
		LockFinalization: boolOpt(options, "lock-finalization"), SkipBranchCheck: boolOpt(options, "skip-branch-check")}
	if v, ok := options["custom-origin"]; ok {
		pair, ok := v.Value().([]any)
		if !ok || len(pair) != 2 {
			return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"Invalid custom-origin: expected (ss) URL and description"})
		}
		opts.CustomOriginURL, _ = pair[0].(string)
		opts.CustomOriginDescription, _ = pair[1].(string)
	}
	return o.d.begin(request{
		caller: c, method: "Rebase", reboot: boolOpt(options, "reboot"),
		title: strings.TrimSpace("rebase "+refspec+" "+strings.Join(packages, " ")) + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.Rebase(ctx, o.name, refspec, opts, p)
			return err
		},
	})
}

// Deploy deploys a revision (checksum, version=…, revision=…) of the current refspec.
func (o *osObject) Deploy(sender dbus.Sender, revision string, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionDeploy)
	if derr != nil {
		return "", derr
	}
	return o.deploy(c, revision, options)
}

// deploy is Deploy for an authorized caller.
func (o *osObject) deploy(c caller, revision string, options map[string]dbus.Variant) (string, *dbus.Error) {
	if strings.TrimSpace(revision) == "" {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"deploy needs a revision: a commit checksum or a version"})
	}
	opts := transactions.DeployOptions{CacheOnly: boolOpt(options, "cache-only"), DisallowDowngrade: disallowsDowngrade(options),
		LockFinalization: boolOpt(options, "lock-finalization"), SkipBranchCheck: boolOpt(options, "skip-branch-check")}
	return o.d.begin(request{
		caller: c, method: "Deploy", reboot: boolOpt(options, "reboot"), title: "deploy " + revision + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			_, err := o.d.engine.Deploy(ctx, o.name, revision, opts, p)
			return err
		},
	})
}

// Rollback makes the previous deployment the default.
func (o *osObject) Rollback(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionRollback)
	if derr != nil {
		return "", derr
	}
	return o.d.begin(request{
		caller: c, method: "Rollback", reboot: boolOpt(options, "reboot"), title: "rollback" + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.Rollback(ctx, o.name, p)
		},
	})
}

// Cleanup removes pending/rollback deployments, unused base commits, caches.
func (o *osObject) Cleanup(sender dbus.Sender, elements []string) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionCleanup)
	if derr != nil {
		return "", derr
	}
	if len(elements) == 0 {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"cleanup needs at least one element (base, pending-deploy, rollback-deploy, repomd)"})
	}
	return o.d.begin(request{
		caller: c, method: "Cleanup", title: "cleanup " + strings.Join(elements, " "),
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.Cleanup(ctx, o.name, elements, p)
		},
	})
}

// DownloadUpdateRpmDiff fetches the metadata of the newest commit so that
// CachedUpdate describes it (`upgrade --check` / `--preview`).
func (o *osObject) DownloadUpdateRpmDiff(sender dbus.Sender) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionUpgrade)
	if derr != nil {
		return "", derr
	}
	return o.d.begin(request{
		caller: c, method: "DownloadUpdateRpmDiff", title: "Checking for updates",
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.CheckUpdate(ctx, o.name, p)
		},
	})
}

// disallowsDowngrade reads allow-downgrade for deploy and rebase, where (as in
// rpm-ostree) downgrades are allowed unless the caller says false.
func disallowsDowngrade(options map[string]dbus.Variant) bool {
	allow, given := options["allow-downgrade"].Value().(bool)
	return given && !allow
}

func boolOpt(options map[string]dbus.Variant, key string) bool {
	b, _ := options[key].Value().(bool)
	return b
}

func stringOpt(options map[string]dbus.Variant, key string) string {
	s, _ := options[key].Value().(string)
	return s
}

// flagsTitle renders true boolean options into the transaction title, so that
// "the same request" (which may join a running transaction) means the same flags.
func flagsTitle(options map[string]dbus.Variant) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(options)) {
		if v, ok := options[k].Value().(bool); ok && v {
			fmt.Fprintf(&b, " --%s", k)
		}
	}
	return b.String()
}
