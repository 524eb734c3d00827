package layering

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/internal/solv"
)

// fetchStage makes every package to layer a local file. A download-only
// request ends here.
func (c *Composer) fetchStage(ctx context.Context, cs *composition) error {
	rpms, err := c.fetch(ctx, cs.toLayer, cs.mds, cs.p)
	if err != nil {
		return err
	}
	// Even a download-only request must not leave unverified packages
	// looking ready to use.
	if err := c.verifySignatures(ctx, cs, rpms); err != nil {
		return err
	}
	cs.rpms = rpms
	cs.finished = cs.req.DownloadOnly
	return nil
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
	defer cache.Close()
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
