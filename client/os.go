package client

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/godbus/dbus/v5"
)

// OS is one stateroot's OS object.
type OS struct {
	Path dbus.ObjectPath
	obj  dbus.BusObject
	conn *dbus.Conn // to check fd passing before sending local packages
}

// Properties reads every OS property at once (raw; see the typed getters).
func (o *OS) Properties(ctx context.Context) (map[string]dbus.Variant, error) {
	p, err := getAll(ctx, o.obj, OSInterface)
	if err != nil {
		return nil, fmt.Errorf("reading OS %s properties: %w", o.Path, err)
	}
	return p, nil
}

// Name is the stateroot name.
func (o *OS) Name(ctx context.Context) (string, error) {
	var s string
	return s, getProperty(ctx, o.obj, OSInterface, "Name", &s)
}

// BootedDeployment returns the booted deployment, or nil when none.
func (o *OS) BootedDeployment(ctx context.Context) (*Deployment, error) {
	return o.deploymentProp(ctx, "BootedDeployment")
}

// DefaultDeployment returns the deployment that boots next, or nil.
func (o *OS) DefaultDeployment(ctx context.Context) (*Deployment, error) {
	return o.deploymentProp(ctx, "DefaultDeployment")
}

// RollbackDeployment returns the rollback target, or nil.
func (o *OS) RollbackDeployment(ctx context.Context) (*Deployment, error) {
	return o.deploymentProp(ctx, "RollbackDeployment")
}

