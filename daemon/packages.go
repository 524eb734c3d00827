package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/rpmdb"
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
	for _, unsupported := range []string{"set-refspec", "set-revision", "override-replace-packages", "override-replace-local-packages", "custom-origin"} {
		if _, ok := modifiers[unsupported]; ok {
			return "", dbus.NewError("org.freedesktop.DBus.Error.NotSupported", []any{fmt.Sprintf("modifier %q is not supported by strata yet", unsupported)})
		}
	}
	ch := transactions.PackageChanges{
		Install:          stringsOpt(modifiers, "install-packages"),
		Uninstall:        stringsOpt(modifiers, "uninstall-packages"),
		UninstallAll:     boolOpt(modifiers, "uninstall-all-packages"),
		OverrideRemove:   stringsOpt(modifiers, "override-remove-packages"),
		OverrideReset:    stringsOpt(modifiers, "override-reset-packages"),
		OverrideResetAll: boolOpt(modifiers, "override-reset-all"),
		DryRun:           boolOpt(options, "dry-run"),
		Idempotent:       boolOpt(options, "idempotent-layering"),
		CacheOnly:        boolOpt(options, "cache-only"),
	}
	actions := []string{}
	if len(ch.Install) > 0 || len(ch.Uninstall) > 0 || ch.UninstallAll {
		actions = append(actions, actionInstall)
	}
	if len(ch.OverrideRemove) > 0 || len(ch.OverrideReset) > 0 || ch.OverrideResetAll {
		actions = append(actions, actionOverride)
	}
	fds := fdsOpt(modifiers, "install-local-packages")
	if len(fds) > 0 {
		actions = append(actions, actionInstallLocal)
		paths, err := o.d.receivePackages(fds)
		if err != nil {
			return "", failed(err)
		}
		ch.InstallLocal = paths
	}
	if len(actions) == 0 {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"nothing to change: no packages given"})
	}
	title := describeChanges(ch) + flagsTitle(options)
	return o.d.begin(request{
		sender: sender, method: "UpdateDeployment", title: title, actions: actions,
		run: func(ctx context.Context, p transactions.Progress) error {
			defer removeAll(ch.InstallLocal)
			_, err := o.d.engine.ChangePackages(ctx, o.name, ch, p)
			return err
		},
	})
}

// RefreshMd downloads the repositories' metadata.
func (o *osObject) RefreshMd(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	force := boolOpt(options, "force")
	return o.d.begin(request{
		sender: sender, method: "RefreshMd", title: "refresh-md" + flagsTitle(options),
		actions: []string{actionRepoRefresh},
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

// rpmDiffEntry is one element of a(sua{sv}): name, change type, details with
// PreviousPackage/NewPackage as (name, evr, arch).
type rpmDiffEntry struct {
	Name    string
	Type    uint32
	Details map[string]dbus.Variant
}

type pkgVariant struct{ Name, EVR, Arch string }

func rpmDiff(changes []rpmdb.Change) []rpmDiffEntry {
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

// receivePackages copies local packages sent as file descriptors into files
// the transaction can read after the call returns (the fds are the caller's).
func (d *Daemon) receivePackages(fds []dbus.UnixFD) ([]string, error) {
	dir, err := os.MkdirTemp(d.cfg.RunDir, "incoming-")
	if err != nil {
		return nil, err
	}
	var paths []string
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), fmt.Sprintf("package-%d", i))
		path := filepath.Join(dir, fmt.Sprintf("package-%d.rpm", i))
		err := copyToFile(f, path)
		f.Close()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("receiving local package %d: %w", i, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
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
		os.RemoveAll(filepath.Dir(paths[0]))
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
	if len(ch.InstallLocal) > 0 {
		parts = append(parts, fmt.Sprintf("install %d local package(s)", len(ch.InstallLocal)))
	}
	add("uninstall", ch.Uninstall)
	if ch.UninstallAll {
		parts = append(parts, "uninstall --all")
	}
	add("override remove", ch.OverrideRemove)
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

func fdsOpt(options map[string]dbus.Variant, key string) []dbus.UnixFD {
	switch v := options[key].Value().(type) {
	case []dbus.UnixFD:
		return v
	case []any:
		var fds []dbus.UnixFD
		for _, x := range v {
			if fd, ok := x.(dbus.UnixFD); ok {
				fds = append(fds, fd)
			}
		}
		return fds
	}
	return nil
}
