package layering

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/internal/solv"
	"github.com/strata-os/strata/rpmdb"
)

// Where composition keeps its caches, under Composer.CacheDir.
const (
	repomdCacheDir  = "repomd"
	packageCacheDir = "rpms"
)

// MetadataCache is the rpm-md cache a Composer uses.
func (c *Composer) MetadataCache() *rpmmd.Cache {
	return &rpmmd.Cache{Dir: filepath.Join(c.CacheDir, repomdCacheDir)}
}

// RefreshMetadata brings every enabled repo's metadata up to date (force:
// even when it is not stale).
func (c *Composer) RefreshMetadata(ctx context.Context, repos []rpmmd.Repo, force bool, p Progress) (map[string]*rpmmd.Metadata, error) {
	cache := c.MetadataCache()
	defer cache.Close()
	out := map[string]*rpmmd.Metadata{}
	for _, r := range repos {
		if !r.Enabled {
			continue
		}
		p.TaskBegin(fmt.Sprintf("Updating metadata for '%s'", r.ID))
		md, refreshed, err := cache.Load(ctx, r, force, nil)
		if err != nil {
			if r.SkipIfUnavailable {
				p.TaskEnd("skipped")
				p.Message(fmt.Sprintf("warning: repo %s is unavailable and skipped: %v", r.ID, err))
				continue
			}
			return nil, err
		}
		// rpm-ostree's lines (scripts match them): "(cached)" when the
		// metadata was still current.
		generated := md.Timestamp.UTC().Format("2006-01-02T15:04:05Z")
		if refreshed {
			p.TaskEnd("done")
			p.Message(fmt.Sprintf("rpm-md repo '%s'; generated: %s", r.ID, generated))
		} else {
			p.TaskEnd("cached")
			p.Message(fmt.Sprintf("rpm-md repo '%s' (cached); generated: %s", r.ID, generated))
		}
		out[r.ID] = md
	}
	return out, nil
}

// cachedMetadata is the metadata on disk for every enabled repo, fetching
// none. A repo without a cache is an error when required, else skipped.
func (c *Composer) cachedMetadata(repos []rpmmd.Repo, required bool, p Progress) (map[string]*rpmmd.Metadata, error) {
	cache := c.MetadataCache()
	out := map[string]*rpmmd.Metadata{}
	for _, r := range repos {
		if !r.Enabled {
			continue
		}
		md, err := cache.Cached(r)
		if err != nil {
			if required && !r.SkipIfUnavailable {
				return nil, fmt.Errorf("repo %s has no cached metadata; run `strata refresh-md` or leave out --cache-only: %w", r.ID, err)
			}
			p.Message(fmt.Sprintf("Repo %s has no cached metadata; not using it", r.ID))
			continue
		}
		out[r.ID] = md
	}
	return out, nil
}

// resolveStage reads the base commit (once: later stages use its checksum),
// checks out its rpmdb (the installed set; nothing else of the base is
// checked out), solves the request against it and tells the user what the
// composition will do. A dry run ends here.
func (c *Composer) resolveStage(ctx context.Context, cs *composition) error {
	base, err := c.Repo.ReadCommit(cs.req.Base)
	if err != nil {
		return fmt.Errorf("reading base commit %s: %w", cs.req.Base, err)
	}
	cs.base = base
	if err := os.MkdirAll(filepath.Join(cs.root, "usr/share"), 0o755); err != nil {
		return err
	}
	if err := c.Repo.CheckoutSubpath(ctx, base.Checksum, "/"+rpmdb.Dir, filepath.Join(cs.root, rpmdb.Dir)); err != nil {
		return fmt.Errorf("reading the rpmdb of base commit %s: %w", cs.req.Base, err)
	}
	tx, pool, mds, err := c.resolve(ctx, cs.req, cs.root, cs.p)
	if err != nil {
		return err
	}
	cs.pool, cs.tx, cs.mds = pool, tx, mds
	// The base's package list is the pool's installed set: libsolv read
	// the same rpmdb (skipping gpg-pubkey entries, as rpmdb.List does), so
	// a second reader (an rpm process) would only repeat it.
	cs.basePkgs = installedPackages(pool)
	res := cs.res
	res.Added = tx.Install
	for _, name := range cs.req.RemoveBase {
		if pkg, ok := findByName(cs.basePkgs, name); ok {
			res.Removed = append(res.Removed, pkg)
		}
	}
	// A replacement is an upgrade (or downgrade) of a base package: its files
	// and rpmdb entry go, the replacement is layered like any other package.
	cs.toLayer = append([]solv.Package{}, tx.Install...)
	for _, u := range tx.Upgrade {
		if old, ok := findByName(cs.basePkgs, u.Old.Name); ok {
			res.Removed = append(res.Removed, old)
		}
		if u.New.RepoID == "@commandline" {
			res.Replaced = append(res.Replaced, u.New)
		} else {
			res.RemoteReplaced = append(res.RemoteReplaced, u.New)
		}
		cs.toLayer = append(cs.toLayer, u.New)
	}
	describe(tx, res, cs.p)
	cs.finished = cs.req.DryRun
	if len(cs.toLayer) == 0 && len(res.Removed) == 0 && cs.req.Initramfs == nil {
		// Every request is inactive (the base provides it): the tree is
		// the base's, so the base itself is deployed (Commit stays ""),
		// as rpm-ostree does with dormant requests.
		cs.finished = true
	}
	return nil
}

