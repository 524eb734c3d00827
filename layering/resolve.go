package layering

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/internal/solv"
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
		if refreshed {
			p.TaskEnd("done")
		} else {
			p.TaskEnd("cached")
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

// resolve loads the base's installed set and the repos into a libsolv pool and
// solves the request. The caller closes the returned pool.
func (c *Composer) resolve(ctx context.Context, req Request, root string, p Progress) (*solv.Transaction, *solv.Pool, map[string]*rpmmd.Metadata, error) {
	// Repositories matter only when something is to come from them (or may
	// satisfy a local package's dependencies): removing base packages works
	// offline.
	mds := map[string]*rpmmd.Metadata{}
	var err error
	switch {
	case len(req.Packages) == 0 && len(req.LocalPackages) == 0 && len(req.ReplaceLocal) == 0:
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
			return fail(fmt.Errorf("%s already provided by the base; pass --allow-inactive to request it anyway, or --idempotent to ignore", quoteList(strict)))
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

// fetched is a package file ready for import and the rpmdb.
type fetched struct {
	pkg  solv.Package
	path string
}

// fetch makes every package to layer available as a local file: local
// packages as given, repo packages from the package cache or downloaded
// (checksums verified).
func (c *Composer) fetch(ctx context.Context, pkgs []solv.Package, mds map[string]*rpmmd.Metadata, p Progress) ([]fetched, error) {
	dir := filepath.Join(c.CacheDir, packageCacheDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cache := c.MetadataCache()
	var out []fetched
	var toDownload []solv.Package
	for _, pkg := range pkgs {
		if pkg.LocalPath != "" {
			out = append(out, fetched{pkg, pkg.LocalPath})
			continue
		}
		path := filepath.Join(dir, pkg.NEVRA()+".rpm")
		if _, err := os.Stat(path); err == nil {
			out = append(out, fetched{pkg, path})
			continue
		}
		toDownload = append(toDownload, pkg)
	}
	if len(toDownload) > 0 {
		p.TaskBegin(fmt.Sprintf("Downloading %d package(s)", len(toDownload)))
		for i, pkg := range toDownload {
			md := mds[pkg.RepoID]
			if md == nil {
				return nil, fmt.Errorf("package %s comes from repo %s, whose metadata is not loaded", pkg.NEVRA(), pkg.RepoID)
			}
			path := filepath.Join(dir, pkg.NEVRA()+".rpm")
			if err := cache.DownloadPackage(ctx, md, pkg.Location, pkg.ChecksumType, pkg.Checksum, path, nil); err != nil {
				return nil, fmt.Errorf("downloading %s: %w", pkg.NEVRA(), err)
			}
			p.Percent(fmt.Sprintf("Downloading %s", pkg.NEVRA()), uint32((i+1)*100/len(toDownload)))
			out = append(out, fetched{pkg, path})
		}
		p.TaskEnd("done")
	}
	return out, nil
}

// importAll turns each package into its own commit, reusing earlier imports.
func (c *Composer) importAll(ctx context.Context, pkgs []fetched, accounts rpmimport.Options, res *Result, p Progress) ([]*rpmimport.Result, error) {
	p.TaskBegin(fmt.Sprintf("Importing %d package(s)", len(pkgs)))
	var layers []*rpmimport.Result
	for _, f := range pkgs {
		opts := accounts
		opts.RepoID = f.pkg.RepoID
		r, err := rpmimport.Import(ctx, c.Repo, f.path, opts)
		if err != nil {
			return nil, err
		}
		if r.Reused {
			res.Reused++
		} else {
			res.Imported++
		}
		layers = append(layers, r)
	}
	p.TaskEnd(fmt.Sprintf("done (%d imported, %d reused)", res.Imported, res.Reused))
	if c.Log != nil {
		c.Log.WithFields(map[string]any{"imported": res.Imported, "reused": res.Reused}).Info("packages imported")
	}
	return layers, nil
}
