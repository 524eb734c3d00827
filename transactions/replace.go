package transactions

import (
	"fmt"
	"slices"
	"strings"

	"github.com/strata-os/strata/layering"
)

// Repo replacements are kept in the origin as rpm-ostree writes them
// ([overrides] replace=repo=ID,PKG,PKG;...): one entry per source.

// parseRepoReplacements reads origin entries "repo=ID,PKG[,PKG...]".
func parseRepoReplacements(entries []string) ([]layering.RepoReplacement, error) {
	var out []layering.RepoReplacement
	for _, e := range entries {
		parts := strings.Split(e, ",")
		kind, id, ok := strings.Cut(parts[0], "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("invalid repo replacement %q: the source is not in KIND=NAME format (e.g. repo=updates,PKG)", e)
		case kind != "repo":
			return nil, fmt.Errorf("invalid repo replacement %q: Invalid kind '%s' (only repo=ID is supported)", e, kind)
		case id == "":
			return nil, fmt.Errorf("invalid repo replacement %q: empty repo name", e)
		}
		pkgs := slices.DeleteFunc(parts[1:], func(p string) bool { return p == "" })
		if len(pkgs) == 0 {
			return nil, fmt.Errorf("invalid repo replacement %q: no packages named", e)
		}
		out = addRemoteReplacement(out, id, pkgs...)
	}
	return out, nil
}

func formatRepoReplacements(rs []layering.RepoReplacement) []string {
	var out []string
	for _, r := range rs {
		if len(r.Packages) > 0 {
			out = append(out, "repo="+r.Repo+","+strings.Join(r.Packages, ","))
		}
	}
	return out
}

func addRemoteReplacement(rs []layering.RepoReplacement, repo string, names ...string) []layering.RepoReplacement {
	i := slices.IndexFunc(rs, func(r layering.RepoReplacement) bool { return r.Repo == repo })
	if i < 0 {
		rs = append(rs, layering.RepoReplacement{Repo: repo})
		i = len(rs) - 1
	}
	for _, n := range names {
		if !slices.Contains(rs[i].Packages, n) {
			rs[i].Packages = append(rs[i].Packages, n)
		}
	}
	return rs
}

func hasRemoteReplacement(rs []layering.RepoReplacement, name string) bool {
	return slices.ContainsFunc(rs, func(r layering.RepoReplacement) bool { return slices.Contains(r.Packages, name) })
}

func dropRemoteReplacement(rs []layering.RepoReplacement, name string) []layering.RepoReplacement {
	out := rs[:0]
	for _, r := range rs {
		r.Packages = slices.DeleteFunc(slices.Clone(r.Packages), func(p string) bool { return p == name })
		if len(r.Packages) > 0 {
			out = append(out, r)
		}
	}
	return out
}
