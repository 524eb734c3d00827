package transactions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/layering"
	"github.com/strata-os/strata/rpmdb"
)

// Where strata keeps its state and caches, relative to the sysroot.
const (
	// CacheDir holds rpm-md metadata (repomd/) and downloaded packages (rpms/).
	CacheDir = "var/cache/strata"
	// LocalPackagesDir keeps local RPMs a deployment requested, by sha256, so
	// the layer can be re-resolved on every upgrade.
	LocalPackagesDir = "var/lib/strata/local"
)

// PackageChanges are the layering modifications of one request (rpm-ostree's
// UpdateDeployment modifiers and options).
type PackageChanges struct {
	Install              []string // names, provides or file paths
	InstallLocal         []string // paths of local RPM files
	Uninstall            []string
	UninstallAll         bool
	OverrideRemove       []string
	OverrideReplaceLocal []string // paths of local RPMs replacing base packages
	OverrideReset        []string
	OverrideResetAll     bool
	DryRun               bool
	Idempotent           bool
	AllowInactive        bool // requests the base already satisfies are recorded, not refused
	CacheOnly            bool
	DownloadOnly         bool // fetch what the change needs, deploy nothing
	LockFinalization     bool // see UpgradeOptions
	// OverrideReplace replaces base packages with a repo's versions, in
	// the origin's form "repo=ID,PKG[,PKG...]".
	OverrideReplace []string
	// InitramfsReset stops regenerating the initramfs and tracking /etc
	// files into it (rpm-ostree's reset --initramfs, option no-initramfs).
	InitramfsReset bool
}

// ChangePackages layers, unlayers or overrides packages on osname's current
// base and deploys the result.
func (e *Engine) ChangePackages(ctx context.Context, osname string, ch PackageChanges, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		unchanged := string(o.Bytes()) // the origin as it is, to tell a no-op
		if err := checkRemovable(ctx, s, merge, o, ch.OverrideRemove); err != nil {
			return err
		}
		newNames, err := applyChanges(s, o, ch)
		if err != nil {
			return err
		}
		if string(o.Bytes()) == unchanged && !ch.DryRun {
			p.Message("No change.")
			return nil
		}
		base := readBase(s.Repo(), merge).checksum
		commit, err := e.compose(ctx, s, composeRequest{merge: merge, base: base, origin: o, newNames: newNames, changes: ch}, p)
		if err != nil || ch.DryRun || ch.DownloadOnly {
			return err
		}
		res, err = writeDeployment(ctx, s, newDeployment{osname: osname, commit: commit, base: base, merge: merge, origin: o, lockFinalization: ch.LockFinalization}, p)
		return err
	})
	return res, err
}

