package image

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/rpmdb"
)

// chunk is the content of one layer of an encapsulated image: content
// objects (each once) with the tree paths that use them.
type chunk struct {
	Name     string
	Packages []string // package names, sorted
	Objects  []string // content object checksums, in first-use order
	size     int64
}

// pkgFiles is one package's share of the commit: the content objects its
// files point at.
type pkgFiles struct {
	name    string
	objects []string
	size    int64
}

// chunkByPackage splits the commit's content objects into at most n chunks
// by the package that owns them (from the commit's own rpmdb), and returns
// the objects no package owns (the remainder, which goes with the commit
// layer). The split is stable under updates: a package keeps its chunk as
// long as it stays among the largest (those get a chunk each) or, for the
// rest, by a hash of its name, so an update changing one package changes
// about one chunk.
func chunkByPackage(ctx context.Context, repo *ostree.Repo, commit string, tree *ostree.ObjectTree, sizeOf func(string) int64, n int) ([]chunk, []string, error) {
	pkgs, err := packageObjects(ctx, repo, commit, tree, sizeOf)
	if err != nil {
		return nil, nil, err
	}
	owned := map[string]bool{}
	for _, p := range pkgs {
		for _, o := range p.objects {
			owned[o] = true
		}
	}
	var remainder []string
	seen := map[string]bool{}
	for _, f := range tree.Files {
		if !owned[f.Checksum] && !seen[f.Checksum] {
			seen[f.Checksum] = true
			remainder = append(remainder, f.Checksum)
		}
	}
	if n <= 0 || len(pkgs) == 0 {
		for _, p := range pkgs {
			remainder = append(remainder, p.objects...)
		}
		return nil, remainder, nil
	}
	return packChunks(pkgs, n), remainder, nil
}

// packChunks gives each package its own chunk when there are few enough;
// otherwise the largest half of the chunks go one per package, and the other
// packages share the rest by name hash.
func packChunks(pkgs []pkgFiles, n int) []chunk {
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].size != pkgs[j].size {
			return pkgs[i].size > pkgs[j].size
		}
		return pkgs[i].name < pkgs[j].name
	})
	var chunks []chunk
	if len(pkgs) <= n {
		for _, p := range pkgs {
			chunks = append(chunks, chunk{Name: p.name, Packages: []string{p.name}, Objects: p.objects, size: p.size})
		}
		return chunks
	}
	solo := n / 2
	shared := n - solo
	for _, p := range pkgs[:solo] {
		chunks = append(chunks, chunk{Name: p.name, Packages: []string{p.name}, Objects: p.objects, size: p.size})
	}
	bins := make([]chunk, shared)
	rest := append([]pkgFiles(nil), pkgs[solo:]...)
	sort.Slice(rest, func(i, j int) bool { return rest[i].name < rest[j].name })
	for _, p := range rest {
		h := fnv.New32a()
		h.Write([]byte(p.name))
		b := &bins[h.Sum32()%uint32(shared)]
		b.Packages = append(b.Packages, p.name)
		b.Objects = append(b.Objects, p.objects...)
		b.size += p.size
	}
	for i, b := range bins {
		if len(b.Objects) == 0 {
			continue
		}
		b.Name = fmt.Sprintf("shared chunk %d of %d", i+1, shared)
		chunks = append(chunks, b)
	}
	return chunks
}

// packageObjects reads the commit's rpmdb (checked out privately) and maps
// every content object to the first package, by name, that owns a path
// using it.
func packageObjects(ctx context.Context, repo *ostree.Repo, commit string, tree *ostree.ObjectTree, sizeOf func(string) int64) ([]pkgFiles, error) {
	byPath := map[string]string{}
	for _, f := range tree.Files {
		byPath[f.Path] = f.Checksum
	}
	if _, ok := byPath[rpmdb.Dir+"/rpmdb.sqlite"]; !ok {
		if !hasDir(tree, rpmdb.Dir) {
			return nil, nil // no rpmdb: everything goes with the commit layer
		}
	}
	tmp, err := os.MkdirTemp("", "strata-encapsulate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, filepath.Dir(rpmdb.Dir)), 0o755); err != nil {
		return nil, err
	}
	if err := repo.CheckoutSubpath(ctx, commit, "/"+rpmdb.Dir, filepath.Join(tmp, rpmdb.Dir)); err != nil {
		return nil, fmt.Errorf("reading the package list of %s: %w", commit, err)
	}
	list, err := rpmdb.List(ctx, tmp)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].NEVRA() < list[j].NEVRA() })
	taken := map[string]bool{}
	var out []pkgFiles
	for _, p := range list {
		files, err := rpmdb.Files(ctx, tmp, p.NEVRA())
		if err != nil {
			return nil, err
		}
		pf := pkgFiles{name: p.Name}
		for _, f := range files {
			pl, err := rpmimport.PlacePath(f)
			if err != nil || !pl.Tree {
				continue
			}
			csum, ok := byPath[strings.TrimPrefix(pl.Dest, "/")]
			if !ok || taken[csum] {
				continue
			}
			taken[csum] = true
			pf.objects = append(pf.objects, csum)
			pf.size += sizeOf(csum)
		}
		if len(pf.objects) > 0 {
			out = append(out, pf)
		}
	}
	return out, nil
}

func hasDir(tree *ostree.ObjectTree, p string) bool {
	for _, d := range tree.Dirs {
		if d.Path == p {
			return true
		}
	}
	return false
}
