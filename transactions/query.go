package transactions

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/internal/solv"
	"github.com/strata-os/strata/layering"
)

// Queries over the rpm-md repos a stateroot layers from (ListRepos,
// Search, WhatProvides, GetPackages). They read the repo definitions of the
// deployment a change would start from and the metadata already cached by
// refresh-md or an earlier layering: a query never touches the network, so
// it cannot stall a client or fetch on behalf of an unprivileged caller.

// MaxSearchResults bounds each match group of a search, as rpm-ostree does.
const MaxSearchResults = 50

// PackageMatch is one package a query found; Key is what matched it (the
// name asked for by GetPackages, the match group of Search, "" for
// WhatProvides).
type PackageMatch struct {
	Key string
	solv.Info
}

// Repos lists the repos configured for osname, enabled or not.
func (e *Engine) Repos(ctx context.Context, osname string) ([]rpmmd.Repo, error) {
	var repos []rpmmd.Repo
	err := e.view(ctx, true, func(s Sysroot) error {
		merge, _, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		repos, err = reposFor(s, merge)
		return err
	})
	return repos, err
}

// Search finds available packages by name and summary (see searchPackages).
func (e *Engine) Search(ctx context.Context, osname string, terms []string) ([]PackageMatch, error) {
	if len(terms) == 0 {
		return nil, fmt.Errorf("Must specify a term for search")
	}
	var out []PackageMatch
	err := e.withRepoPool(ctx, osname, func(pool *solv.Pool) error {
		out = searchPackages(pool.Available(), terms)
		return nil
	})
	return out, err
}

// WhatProvides lists the newest available package of each arch that
// provides one of deps (a name, a capability such as "pkgconfig(foo)" or a
// file path).
func (e *Engine) WhatProvides(ctx context.Context, osname string, deps []string) ([]PackageMatch, error) {
	var out []PackageMatch
	err := e.withRepoPool(ctx, osname, func(pool *solv.Pool) error {
		var found []solv.Info
		summaries := summaryIndex(pool.Available())
		for _, dep := range deps {
			for _, p := range pool.WhatProvides(dep) {
				if p.RepoID == "@System" || p.RepoID == "@commandline" {
					continue
				}
				found = append(found, solv.Info{Package: p, Summary: summaries[p.NEVRA()+"@"+p.RepoID]})
			}
		}
		for _, p := range latestPerArch(found) {
			out = append(out, PackageMatch{Info: p})
		}
		return nil
	})
	return out, err
}

// GetPackages lists, for each name, the newest available package of each
// arch with exactly that name.
func (e *Engine) GetPackages(ctx context.Context, osname string, names []string) ([]PackageMatch, error) {
	var out []PackageMatch
	err := e.withRepoPool(ctx, osname, func(pool *solv.Pool) error {
		all := pool.Available()
		for _, name := range names {
			var same []solv.Info
			for _, p := range all {
				if p.Name == name {
					same = append(same, p)
				}
			}
			for _, p := range latestPerArch(same) {
				out = append(out, PackageMatch{Key: name, Info: p})
			}
		}
		return nil
	})
	return out, err
}

// withRepoPool loads the cached metadata of osname's enabled repos into a
// pool (repos never fetched are left out) and hands it to fn.
func (e *Engine) withRepoPool(ctx context.Context, osname string, fn func(*solv.Pool) error) error {
	return e.view(ctx, true, func(s Sysroot) error {
		merge, _, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		repos, err := reposFor(s, merge)
		if err != nil {
			return err
		}
		pool, err := solv.NewPool(layering.Arch())
		if err != nil {
			return err
		}
		defer pool.Close()
		cache := (&layering.Composer{CacheDir: filepath.Join(s.Path(), CacheDir)}).MetadataCache()
		for _, r := range repos {
			if !r.Enabled {
				continue
			}
			md, err := cache.Cached(r)
			if err != nil {
				e.log.WithField("repo", r.ID).WithError(err).Debug("no cached metadata; left out of the query")
				continue
			}
			// The solv cache is written by layering beside the metadata;
			// reading it is what keeps a query fast on big repos.
			solvCache := filepath.Join(filepath.Dir(md.Primary), "solv.cache")
			if err := pool.AddRepoMDCached(r.ID, md.Primary, md.Filelists, solvCache, r.Priority); err != nil {
				return fmt.Errorf("loading metadata of repo %s: %w", r.ID, err)
			}
		}
		return fn(pool)
	})
}