// checkRemovable refuses a new override removal of a package the base
// does not have (a layered package is not the base's), in rpm-ostree's
// words. Removals already in the origin are not checked: they stay
// requested (inactive) on a base without the package.
func checkRemovable(ctx context.Context, s Sysroot, merge *ostree.Deployment, o *origin.Origin, names []string) error {
	var fresh []string
	for _, name := range names {
		if !slices.Contains(o.OverrideRemove(), name) {
			fresh = append(fresh, name)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	pkgs, err := basePackages(ctx, s, merge)
	if err != nil {
		return err
	}
	for _, name := range fresh {
		if !slices.ContainsFunc(pkgs, func(p rpmdb.Package) bool { return p.Name == name }) {
			return fmt.Errorf("Package %q not found in the base; `strata db list` shows the deployment's packages", name)
		}
	}
	return nil
}

// basePackages lists the packages of d's base commit from its rpmdb,
// checked out alone into a scratch directory.
func basePackages(ctx context.Context, s Sysroot, d *ostree.Deployment) ([]rpmdb.Package, error) {
	base := readBase(s.Repo(), d).checksum
	tmp, err := os.MkdirTemp("", "strata-basedb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "usr/share"), 0o755); err != nil {
		return nil, err
	}
	if err := s.Repo().CheckoutSubpath(ctx, base, "/"+rpmdb.Dir, filepath.Join(tmp, rpmdb.Dir)); err != nil {
		return nil, fmt.Errorf("reading the rpmdb of base commit %s: %w", base, err)
	}
	pkgs, err := rpmdb.List(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("listing the packages of base commit %s: %w", base, err)
	}
	return pkgs, nil
}

// applyChanges edits the origin's requests and returns the names requested
// just now.
func applyChanges(s Sysroot, o *origin.Origin, ch PackageChanges) ([]string, error) {
	requested, local := o.RequestedPackages(), o.RequestedLocalPackages()
	if ch.UninstallAll {
		// Everything layered goes first, then what is installed in the
		// same request is layered anew (uninstall --all --install P,
		// reset --install P).
		requested, local = nil, nil
	}
	var added []string
	for _, name := range ch.Install {
		if slices.Contains(requested, name) {
			if ch.Idempotent {
				continue
			}
			return nil, fmt.Errorf("package %q is already requested; pass --idempotent to ignore", name)
		}
		requested = append(requested, name)
		added = append(added, name)
	}
	for _, path := range ch.InstallLocal {
		id, err := keepLocalPackage(s, path)
		if err != nil {
			return nil, err
		}
		if slices.Contains(local, id) {
			if ch.Idempotent {
				continue
			}
			return nil, fmt.Errorf("local package %s is already requested", id)
		}
		local = append(local, id)
	}
	for _, name := range ch.Uninstall {
		switch {
		case slices.Contains(requested, name):
			requested = slices.DeleteFunc(requested, func(r string) bool { return r == name })
		case slices.ContainsFunc(local, localMatches(name)):
			local = slices.DeleteFunc(local, localMatches(name))
		case ch.Idempotent:
		default:
			return nil, fmt.Errorf("package %q is not currently requested", name)
		}
	}
	o.SetRequestedPackages(requested)
	o.SetRequestedLocalPackages(local)

	removals := o.OverrideRemove()
	for _, name := range ch.OverrideRemove {
		if !slices.Contains(removals, name) {
			removals = append(removals, name)
		}
	}
	replacements := o.OverrideReplaceLocal()
	for _, path := range ch.OverrideReplaceLocal {
		id, err := keepLocalPackage(s, path)
		if err != nil {
			return nil, err
		}
		_, nevra, _ := strings.Cut(id, ":")
		// A newer replacement of the same package supersedes the older one.
		replacements = slices.DeleteFunc(replacements, localMatches(nevraName(nevra)))
		replacements = append(replacements, id)
	}
	remote, err := parseRepoReplacements(o.OverrideReplace())
	if err != nil {
		return nil, err
	}
	for _, entry := range ch.OverrideReplace {
		add, err := parseRepoReplacements([]string{entry})
		if err != nil {
			return nil, err
		}
		for _, r := range add {
			for _, name := range r.Packages {
				// A package comes from one source: the newest request wins.
				remote = dropRemoteReplacement(remote, name)
				replacements = slices.DeleteFunc(replacements, localMatches(name))
				remote = addRemoteReplacement(remote, r.Repo, name)
			}
		}
	}
	if ch.OverrideResetAll {
		removals, replacements, remote = nil, nil, nil
	}
	for _, name := range ch.OverrideReset {
		switch {
		case slices.Contains(removals, name):
			removals = slices.DeleteFunc(removals, func(r string) bool { return r == name })
		case slices.ContainsFunc(replacements, localMatches(name)):
			replacements = slices.DeleteFunc(replacements, localMatches(name))
		case hasRemoteReplacement(remote, name):
			remote = dropRemoteReplacement(remote, name)
		default:
			return nil, fmt.Errorf("no override for package %q", name)
		}
	}
	o.SetOverrideRemove(removals)
	o.SetOverrideReplaceLocal(replacements)
	o.SetOverrideReplace(formatRepoReplacements(remote))
	if ch.InitramfsReset {
		o.SetInitramfs(false, nil)
		o.SetInitramfsEtc(nil)
	}
	return added, nil
}

// hasLayers says whether an origin asks for anything on top of its base.
func hasLayers(o *origin.Origin) bool {
	return len(o.RequestedPackages()) > 0 || len(o.RequestedLocalPackages()) > 0 ||
		len(o.OverrideRemove()) > 0 || len(o.OverrideReplaceLocal()) > 0 || len(o.OverrideReplace()) > 0 ||
		o.RegenerateInitramfs()
}

// composeRequest is what compose needs to know about one layered commit.
type composeRequest struct {
	merge    *ostree.Deployment // its /etc/yum.repos.d names the repos to resolve against
	base     string             // the base commit
	origin   *origin.Origin     // what is layered on base
	newNames []string           // names requested just now (an error if the base has them)
	changes  PackageChanges     // DryRun, CacheOnly, DownloadOnly, Idempotent, AllowInactive
}

// compose returns the commit to deploy for req.origin on req.base: the base
// itself when nothing is layered, else a layered commit composed for it.
func (e *Engine) compose(ctx context.Context, s Sysroot, req composeRequest, p Progress) (string, error) {
	o, ch := req.origin, req.changes
	if !hasLayers(o) {
		return req.base, nil
	}
	repos, err := reposFor(s, req.merge)
	if err != nil {
		return "", err
	}
	localPaths, err := storedLocalPackages(s, o.RequestedLocalPackages())
	if err != nil {
		return "", err
	}
	replacePaths, err := storedLocalPackages(s, o.OverrideReplaceLocal())
	if err != nil {
		return "", err
	}
	localCheck, err := rpmmd.LocalPkgGPGCheck(filepath.Join(s.DeploymentPath(req.merge), "etc/dnf/dnf.conf"))
	if err != nil {
		return "", err
	}
	var initramfs *layering.InitramfsRequest
	if o.RegenerateInitramfs() {
		initramfs = &layering.InitramfsRequest{Args: o.InitramfsArgs()}
	}
	remote, err := parseRepoReplacements(o.OverrideReplace())
	if err != nil {
		return "", err
	}
	if initramfs != nil && len(o.RequestedPackages()) == 0 && len(o.RequestedLocalPackages()) == 0 &&
		len(o.OverrideRemove()) == 0 && len(o.OverrideReplaceLocal()) == 0 && len(remote) == 0 {
		// Only the initramfs changes: nothing to resolve from the repos,
		// so none is fetched (regenerating must not need the network).
		repos = nil
	}
	commit, err := s.Compose(ctx, layering.Request{
		Initramfs:     initramfs,
		ReplaceRepo:   remote,
		Base:          req.base,
		Packages:      o.RequestedPackages(),
		NewPackages:   req.newNames,
		LocalPackages: localPaths,
		RemoveBase:    o.OverrideRemove(),
		ReplaceLocal:  replacePaths,
		Repos:         repos,
		DryRun:        ch.DryRun,
		CacheOnly:     ch.CacheOnly,
		DownloadOnly:  ch.DownloadOnly,
		Idempotent:    ch.Idempotent || ch.AllowInactive,
		LocalGPGCheck: localCheck,
	}, p)
	if err == nil && commit == "" && !ch.DryRun && !ch.DownloadOnly {
		// Nothing is layered after all (every request is inactive).
		return req.base, nil
	}
	return commit, err
}

// reposFor reads the repo definitions a deployment's /etc/yum.repos.d holds,
// falling back to its image's /usr/etc/yum.repos.d.
func reposFor(s Sysroot, d *ostree.Deployment) ([]rpmmd.Repo, error) {
	dir := s.DeploymentPath(d)
	vars := rpmmd.HostVars(filepath.Join(dir, "usr/lib/os-release"), layering.Arch())
	for _, candidate := range []string{"etc/yum.repos.d", "usr/etc/yum.repos.d"} {
		repos, err := rpmmd.LoadRepoDir(filepath.Join(dir, candidate), vars)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return repos, err
	}
	return nil, nil
}

// RefreshMetadata downloads the rpm-md metadata of osname's enabled repos
// (force: even when the cache is fresh).
func (e *Engine) RefreshMetadata(ctx context.Context, osname string, force bool, p Progress) error {
	return e.run(ctx, func(s Sysroot) error {
		merge, _, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		repos, err := reposFor(s, merge)
		if err != nil {
			return err
		}
		if len(repos) == 0 {
			p.Message("No repositories are configured (/etc/yum.repos.d is empty).")
			return nil
		}
		// Refreshing metadata touches only the cache, not the repo.
		c := &layering.Composer{CacheDir: filepath.Join(s.Path(), CacheDir), Log: e.log}
		_, err = c.RefreshMetadata(ctx, repos, force, p)
		return err
	})
}
