package rpmdb

import (
	"fmt"
	"strconv"

	"github.com/strata-os/strata/internal/nevra"
)

// The package vocabulary is nevra's; these names keep rpmdb's callers (and
// the D-Bus layer's type aliases) reading as before.
type (
	// Package identifies one installed package.
	Package = nevra.Package
	// ChangeType says how a package differs between two lists (wire values).
	ChangeType = nevra.ChangeType
	// Change is one package difference of Diff.
	Change = nevra.Change
)

// The change types, with rpm-ostree's wire values.
const (
	Added      = nevra.Added
	Removed    = nevra.Removed
	Upgraded   = nevra.Upgraded
	Downgraded = nevra.Downgraded
)

// Compare orders two packages by EVR as rpm does (nevra.Compare).
func Compare(a, b Package) int { return nevra.Compare(a, b) }

// Diff compares two package lists (nevra.Diff).
func Diff(from, to []Package) []Change { return nevra.Diff(from, to) }

// PkgList is the value of the rpmostree.rpmdb.pkglist commit metadata key,
// GVariant type a(sssss): one (name, epoch, version, release, arch) tuple per
// package, sorted by name as rpm-ostree stores it so readers can search it,
// the epoch written in decimal ("0" when there is none). The ostree
// binding's metadata converter turns a [][5]string into a(sssss).
func PkgList(pkgs []Package) [][5]string {
	sorted := append([]Package(nil), pkgs...)
	nevra.Sort(sorted)
	out := make([][5]string, 0, len(sorted))
	for _, p := range sorted {
		out = append(out, [5]string{p.Name, strconv.FormatUint(uint64(p.Epoch), 10), p.Version, p.Release, p.Arch})
	}
	return out
}

// ParsePkgList is the reverse of PkgList, for reading the metadata back
// from a commit.
func ParsePkgList(list [][5]string) ([]Package, error) {
	out := make([]Package, 0, len(list))
	for _, t := range list {
		epoch, err := strconv.ParseUint(t[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("package %s: bad epoch %q: %w", t[0], t[1], err)
		}
		out = append(out, Package{Name: t[0], Epoch: uint32(epoch), Version: t[2], Release: t[3], Arch: t[4]})
	}
	return out, nil
}
