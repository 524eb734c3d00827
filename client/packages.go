package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
)

// ErrNoUnixFDs is returned when local packages must be sent but the bus
// connection did not negotiate file-descriptor passing.
var ErrNoUnixFDs = errors.New("the bus connection cannot pass file descriptors")

// Modifiers are the package changes of an UpdateDeployment call. Package
// names (or provides) go by name; local RPMs go by path: the client opens
// each file read-only and passes the open file to the daemon, which never
// has to trust or reach the caller's path.
//
// UninstallAll, OverrideResetAll and InitramfsReset are not modifiers on the
// wire: rpm-ostree carries them as the options "no-layering", "no-overrides"
// and "no-initramfs", and so do we.
type Modifiers struct {
	InstallPackages              []string // modifier install-packages (as)
	UninstallPackages            []string // modifier uninstall-packages (as)
	UninstallAll                 bool     // option no-layering: drop every layered package
	InstallLocalPackages         []string // paths; modifier install-local-packages (ah)
	OverrideRemovePackages       []string // modifier override-remove-packages (as)
	OverrideResetPackages        []string // modifier override-reset-packages (as)
	OverrideResetAll             bool     // option no-overrides: drop every override
	OverrideReplacePackages      []string // names from repos; modifier override-replace-packages (as)
	OverrideReplaceLocalPackages []string // paths; modifier override-replace-local-packages (ah)
	InitramfsReset               bool     // option no-initramfs: stop regenerating the initramfs and tracking /etc files
}

// hasLocal reports whether any file must be passed.
func (m Modifiers) hasLocal() bool {
	return len(m.InstallLocalPackages) > 0 || len(m.OverrideReplaceLocalPackages) > 0
}

// UpdateOptions are the options of UpdateDeployment and PkgChange. Every
// flag is always sent, as rpm-ostree's CLI does.
type UpdateOptions struct {
	Reboot           bool
	DryRun           bool // dry-run: resolve and report, deploy nothing
	Idempotent       bool // idempotent-layering: requests already satisfied are not errors
	AllowInactive    bool // allow-inactive (and allow-inactive-requests): accept requests already in the base
	CacheOnly        bool
	DownloadOnly     bool
	NoPullBase       bool // no-pull-base: keep the current base commit
	LockFinalization bool
	// InitiatingCommandLine is shown by status as the transaction's initiator.
	InitiatingCommandLine string
	Extra                 map[string]dbus.Variant // other keys, sent verbatim (they win over the fields)
}

func (u UpdateOptions) dict(m Modifiers) map[string]dbus.Variant {
	return withExtra(map[string]dbus.Variant{
		"reboot":              dbus.MakeVariant(u.Reboot),
		"dry-run":             dbus.MakeVariant(u.DryRun),
		"idempotent-layering": dbus.MakeVariant(u.Idempotent),
		// rpm-ostree's daemon reads "allow-inactive" although its XML
		// documents "allow-inactive-requests"; sending both keeps either
		// reading working.
		"allow-inactive":          dbus.MakeVariant(u.AllowInactive),
		"allow-inactive-requests": dbus.MakeVariant(u.AllowInactive),
		"cache-only":              dbus.MakeVariant(u.CacheOnly),
		"download-only":           dbus.MakeVariant(u.DownloadOnly),
		"no-pull-base":            dbus.MakeVariant(u.NoPullBase),
		"lock-finalization":       dbus.MakeVariant(u.LockFinalization),
		"no-layering":             dbus.MakeVariant(m.UninstallAll),
		"no-overrides":            dbus.MakeVariant(m.OverrideResetAll),
		"no-initramfs":            dbus.MakeVariant(m.InitramfsReset),
	}, u.InitiatingCommandLine, u.Extra)
}

