package layering

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/rpmdb"
)

// treePath maps a path as the rpmdb records it to where it lives in an
// OSTree-shaped tree (/etc is shipped as /usr/etc; /bin, /lib… are /usr links).
func treePath(rpmPath string) string {
	p := filepath.Clean("/" + rpmPath)
	for _, prefix := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return "/usr" + p
		}
	}
	if p == "/etc" || strings.HasPrefix(p, "/etc/") {
		return "/usr" + p
	}
	return p
}

// rpmPath is treePath's inverse, for asking the rpmdb who owns a tree path.
func rpmPath(tree string) string {
	if tree == "/usr/etc" || strings.HasPrefix(tree, "/usr/etc/") {
		return strings.TrimPrefix(tree, "/usr")
	}
	return tree
}

// conflictsStage finds the base files of the packages being removed and
// refuses a composition in which a file would be shipped differently by two
// packages, or by a package and the base. Both questions go to the base tree
// in one lookup.
func (c *Composer) conflictsStage(ctx context.Context, cs *composition) error {
	candidates, err := filesOfBasePackages(ctx, cs.root, cs.res.Removed)
	if err != nil {
		return err
	}
	layerEntries := make([][]ostree.TreeEntry, len(cs.layers))
	paths := candidates
	for i, layer := range cs.layers {
		entries, err := c.Repo.ListTree(ctx, layer.Commit, "/")
		if err != nil {
			return fmt.Errorf("listing package %s: %w", layer.Name, err)
		}
		layerEntries[i] = entries
		for _, e := range entries {
			paths = append(paths, e.Path)
		}
	}
	baseEntries, err := c.Repo.LookupTree(ctx, cs.base.Checksum, paths)
	if err != nil {
		return err
	}
	cs.removePaths = removable(baseEntries, candidates)
	dirs, err := c.emptiedDirs(ctx, cs.base.Checksum, baseEntries, candidates)
	if err != nil {
		return err
	}
	if err := checkConflicts(ctx, cs.root, baseEntries, cs.removePaths, cs.layers, layerEntries); err != nil {
		return err
	}
	cs.removePaths = append(cs.removePaths, dirs...)
	return nil
}

// emptiedDirs are the directories of removed packages that nothing else
// lives in: every entry below them belongs to the removed packages too. rpm
// erases such a directory with its last owner (rpm-ostree's override remove
// of two packages sharing a directory leaves no empty directory behind);
// one that still holds another package's file stays. Outermost first, and
// only those: removing one takes everything below with it.
func (c *Composer) emptiedDirs(ctx context.Context, base string, baseEntries map[string]ostree.TreeEntry, candidates []string) ([]string, error) {
	owned := map[string]bool{}
	var dirs []string
	for _, p := range candidates {
		p = path.Clean("/" + p)
		owned[p] = true
		if e, ok := baseEntries[p]; ok && e.Type == 'd' {
			dirs = append(dirs, p)
		}
	}
	sort.Strings(dirs)
	var out []string
	for _, dir := range dirs {
		if len(out) > 0 && strings.HasPrefix(dir, out[len(out)-1]+"/") {
			continue // inside a directory already removed whole
		}
		entries, err := c.Repo.ListTree(ctx, base, dir)
		if err != nil {
			return nil, fmt.Errorf("listing %s of the base: %w", dir, err)
		}
		empty := true
		for _, e := range entries {
			if !owned[path.Clean("/"+e.Path)] {
				empty = false
				break
			}
		}
		if empty {
			out = append(out, dir)
		}
	}
	return out, nil
}

// filesOfBasePackages lists the paths, as the tree has them, that the rpmdb
// of root records for the packages being removed.
func filesOfBasePackages(ctx context.Context, root string, removed []rpmdb.Package) ([]string, error) {
	var candidates []string
	for _, pkg := range removed {
		files, err := rpmdb.Files(ctx, root, pkg.NEVRA())
		if err != nil {
			return nil, fmt.Errorf("base package: %w", err)
		}
		for _, f := range files {
			candidates = append(candidates, treePath(f))
		}
	}
	return candidates, nil
}

// removable keeps the candidates the base has as non-directories (directories
// may hold other packages' files), sorted.
func removable(base map[string]ostree.TreeEntry, candidates []string) []string {
	keep := map[string]bool{}
	for _, p := range candidates {
		p = path.Clean("/" + p)
		if e, ok := base[p]; ok && e.Type != 'd' {
			keep[p] = true
		}
	}
	var paths []string
	for p := range keep {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// checkConflicts compares each layer's entries with the base's entries at the
// same paths and with the layers before it. Identical files (same content,
// mode and owner) may be shared, as rpm allows. Only the base paths the
// layers ship are looked at: the base is never walked whole.
func checkConflicts(ctx context.Context, root string, baseEntries map[string]ostree.TreeEntry, removed []string, layers []*rpmimport.Result, layerEntries [][]ostree.TreeEntry) error {
	type owned struct {
		entry ostree.TreeEntry
		owner string
	}
	seen := map[string]owned{}
	for p, e := range baseEntries {
		seen[p] = owned{e, ""} // base owners are looked up only on conflict
	}
	for _, p := range removed {
		delete(seen, p)
	}
	var conflicts []string
	for i, layer := range layers {
		nevra := layer.NEVRA()
		for _, e := range layerEntries[i] {
			prev, ok := seen[e.Path]
			if !ok {
				seen[e.Path] = owned{e, nevra}
				continue
			}
			if sameFile(prev.entry, e) {
				continue
			}
			owner := prev.owner
			if owner == "" {
				owner = baseOwner(ctx, root, e.Path)
			}
			// ": File exists" is the errno rpm-ostree's checkout fails
			// with here; scripts (and its tests) match on it.
			conflicts = append(conflicts, fmt.Sprintf("file %s of %s conflicts with %s: File exists", e.Path, nevra, owner))
		}
	}
	switch len(conflicts) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s", conflicts[0])
	default:
		return fmt.Errorf("%d file conflicts: %s", len(conflicts), strings.Join(conflicts, "; "))
	}
}

func sameFile(a, b ostree.TreeEntry) bool {
	if a.Type == 'd' && b.Type == 'd' {
		return true // directories merge
	}
	return a.Type == b.Type && a.Checksum == b.Checksum && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Target == b.Target
}

// baseOwner names the base package that ships path, for conflict messages.
func baseOwner(ctx context.Context, root, path string) string {
	pkg, err := rpmdb.Owner(ctx, root, rpmPath(path))
	if err != nil {
		return "the base image"
	}
	return "base package " + pkg.NEVRA()
}
