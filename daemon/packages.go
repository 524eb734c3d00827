package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/transactions"
)

const (
	actionInstall      = actionPrefix + "install-uninstall-packages"
	actionInstallLocal = actionPrefix + "install-local-packages"
	actionOverride     = actionPrefix + "override"
	actionRepoRefresh  = actionPrefix + "repo-refresh"
)

// PkgChange is the older, narrower form of UpdateDeployment.
func (o *osObject) PkgChange(sender dbus.Sender, options map[string]dbus.Variant, added, removed []string) (string, *dbus.Error) {
	modifiers := map[string]dbus.Variant{}
	if len(added) > 0 {
		modifiers["install-packages"] = dbus.MakeVariant(added)
	}
	if len(removed) > 0 {
		modifiers["uninstall-packages"] = dbus.MakeVariant(removed)
	}
	return o.UpdateDeployment(sender, modifiers, options)
}

// UpdateDeployment changes what is layered on the base: install/uninstall,
// local packages (as file descriptors) and base package overrides.
func (o *osObject) UpdateDeployment(sender dbus.Sender, modifiers, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, updateActions(modifiers, options)...)
	if derr != nil {
		return "", derr
	}
	if addr, handled, err := o.updateBase(c, modifiers, options); handled {
		return addr, err
	}
	if _, ok := modifiers["custom-origin"]; ok {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"custom-origin only applies to a rebase: pass it with set-refspec"})
	}
	remote := stringsOpt(modifiers, "override-replace-packages")
	for _, entry := range remote {
		// rpm-ostree's origin form: the source first, then its packages.
		if !strings.HasPrefix(entry, "repo=") || !strings.Contains(entry, ",") {
			return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{fmt.Sprintf("override-replace-packages entry %q must name its source: \"repo=ID,PKG[,PKG...]\" (override replace --experimental --from repo=ID PKG)", entry)})
		}
	}
	ch := transactions.PackageChanges{
		Install:          stringsOpt(modifiers, "install-packages"),
		Uninstall:        stringsOpt(modifiers, "uninstall-packages"),
		UninstallAll:     boolOpt(options, "no-layering"),
		OverrideRemove:   stringsOpt(modifiers, "override-remove-packages"),
		OverrideReplace:  remote,
		OverrideReset:    stringsOpt(modifiers, "override-reset-packages"),
		OverrideResetAll: boolOpt(options, "no-overrides"),
		DryRun:           boolOpt(options, "dry-run"),
		Idempotent:       boolOpt(options, "idempotent-layering"),
		AllowInactive:    boolOpt(options, "allow-inactive") || boolOpt(options, "allow-inactive-requests"),
		CacheOnly:        boolOpt(options, "cache-only"),
		DownloadOnly:     boolOpt(options, "download-only"),
		LockFinalization: boolOpt(options, "lock-finalization"),
		InitramfsReset:   boolOpt(options, "no-initramfs"),
	}
	changes := len(ch.Install) > 0 || len(ch.Uninstall) > 0 || ch.UninstallAll ||
		len(ch.OverrideRemove) > 0 || len(ch.OverrideReset) > 0 || ch.OverrideResetAll || len(ch.OverrideReplace) > 0 ||
		ch.InitramfsReset
	for _, fds := range []string{"install-local-packages", "override-replace-local-packages"} {
		if _, ok := modifiers[fds]; ok {
			return "", dbus.NewError("org.freedesktop.DBus.Error.NotSupported", []any{"local packages passed as file descriptors are not supported; strata's CLI sends " + strings.TrimSuffix(fds, "s") + "-paths"})
		}
	}
	localPaths := stringsOpt(modifiers, "install-local-package-paths")
	replacePaths := stringsOpt(modifiers, "override-replace-local-package-paths")
	if !changes && len(localPaths) == 0 && len(replacePaths) == 0 {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"nothing to change: no packages given"})
	}
	if err := o.d.checkLayeringAllowed(); err != nil {
		return "", err
	}
	uid := c.uid
	title := describeChanges(ch)
	if len(localPaths) > 0 {
		title = strings.TrimPrefix(title+fmt.Sprintf("; install %d local package(s)", len(localPaths)), "; ")
	}
	if len(replacePaths) > 0 {
		title = strings.TrimPrefix(title+fmt.Sprintf("; override replace %d local package(s)", len(replacePaths)), "; ")
	}
	title += flagsTitle(options)
	return o.d.begin(request{
		caller: c, method: "UpdateDeployment", reboot: boolOpt(options, "reboot"), title: title,
		run: func(ctx context.Context, p transactions.Progress) error {
			// Local files are read only now: the caller is authorized by
			// the time a transaction runs.
			for _, local := range []struct {
				paths []string
				into  *[]string
			}{{localPaths, &ch.InstallLocal}, {replacePaths, &ch.OverrideReplaceLocal}} {
				if len(local.paths) == 0 {
					continue
				}
				received, err := o.d.receivePackages(uid, local.paths)
				if err != nil {
					return err
				}
				defer removeAll(received)
				*local.into = received
			}
			_, err := o.d.engine.ChangePackages(ctx, o.name, ch, p)
			return err
		},
	})
}