// modifierDict builds the modifiers dictionary. Empty lists are left out, as
// rpm-ostree's client does, so the daemon sees only what was asked. The
// returned files must be closed by the caller once the call returned (the
// message then holds its own duplicates).
func (m Modifiers) modifierDict() (map[string]dbus.Variant, []*os.File, error) {
	d := map[string]dbus.Variant{}
	for _, e := range []struct {
		key  string
		list []string
	}{
		{"install-packages", m.InstallPackages},
		{"uninstall-packages", m.UninstallPackages},
		{"override-remove-packages", m.OverrideRemovePackages},
		{"override-reset-packages", m.OverrideResetPackages},
		{"override-replace-packages", m.OverrideReplacePackages},
	} {
		if len(e.list) > 0 {
			d[e.key] = dbus.MakeVariant(e.list)
		}
	}
	var files []*os.File
	for _, e := range []struct {
		key   string
		paths []string
	}{
		{"install-local-packages", m.InstallLocalPackages},
		{"override-replace-local-packages", m.OverrideReplaceLocalPackages},
	} {
		if len(e.paths) == 0 {
			continue
		}
		fds := make([]dbus.UnixFD, 0, len(e.paths))
		for _, p := range e.paths {
			f, err := os.Open(p)
			if err != nil {
				closeAll(files)
				return nil, nil, fmt.Errorf("opening local package: %w", err)
			}
			files = append(files, f)
			fds = append(fds, dbus.UnixFD(f.Fd()))
		}
		d[e.key] = dbus.MakeVariant(fds)
	}
	return d, files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// UpdateDeployment starts the general deployment transaction
// (OS.UpdateDeployment) with package modifiers. Local packages are opened
// here and passed as file descriptors ('ah'), as rpm-ostree's client does,
// which needs a bus connection that negotiated fd passing (the system bus
// does).
//
// A daemon that cannot receive file descriptors (stratad: godbus v5.2.4
// cannot decode an fd array) is refused them by the bus, or refuses them
// itself, with org.freedesktop.DBus.Error.NotSupported; nothing was started
// then, and the call is repeated once with the absolute paths instead, as
// install-local-package-paths / override-replace-local-package-paths (as).
func (o *OS) UpdateDeployment(ctx context.Context, m Modifiers, opts UpdateOptions) (*Transaction, error) {
	if m.hasLocal() && !o.conn.SupportsUnixFDs() {
		return nil, fmt.Errorf("sending local packages: %w", ErrNoUnixFDs)
	}
	mods, files, err := m.modifierDict()
	if err != nil {
		return nil, err
	}
	// The fds are duplicated into the message when it is written; keep the
	// files open until the reply so none is closed (or reused) before.
	defer closeAll(files)
	txn, err := o.start(ctx, "UpdateDeployment", mods, opts.dict(m))
	if err == nil || !m.hasLocal() || !isNotSupported(err) {
		return txn, err
	}
	if err := localPathModifiers(mods, m); err != nil {
		return nil, err
	}
	return o.start(ctx, "UpdateDeployment", mods, opts.dict(m))
}

// isNotSupported tells a refusal of fd passing (by the bus or the daemon).
func isNotSupported(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.DBus.Error.NotSupported"
	}
	var dep *dbus.Error
	return errors.As(err, &dep) && dep != nil && dep.Name == "org.freedesktop.DBus.Error.NotSupported"
}

// localPathModifiers replaces the fd modifiers by absolute paths, which the
// daemon reads with the caller's rights.
func localPathModifiers(mods map[string]dbus.Variant, m Modifiers) error {
	for _, e := range []struct {
		fdKey, pathKey string
		paths          []string
	}{
		{"install-local-packages", "install-local-package-paths", m.InstallLocalPackages},
		{"override-replace-local-packages", "override-replace-local-package-paths", m.OverrideReplaceLocalPackages},
	} {
		delete(mods, e.fdKey)
		if len(e.paths) == 0 {
			continue
		}
		abs := make([]string, len(e.paths))
		for i, p := range e.paths {
			a, err := filepath.Abs(p)
			if err != nil {
				return fmt.Errorf("resolving local package %s: %w", p, err)
			}
			abs[i] = a
		}
		mods[e.pathKey] = dbus.MakeVariant(abs)
	}
	return nil
}

// PkgChange starts a layering transaction with the older, name-only method
// (OS.PkgChange), which rpm-ostree's CLI prefers when no local package is
// involved. opts.Idempotent etc. are sent as for UpdateDeployment;
// UninstallAll comes from the uninstallAll argument.
func (o *OS) PkgChange(ctx context.Context, opts UpdateOptions, added, removed []string, uninstallAll bool) (*Transaction, error) {
	if added == nil {
		added = []string{} // 'as' must be sent even when empty
	}
	if removed == nil {
		removed = []string{}
	}
	return o.start(ctx, "PkgChange", opts.dict(Modifiers{UninstallAll: uninstallAll}), added, removed)
}

// ChangeType is the kind of an RPM diff entry, with rpm-ostree's wire values
// (its RpmOstreePackageDiffTypes enum, which starts at 0). The numbers are
// written out here because they are this API's wire contract; a test checks
// them against the daemon's vocabulary (internal/nevra).
type ChangeType uint32

const (
	ChangeAdded      ChangeType = 0
	ChangeRemoved    ChangeType = 1
	ChangeUpgraded   ChangeType = 2
	ChangeDowngraded ChangeType = 3
)