func summaryIndex(pkgs []solv.Info) map[string]string {
	idx := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		idx[p.NEVRA()+"@"+p.RepoID] = p.Summary
	}
	return idx
}

// latestPerArch keeps, for each (name, arch), the newest package, in the
// order the first of each was found.
func latestPerArch(pkgs []solv.Info) []solv.Info {
	type key struct{ name, arch string }
	best := map[key]int{}
	var out []solv.Info
	for _, p := range pkgs {
		k := key{p.Name, p.Arch}
		i, seen := best[k]
		switch {
		case !seen:
			best[k] = len(out)
			out = append(out, p)
		case nevra.Compare(p.Package.Package, out[i].Package.Package) > 0:
			out[i] = p
		}
	}
	return out
}

// searchPackages matches terms against names and summaries the way
// rpm-ostree's Search does, in three groups, each holding at most
// MaxSearchResults distinct names:
//   - match_group_a: packages matching every term in name or summary (a
//     single term must match both);
//   - match_group_b: packages whose name matches every term;
//   - match_group_c: packages whose summary matches every term.
//
// A term matches case-insensitively, as a glob when it has glob characters,
// else as a substring; exact matches come before substring ones.
func searchPackages(pkgs []solv.Info, terms []string) []PackageMatch {
	name := func(p solv.Info) string { return p.Name }
	summary := func(p solv.Info) string { return p.Summary }
	var out []PackageMatch

	var groupA []solv.Info
	if len(terms) == 1 {
		for _, p := range pkgs {
			if termMatches(terms[0], p.Name, false) && termMatches(terms[0], p.Summary, false) {
				groupA = append(groupA, p)
			}
		}
	} else {
		for _, p := range pkgs {
			all := true
			for _, t := range terms {
				if !termMatches(t, p.Name, false) && !termMatches(t, p.Summary, false) {
					all = false
					break
				}
			}
			if all {
				groupA = append(groupA, p)
			}
		}
	}
	out = appendGroup(out, "match_group_a", groupA)
	for _, g := range []struct {
		key   string
		field func(solv.Info) string
	}{{"match_group_b", name}, {"match_group_c", summary}} {
		var exact, sub []solv.Info
		for _, p := range pkgs {
			if allTerms(terms, g.field(p), true) {
				exact = append(exact, p)
			} else if allTerms(terms, g.field(p), false) {
				sub = append(sub, p)
			}
		}
		out = appendGroup(out, g.key, append(exact, sub...))
	}
	return out
}

func allTerms(terms []string, s string, exact bool) bool {
	for _, t := range terms {
		if !termMatches(t, s, exact) {
			return false
		}
	}
	return true
}

// appendGroup adds the first package of each name, up to MaxSearchResults.
func appendGroup(out []PackageMatch, key string, pkgs []solv.Info) []PackageMatch {
	seen := map[string]bool{}
	for _, p := range pkgs {
		if len(seen) >= MaxSearchResults {
			break
		}
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		out = append(out, PackageMatch{Key: key, Info: p})
	}
	return out
}

// termMatches compares case-insensitively: as a glob when term has glob
// characters, else for equality (exact) or as a substring.
func termMatches(term, s string, exact bool) bool {
	term, s = strings.ToLower(term), strings.ToLower(s)
	if strings.ContainsAny(term, "*?[") {
		ok, err := filepath.Match(term, s)
		return err == nil && ok
	}
	if exact {
		return s == term
	}
	return strings.Contains(s, term)
}