func (o *OS) deploymentProp(ctx context.Context, name string) (*Deployment, error) {
	var m map[string]dbus.Variant
	if err := getProperty(ctx, o.obj, OSInterface, name, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	d := DecodeDeployment(m)
	return &d, nil
}

// CachedUpdate returns the OS CachedUpdate dictionary (keys such as
// osname, checksum, version, timestamp, origin, ref-has-new-commit,
// gpg-enabled, signatures, rpm-diff, advisories). Empty means no update is
// known.
func (o *OS) CachedUpdate(ctx context.Context) (map[string]dbus.Variant, error) {
	var m map[string]dbus.Variant
	if err := getProperty(ctx, o.obj, OSInterface, "CachedUpdate", &m); err != nil {
		return nil, err
	}
	return m, nil
}

// HasCachedUpdateRpmDiff reports whether CachedUpdate carries an rpm-diff.
func (o *OS) HasCachedUpdateRpmDiff(ctx context.Context) (bool, error) {
	var b bool
	return b, getProperty(ctx, o.obj, OSInterface, "HasCachedUpdateRpmDiff", &b)
}

// UpgradeOptions are the OS.Upgrade options. Every flag is always sent, as
// rpm-ostree's CLI does, so the daemon never has to guess a default.
type UpgradeOptions struct {
	Reboot                bool
	AllowDowngrade        bool
	CacheOnly             bool
	DownloadOnly          bool
	LockFinalization      bool
	InitiatingCommandLine string                  // shown by status as the transaction's initiator
	Extra                 map[string]dbus.Variant // other keys, sent verbatim (they win over the fields)
}

func (u UpgradeOptions) dict() map[string]dbus.Variant {
	return withExtra(map[string]dbus.Variant{
		"reboot":            dbus.MakeVariant(u.Reboot),
		"allow-downgrade":   dbus.MakeVariant(u.AllowDowngrade),
		"cache-only":        dbus.MakeVariant(u.CacheOnly),
		"download-only":     dbus.MakeVariant(u.DownloadOnly),
		"lock-finalization": dbus.MakeVariant(u.LockFinalization),
	}, u.InitiatingCommandLine, u.Extra)
}

// RebaseOptions are the OS.Rebase options. Downgrades are allowed unless
// DisallowDowngrade is set: rpm-ostree's rebase sends allow-downgrade=true by
// default, and the zero value here must mean the same.
type RebaseOptions struct {
	Reboot            bool
	DisallowDowngrade bool
	CacheOnly         bool
	DownloadOnly      bool
	SkipPurge         bool // keep the previous ref
	LockFinalization  bool
	Revision          string // deploy this revision of the new ref (sent as option "revision")
	// CustomOriginURL and CustomOriginDescription (option "custom-origin",
	// (ss)) say where a base named by checksum or image digest came from.
	CustomOriginURL, CustomOriginDescription string
	InitiatingCommandLine                    string
	Extra                                    map[string]dbus.Variant
}

func (r RebaseOptions) dict() map[string]dbus.Variant {
	m := map[string]dbus.Variant{
		"reboot":            dbus.MakeVariant(r.Reboot),
		"allow-downgrade":   dbus.MakeVariant(!r.DisallowDowngrade),
		"cache-only":        dbus.MakeVariant(r.CacheOnly),
		"download-only":     dbus.MakeVariant(r.DownloadOnly),
		"skip-purge":        dbus.MakeVariant(r.SkipPurge),
		"lock-finalization": dbus.MakeVariant(r.LockFinalization),
	}
	if r.Revision != "" {
		m["revision"] = dbus.MakeVariant(r.Revision)
	}
	if r.CustomOriginURL != "" {
		m["custom-origin"] = dbus.MakeVariant(struct{ URL, Description string }{r.CustomOriginURL, r.CustomOriginDescription})
	}
	return withExtra(m, r.InitiatingCommandLine, r.Extra)
}

// DeployOptions are the OS.Deploy options; downgrades are allowed unless
// DisallowDowngrade is set (deploying an older version is the usual reason
// to call Deploy).
type DeployOptions struct {
	Reboot                bool
	DisallowDowngrade     bool
	CacheOnly             bool
	DownloadOnly          bool
	SkipBranchCheck       bool
	LockFinalization      bool
	InitiatingCommandLine string
	Extra                 map[string]dbus.Variant
}

func (d DeployOptions) dict() map[string]dbus.Variant {
	return withExtra(map[string]dbus.Variant{
		"reboot":            dbus.MakeVariant(d.Reboot),
		"allow-downgrade":   dbus.MakeVariant(!d.DisallowDowngrade),
		"cache-only":        dbus.MakeVariant(d.CacheOnly),
		"download-only":     dbus.MakeVariant(d.DownloadOnly),
		"skip-branch-check": dbus.MakeVariant(d.SkipBranchCheck),
		"lock-finalization": dbus.MakeVariant(d.LockFinalization),
	}, d.InitiatingCommandLine, d.Extra)
}

// RollbackOptions are the OS.Rollback options.
type RollbackOptions struct {
	Reboot bool
}

func withExtra(m map[string]dbus.Variant, cmdline string, extra map[string]dbus.Variant) map[string]dbus.Variant {
	if cmdline != "" {
		m["initiating-command-line"] = dbus.MakeVariant(cmdline)
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Upgrade starts an upgrade transaction.
func (o *OS) Upgrade(ctx context.Context, opts UpgradeOptions) (*Transaction, error) {
	return o.start(ctx, "Upgrade", opts.dict())
}

// Rollback starts a rollback transaction.
func (o *OS) Rollback(ctx context.Context, opts RollbackOptions) (*Transaction, error) {
	return o.start(ctx, "Rollback", map[string]dbus.Variant{"reboot": dbus.MakeVariant(opts.Reboot)})
}

// Rebase starts a rebase to refspec, also layering packages (may be nil).
func (o *OS) Rebase(ctx context.Context, refspec string, packages []string, opts RebaseOptions) (*Transaction, error) {
	if packages == nil {
		packages = []string{} // 'as' must be sent even when empty
	}
	return o.start(ctx, "Rebase", opts.dict(), refspec, packages)
}

// Deploy starts a deployment of revision: a checksum, "revision=CHECKSUM" or
// "version=VERSION" (see NormalizeRevision).
func (o *OS) Deploy(ctx context.Context, revision string, opts DeployOptions) (*Transaction, error) {
	return o.start(ctx, "Deploy", revision, opts.dict())
}

// Cleanup elements, as rpm-ostree names them.
const (
	CleanupBase     = "base"
	CleanupPending  = "pending-deploy"
	CleanupRollback = "rollback-deploy"
	CleanupRepomd   = "repomd"
)

// Cleanup starts a cleanup transaction for the given elements.
func (o *OS) Cleanup(ctx context.Context, elements []string) (*Transaction, error) {
	if elements == nil {
		elements = []string{}
	}
	return o.start(ctx, "Cleanup", elements)
}

// FinalizeOptions are the OS.FinalizeDeployment options.
type FinalizeOptions struct {
	// Checksum is the staged base commit (or image digest) the caller
	// expects; required unless AllowMissingChecksum.
	Checksum              string
	AllowMissingChecksum  bool
	AllowUnlocked         bool // also reboot into a staged deployment that was never locked
	InitiatingCommandLine string
}

func (f FinalizeOptions) dict() map[string]dbus.Variant {
	m := map[string]dbus.Variant{
		"allow-missing-checksum": dbus.MakeVariant(f.AllowMissingChecksum),
		"allow-unlocked":         dbus.MakeVariant(f.AllowUnlocked),
	}
	if f.Checksum != "" {
		m["checksum"] = dbus.MakeVariant(f.Checksum)
	}
	return withExtra(m, f.InitiatingCommandLine, nil)
}

// FinalizeDeployment starts a transaction that unlocks the staged
// deployment's finalization and reboots into it.
func (o *OS) FinalizeDeployment(ctx context.Context, opts FinalizeOptions) (*Transaction, error) {
	return o.start(ctx, "FinalizeDeployment", opts.dict())
}

// DownloadUpdateRpmDiff starts a transaction that fetches the update's
// metadata and fills the CachedUpdate property.
func (o *OS) DownloadUpdateRpmDiff(ctx context.Context) (*Transaction, error) {
	return o.start(ctx, "DownloadUpdateRpmDiff")
}

// AutomaticUpdateTrigger applies the automatic update policy (mode "auto")
// or the given mode ("check", "stage"). When the policy is none it starts
// nothing and returns a nil transaction.
func (o *OS) AutomaticUpdateTrigger(ctx context.Context, mode string) (*Transaction, error) {
	var enabled bool
	var addr string
	opts := map[string]dbus.Variant{"mode": dbus.MakeVariant(mode)}
	if err := o.obj.CallWithContext(ctx, OSInterface+".AutomaticUpdateTrigger", 0, opts).Store(&enabled, &addr); err != nil {
		return nil, fmt.Errorf("calling AutomaticUpdateTrigger: %w", err)
	}
	if !enabled {
		return nil, nil
	}
	return NewTransaction(addr), nil
}

// RefreshMd starts a transaction that refreshes rpm-md repository metadata.
func (o *OS) RefreshMd(ctx context.Context, force bool) (*Transaction, error) {
	return o.start(ctx, "RefreshMd", map[string]dbus.Variant{"force": dbus.MakeVariant(force)})
}

// start calls a mutating OS method and wraps the returned address.
func (o *OS) start(ctx context.Context, method string, args ...any) (*Transaction, error) {
	var addr string
	if err := o.obj.CallWithContext(ctx, OSInterface+"."+method, 0, args...).Store(&addr); err != nil {
		return nil, fmt.Errorf("calling %s: %w", method, err)
	}
	return NewTransaction(addr), nil
}

var checksumRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// IsChecksum reports whether s is an ostree SHA-256 checksum.
func IsChecksum(s string) bool { return checksumRe.MatchString(s) }

// NormalizeRevision turns a user's REVISION argument into the explicit form
// the daemon parses: a checksum and anything already prefixed with
// "revision=" or "version=" (any case) pass unchanged; anything else becomes
// "version=VALUE". rpm-ostree's CLI sends the bare argument and lets its
// daemon infer the same thing; being explicit gives the identical result on
// rpm-ostree's daemon and does not depend on stratad's inference.
func NormalizeRevision(rev string) string {
	if IsChecksum(rev) {
		return rev
	}
	if k, _, ok := strings.Cut(rev, "="); ok {
		switch strings.ToLower(k) {
		case "revision", "version":
			return rev
		}
	}
	return "version=" + rev
}

// ListDeploymentPackages lists the packages installed in the deployment with
// the given id ("id" of a deployment), in the daemon's order. This is
// strata's own read-only OS method (rpm-ostree has none for it; its CLI reads
// the rpmdb itself): it lets a client that cannot read the sysroot list
// packages. Entries are rpm-ostree's (nevra, name, epoch, version, release,
// arch) tuples.
func (o *OS) ListDeploymentPackages(ctx context.Context, id string) ([]NEVRA, error) {
	call := o.obj.CallWithContext(ctx, OSInterface+".ListDeploymentPackages", 0, id)
	if call.Err != nil {
		return nil, fmt.Errorf("listing packages of deployment %s: %w", id, call.Err)
	}
	var raw [][]any
	if err := call.Store(&raw); err != nil {
		return nil, fmt.Errorf("decoding packages of deployment %s: %w", id, err)
	}
	return DecodePackageList(raw)
}

// DecodePackageList decodes a(sstsss) package tuples as godbus delivers
// them; an entry of another shape is an error (a silently shortened list
// would mislead).
func DecodePackageList(raw [][]any) ([]NEVRA, error) {
	out := make([]NEVRA, 0, len(raw))
	for i, e := range raw {
		n, ok := decodeNEVRA(e)
		if !ok {
			return nil, fmt.Errorf("package entry %d is not (sstsss)", i)
		}
		out = append(out, n)
	}
	return out, nil
}