// String is "added", "removed", "upgraded" or "downgraded" (the words are
// the daemon's: internal/nevra is plain Go, so the client may share them).
func (t ChangeType) String() string { return nevra.ChangeType(t).String() }

// PkgRef is the (name, evr, arch) triple of the diff's details.
type PkgRef struct {
	Name, EVR, Arch string
}

// NEVRA is name-evr.arch (the epoch, when not 0, is part of EVR).
func (p PkgRef) NEVRA() string { return p.Name + "-" + p.EVR + "." + p.Arch }

// PkgChange is one entry of an a(sua{sv}) RPM diff. Previous is set for
// removed, upgraded and downgraded packages (details key
// "PreviousPackage"), New for added, upgraded and downgraded ones
// ("NewPackage").
type PkgChange struct {
	Name     string
	Type     ChangeType
	Previous *PkgRef
	New      *PkgRef
}

// GetDeploymentsRpmDiff returns the package changes from deployment id0 to
// deployment id1 (deployment "id" values).
func (o *OS) GetDeploymentsRpmDiff(ctx context.Context, id0, id1 string) ([]PkgChange, error) {
	var raw [][]any
	call := o.obj.CallWithContext(ctx, OSInterface+".GetDeploymentsRpmDiff", 0, id0, id1)
	if call.Err != nil {
		return nil, fmt.Errorf("diffing deployments %s and %s: %w", id0, id1, call.Err)
	}
	if err := call.Store(&raw); err != nil {
		return nil, fmt.Errorf("decoding the diff of %s and %s: %w", id0, id1, err)
	}
	return DecodeRpmDiff(raw)
}

// GetCachedUpdateRpmDiff returns the package changes of the cached update
// for deployment id ("" means the booted, else the default, deployment) and
// the update's details (checksum, version, timestamp, origin…). An empty
// diff means the daemon knows of no update or has no package data for it.
func (o *OS) GetCachedUpdateRpmDiff(ctx context.Context, id string) ([]PkgChange, map[string]dbus.Variant, error) {
	var raw [][]any
	var details map[string]dbus.Variant
	call := o.obj.CallWithContext(ctx, OSInterface+".GetCachedUpdateRpmDiff", 0, id)
	if call.Err != nil {
		return nil, nil, fmt.Errorf("reading the cached update's package diff: %w", call.Err)
	}
	if err := call.Store(&raw, &details); err != nil {
		return nil, nil, fmt.Errorf("decoding the cached update's package diff: %w", err)
	}
	diff, err := DecodeRpmDiff(raw)
	return diff, details, err
}

// DecodeRpmDiff decodes a(sua{sv}) entries as godbus delivers them. Unknown
// detail keys are ignored; an entry of the wrong shape is an error, since a
// silently shortened diff would mislead.
func DecodeRpmDiff(raw [][]any) ([]PkgChange, error) {
	out := make([]PkgChange, 0, len(raw))
	for i, e := range raw {
		if len(e) != 3 {
			return nil, fmt.Errorf("rpm diff entry %d has %d fields, want 3", i, len(e))
		}
		name, ok1 := e[0].(string)
		typ, ok2 := e[1].(uint32)
		details, ok3 := e[2].(map[string]dbus.Variant)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("rpm diff entry %d is not (sua{sv})", i)
		}
		c := PkgChange{Name: name, Type: ChangeType(typ)}
		var err error
		if c.Previous, err = pkgRef(details, "PreviousPackage"); err != nil {
			return nil, fmt.Errorf("rpm diff entry %d (%s): %w", i, name, err)
		}
		if c.New, err = pkgRef(details, "NewPackage"); err != nil {
			return nil, fmt.Errorf("rpm diff entry %d (%s): %w", i, name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func pkgRef(details map[string]dbus.Variant, key string) (*PkgRef, error) {
	v, ok := details[key]
	if !ok {
		return nil, nil
	}
	f, ok := v.Value().([]any)
	if !ok || len(f) != 3 {
		return nil, fmt.Errorf("%s is %s, want (sss)", key, v.Signature())
	}
	var r PkgRef
	var ok1, ok2, ok3 bool
	r.Name, ok1 = f[0].(string)
	r.EVR, ok2 = f[1].(string)
	r.Arch, ok3 = f[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("%s is %s, want (sss)", key, v.Signature())
	}
	return &r, nil
}

// SortRpmDiff orders changes as rpm-ostree's daemon sends them: by type
// (added, removed, upgraded, downgraded), then by name.
func SortRpmDiff(d []PkgChange) {
	sort.SliceStable(d, func(i, j int) bool {
		if d[i].Type != d[j].Type {
			return d[i].Type < d[j].Type
		}
		return d[i].Name < d[j].Name
	})
}