// resolve loads the base's installed set and the repos into a libsolv pool and
// solves the request. The caller closes the returned pool.
func (c *Composer) resolve(ctx context.Context, req Request, root string, p Progress) (*solv.Transaction, *solv.Pool, map[string]*rpmmd.Metadata, error) {
	// Repositories matter only when something is to come from them (or may
	// satisfy a local package's dependencies): removing base packages works
	// offline.
	mds := map[string]*rpmmd.Metadata{}
	var err error
	switch {
	case len(req.Packages) == 0 && len(req.LocalPackages) == 0 && len(req.ReplaceLocal) == 0 && len(req.ReplaceRepo) == 0:
	case req.CacheOnly:
		mds, err = c.cachedMetadata(req.Repos, len(req.Packages) > 0, p)
	default:
		mds, err = c.RefreshMetadata(ctx, req.Repos, false, p)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	pool, err := solv.NewPool(Arch())
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*solv.Transaction, *solv.Pool, map[string]*rpmmd.Metadata, error) {
		pool.Close()
		return nil, nil, nil, err
	}
	if err := pool.LoadInstalled(root); err != nil {
		return fail(fmt.Errorf("loading the base's rpmdb: %w", err))
	}
	for _, r := range req.Repos {
		md, ok := mds[r.ID]
		if !ok {
			continue
		}
		solvCache := filepath.Join(filepath.Dir(md.Primary), "solv.cache")
		if err := pool.AddRepoMDCached(r.ID, md.Primary, md.Filelists, solvCache, r.Priority); err != nil {
			return fail(fmt.Errorf("loading metadata of repo %s: %w", r.ID, err))
		}
	}
	sreq := solv.Request{Install: req.Packages, AllowUninstallDeps: true}
	for _, r := range req.ReplaceRepo {
		if _, ok := mds[r.Repo]; !ok {
			return fail(fmt.Errorf("repo %q named by an override replacement is not an enabled repo; enable it (ModifyYumRepo) or reset the override", r.Repo))
		}
		for _, name := range r.Packages {
			sreq.ReplaceFrom = append(sreq.ReplaceFrom, solv.RepoPackage{Repo: r.Repo, Name: name})
		}
	}
	for _, path := range append(append([]string{}, req.LocalPackages...), req.ReplaceLocal...) {
		pkg, err := pool.AddRPMFile(path)
		if err != nil {
			return fail(fmt.Errorf("reading local package %s: %w", filepath.Base(path), err))
		}
		sreq.InstallLocal = append(sreq.InstallLocal, pkg)
	}
	p.TaskBegin("Resolving dependencies")
	tx, err := pool.Solve(sreq)
	var already *solv.AlreadyInstalledError
	if errors.As(err, &already) {
		// Requests the base now satisfies are inactive, not errors, unless
		// the user asked for them just now without --idempotent.
		var strict []string
		for _, n := range already.Names {
			if slices.Contains(req.NewPackages, n) && !req.Idempotent {
				strict = append(strict, n)
			}
		}
		if len(strict) > 0 {
			// rpm-ostree's sentence, which scripts match, then our hint.
			return fail(fmt.Errorf("%s already provided by the base. Use --allow-inactive to explicitly require it. (Or pass --idempotent to ignore it.)", quoteList(strict)))
		}
		sreq.Install = slices.DeleteFunc(slices.Clone(sreq.Install), func(n string) bool { return slices.Contains(already.Names, n) })
		for _, n := range already.Names {
			p.Message(fmt.Sprintf("Inactive request: %s is already provided by the base", n))
		}
		tx, err = pool.Solve(sreq)
	}
	if err != nil {
		return fail(err)
	}
	p.TaskEnd("done")
	return tx, pool, mds, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return "package " + q[0] + " is"
	}
	return "packages " + strings.Join(q, ", ") + " are"
}

func findByName(pkgs []rpmdb.Package, name string) (rpmdb.Package, bool) {
	for _, p := range pkgs {
		if p.Name == name {
			return p, true
		}
	}
	return rpmdb.Package{}, false
}

// describe tells the user what the composition will do before it does it.
func describe(tx *solv.Transaction, res *Result, p Progress) {
	var lines []string
	for _, pkg := range tx.Install {
		lines = append(lines, "  "+pkg.NEVRA())
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		p.Message(fmt.Sprintf("Packages to layer: %d\n%s", len(lines), strings.Join(lines, "\n")))
	}
	for _, pkg := range res.Removed {
		p.Message("Removing base package: " + pkg.NEVRA())
	}
	for _, pkg := range append(append([]solv.Package{}, res.Replaced...), res.RemoteReplaced...) {
		p.Message("Replacing base package with: " + pkg.NEVRA())
	}
}

// installedPackages is the pool's installed set in rpmdb.List's form and
// order.
func installedPackages(pool *solv.Pool) []rpmdb.Package {
	pkgs := []rpmdb.Package{}
	for _, p := range pool.Installed() {
		pkgs = append(pkgs, p.Package)
	}
	nevra.Sort(pkgs)
	return pkgs
}
