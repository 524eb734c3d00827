package layering

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/rpmdb"
)

// verifySignatures checks the OpenPGP signatures of the fetched packages
// before anything is imported: packages of a repo with gpgcheck=1 against
// that repo's gpgkey= keys, local packages (when req.LocalGPGCheck asks, as
// dnf's localpkg_gpgcheck does) against the keys of every enabled repo.
// libsolv checks nothing of this; rpmkeys does the verification. A package
// that fails is refused, naming it, the repo and the keys trusted, and a
// downloaded copy of it is dropped from the package cache.
func (c *Composer) verifySignatures(ctx context.Context, cs *composition, pkgs []fetched) error {
	v := &verifier{c: c, work: filepath.Join(cs.work, "keyrings"), repos: map[string]rpmmd.Repo{}, rings: map[string]*rpmdb.Keyring{}}
	for _, r := range cs.req.Repos {
		v.repos[r.ID] = r
	}
	for _, f := range pkgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		local := f.pkg.LocalPath != ""
		var ringID, what string
		var keys []string
		switch {
		case local && cs.req.LocalGPGCheck:
			ringID, what = "@local", "local package"
			for _, r := range cs.req.Repos {
				keys = append(keys, r.GPGKeys...)
			}
			if len(keys) == 0 {
				return fmt.Errorf("refusing local package %s: localpkg_gpgcheck is on in dnf.conf but no repository names a gpgkey= to check it with; add the signing key to a .repo file or turn localpkg_gpgcheck off", f.pkg.NEVRA())
			}
		case local:
			continue
		default:
			r, ok := v.repos[f.pkg.RepoID]
			if !ok || !r.GPGCheck {
				continue
			}
			ringID, what, keys = r.ID, fmt.Sprintf("package %s from repo %s", f.pkg.NEVRA(), r.ID), r.GPGKeys
			if len(keys) == 0 {
				return fmt.Errorf("refusing %s: the repo has gpgcheck=1 but no gpgkey=; add the repo's signing key as gpgkey= in %s", what, r.File)
			}
		}
		if local {
			what = fmt.Sprintf("local package %s", f.pkg.NEVRA())
		}
		ring, err := v.keyring(ctx, ringID, keys)
		if err != nil {
			return fmt.Errorf("verifying %s: %w", what, err)
		}
		if err := ring.Check(ctx, f.path); err != nil {
			var se *rpmdb.SignatureError
			if !errors.As(err, &se) {
				return fmt.Errorf("verifying %s: %w", what, err)
			}
			if !local {
				// A bad download must not be served from the cache next time.
				os.Remove(f.path)
			}
			return fmt.Errorf("refusing %s: %s; trusted keys: %s", what, se.Reason, describeKeys(ring.Keys()))
		}
	}
	return nil
}

// verifier builds each keyring once per composition.
type verifier struct {
	c     *Composer
	work  string
	repos map[string]rpmmd.Repo
	rings map[string]*rpmdb.Keyring
}

func (v *verifier) keyring(ctx context.Context, id string, urls []string) (*rpmdb.Keyring, error) {
	if k, ok := v.rings[id]; ok {
		return k, nil
	}
	dir := filepath.Join(v.work, id)
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
		return nil, err
	}
	cache := v.c.MetadataCache()
	var files []rpmdb.KeyFile
	for i, u := range urls {
		path := filepath.Join(dir, fmt.Sprintf("key-%d.asc", i))
		if err := cache.FetchGPGKey(ctx, u, path); err != nil {
			return nil, err
		}
		files = append(files, rpmdb.KeyFile{Source: u, Path: path})
	}
	k, err := rpmdb.NewKeyring(ctx, filepath.Join(dir, "db"), files)
	if err != nil {
		return nil, err
	}
	v.rings[id] = k
	return k, nil
}

func describeKeys(keys []rpmdb.Key) string {
	if len(keys) == 0 {
		return "none"
	}
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}