// updateBase serves the UpdateDeployment forms that change the base:
// set-refspec (a rebase, optionally layering install-packages) and
// set-revision (a deploy). Combined with other modifiers they are refused,
// not half-done.
func (o *osObject) updateBase(c caller, modifiers, options map[string]dbus.Variant) (string, bool, *dbus.Error) {
	refspec, hasRefspec := modifiers["set-refspec"].Value().(string)
	revision, hasRevision := modifiers["set-revision"].Value().(string)
	if !hasRefspec && !hasRevision {
		return "", false, nil
	}
	allowed := map[string]bool{"set-refspec": true, "set-revision": true, "install-packages": hasRefspec, "custom-origin": hasRefspec}
	for key := range modifiers {
		if !allowed[key] {
			return "", true, dbus.NewError("org.freedesktop.DBus.Error.NotSupported", []any{fmt.Sprintf("modifier %q together with set-refspec/set-revision is not supported by strata yet", key)})
		}
	}
	switch {
	case hasRefspec:
		if hasRevision {
			options = withOption(options, "revision", revision)
		}
		// rpm-ostree takes custom-origin as a modifier here and as an
		// option of Rebase; both mean the same.
		if v, ok := modifiers["custom-origin"]; ok {
			options = withOption(options, "custom-origin", v.Value())
		}
		addr, err := o.rebase(c, options, refspec, stringsOpt(modifiers, "install-packages"))
		return addr, true, err
	default:
		addr, err := o.deploy(c, revision, options)
		return addr, true, err
	}
}

// updateActions are the polkit actions an UpdateDeployment call needs, read
// from its modifiers and options before anything is validated (see gate).
// A call that names no change at all still needs the broadest one,
// install-uninstall-packages, so that only an authorized caller learns that
// there is nothing to change.
func updateActions(modifiers, options map[string]dbus.Variant) []string {
	var actions []string
	need := func(a string) {
		if !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	has := func(key string) bool { _, ok := modifiers[key]; return ok }
	if has("set-refspec") || has("custom-origin") {
		need(actionRebase)
	}
	if has("set-revision") {
		need(actionDeploy)
	}
	if has("install-packages") || has("uninstall-packages") || boolOpt(options, "no-layering") {
		need(actionInstall)
	}
	if has("install-local-packages") || has("install-local-package-paths") {
		need(actionInstallLocal)
	}
	for _, key := range []string{"override-remove-packages", "override-reset-packages", "override-replace-packages"} {
		if has(key) {
			need(actionOverride)
		}
	}
	if boolOpt(options, "no-overrides") {
		need(actionOverride)
	}
	if has("override-replace-local-packages") || has("override-replace-local-package-paths") {
		need(actionOverride)
		need(actionInstallLocal)
	}
	if len(actions) == 0 {
		need(actionInstall)
	}
	return actions
}

func withOption(options map[string]dbus.Variant, key string, value any) map[string]dbus.Variant {
	out := map[string]dbus.Variant{key: dbus.MakeVariant(value)}
	for k, v := range options {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// RefreshMd downloads the repositories' metadata.
func (o *osObject) RefreshMd(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	c, derr := o.d.gate(sender, actionRepoRefresh)
	if derr != nil {
		return "", derr
	}
	force := boolOpt(options, "force")
	return o.d.begin(request{
		caller: c, method: "RefreshMd", title: "refresh-md" + flagsTitle(options),
		run: func(ctx context.Context, p transactions.Progress) error {
			return o.d.engine.RefreshMetadata(ctx, o.name, force, p)
		},
	})
}

// GetDeploymentsRpmDiff compares the packages of two deployments.
func (o *osObject) GetDeploymentsRpmDiff(id0, id1 string) ([]rpmDiffEntry, *dbus.Error) {
	changes, err := o.d.engine.PackageDiff(context.Background(), id0, id1)
	if err != nil {
		return nil, failed(err)
	}
	return rpmDiff(changes), nil
}

// ListDeploymentPackages lists the packages installed in a deployment, as
// (nevra, name, epoch, version, release, arch) tuples in the rpmdb's order.
//
// Not an rpm-ostree method: its API has no query for a deployment's packages
// (GetPackages looks names up in the rpm-md repos), and its CLI reads the
// rpmdb from the repo itself. strata's CLI reads nothing itself, so that it
// works for users who cannot read the sysroot; this read-only method on the
// OS interface serves it. The tuple is rpm-ostree's package shape (as in the
// deployments' base-removals), so clients decode it like those.
func (o *osObject) ListDeploymentPackages(id string) ([]packageTuple, *dbus.Error) {
	pkgs, err := o.d.engine.DeploymentPackages(context.Background(), id)
	if err != nil {
		return nil, failed(err)
	}
	return packageTuples(pkgs), nil
}

// packageTuple is the (sstsss) wire form of a package.
type packageTuple struct {
	NEVRA, Name string
	Epoch       uint64
	Version     string
	Release     string
	Arch        string
}

func packageTuples(pkgs []nevra.Package) []packageTuple {
	out := make([]packageTuple, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, packageTuple{p.NEVRA(), p.Name, uint64(p.Epoch), p.Version, p.Release, p.Arch})
	}
	return out
}

// GetCachedUpdateRpmDiff compares the packages of the current base with the
// cached update's (upgrade --preview). The deployment id is accepted for
// compatibility; the comparison is always from the deployment an upgrade
// would start from.
func (o *osObject) GetCachedUpdateRpmDiff(id string) ([]rpmDiffEntry, map[string]dbus.Variant, *dbus.Error) {
	changes, update, err := o.d.engine.UpdateDiff(context.Background(), o.name)
	if err != nil {
		return nil, nil, failed(err)
	}
	details := map[string]dbus.Variant{}
	if update != nil {
		details = updateDict(update)
	}
	return rpmDiff(changes), details, nil
}

// rpmDiffEntry is one element of a(sua{sv}): name, change type, details with
// PreviousPackage/NewPackage as (name, evr, arch).
type rpmDiffEntry struct {
	Name    string
	Type    uint32
	Details map[string]dbus.Variant
}

type pkgVariant struct{ Name, EVR, Arch string }

func rpmDiff(changes []nevra.Change) []rpmDiffEntry {
	out := []rpmDiffEntry{}
	for _, c := range changes {
		e := rpmDiffEntry{Name: c.Name, Type: uint32(c.Type), Details: map[string]dbus.Variant{}}
		if c.Old != nil {
			e.Details["PreviousPackage"] = dbus.MakeVariant(pkgVariant{c.Old.Name, c.Old.EVR(), c.Old.Arch})
		}
		if c.New != nil {
			e.Details["NewPackage"] = dbus.MakeVariant(pkgVariant{c.New.Name, c.New.EVR(), c.New.Arch})
		}
		out = append(out, e)
	}
	return out
}

// receivePackages copies local packages named by absolute paths into files
// the transaction owns. The daemon runs as root, so it reads a file only when
// the caller could have read it: root callers may name any file, others only
// regular files they own (readable by them) or that everyone may read.
// Paths replace rpm-ostree's file descriptors, which this daemon's bus
// connection does not accept (see connectSystemBus).
func (d *Daemon) receivePackages(uid uint32, paths []string) ([]string, error) {
	dir, err := os.MkdirTemp(d.cfg.RunDir, "incoming-")
	if err != nil {
		return nil, err
	}
	var out []string
	for i, path := range paths {
		// Keep the file's name: errors about it should name what the user gave.
		dest := filepath.Join(dir, fmt.Sprintf("%d", i), filepath.Base(path))
		if err := os.Mkdir(filepath.Dir(dest), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		if err := copyReadable(uid, path, dest); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("local package %s: %w", path, err)
		}
		out = append(out, dest)
	}
	return out, nil
}

func copyReadable(uid uint32, path, dest string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("not an absolute path")
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.Mode().IsRegular() || !ok {
		return fmt.Errorf("not a regular file")
	}
	readable := uid == 0 || (st.Uid == uid && info.Mode().Perm()&0o400 != 0) || info.Mode().Perm()&0o004 != 0
	if !readable {
		return fmt.Errorf("not readable by uid %d", uid)
	}
	return copyToFile(f, dest)
}

func copyToFile(r io.Reader, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func removeAll(paths []string) {
	if len(paths) > 0 {
		os.RemoveAll(filepath.Dir(filepath.Dir(paths[0])))
	}
}

func describeChanges(ch transactions.PackageChanges) string {
	var parts []string
	add := func(verb string, names []string) {
		if len(names) > 0 {
			parts = append(parts, verb+" "+strings.Join(names, " "))
		}
	}
	add("install", ch.Install)
	add("uninstall", ch.Uninstall)
	if ch.UninstallAll {
		parts = append(parts, "uninstall --all")
	}
	add("override remove", ch.OverrideRemove)
	add("override replace --from", ch.OverrideReplace)
	add("override reset", ch.OverrideReset)
	if ch.OverrideResetAll {
		parts = append(parts, "override reset --all")
	}
	return strings.Join(parts, "; ")
}

func stringsOpt(options map[string]dbus.Variant, key string) []string {
	s, _ := options[key].Value().([]string)
	return s
}
