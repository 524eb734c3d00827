package rpmdb

import (
	"fmt"
	"sort"
	"strconv"

	rpmutils "github.com/sassoftware/go-rpmutils"
)

// Package identifies one installed package. Epoch 0 stands for "no epoch",
// as rpm and libdnf treat the two alike when comparing.
type Package struct {
	Name    string
	Epoch   uint32
	Version string
	Release string
	Arch    string
}

// EVR is [epoch:]version-release, the epoch shown only when it is not 0
// (the form rpm -q and rpm-ostree print).
func (p Package) EVR() string {
	if p.Epoch != 0 {
		return fmt.Sprintf("%d:%s-%s", p.Epoch, p.Version, p.Release)
	}
	return p.Version + "-" + p.Release
}

// NEVRA is name-[epoch:]version-release.arch, the form rpm -e accepts.
func (p Package) NEVRA() string {
	return p.Name + "-" + p.EVR() + "." + p.Arch
}

// String is the NEVRA.
func (p Package) String() string { return p.NEVRA() }

// Compare orders two packages by epoch, then version, then release, with
// rpm's own version comparison (tilde sorts before anything, caret after the
// base version). Names and arches are not looked at. It returns -1, 0 or 1.
func Compare(a, b Package) int {
	switch {
	case a.Epoch < b.Epoch:
		return -1
	case a.Epoch > b.Epoch:
		return 1
	}
	if c := rpmutils.Vercmp(a.Version, b.Version); c != 0 {
		return c
	}
	return rpmutils.Vercmp(a.Release, b.Release)
}

// sortPackages orders by name, then arch, then EVR, so lists are stable
// whatever order rpm printed them in.
func sortPackages(pkgs []Package) {
	sort.SliceStable(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		return Compare(a, b) < 0
	})
}

// PkgList is the value of the rpmostree.rpmdb.pkglist commit metadata key,
// GVariant type a(sssss): one (name, epoch, version, release, arch) tuple per
// package, sorted by name as rpm-ostree stores it so readers can search it,
// the epoch written in decimal ("0" when there is none). The ostree
// binding's metadata converter turns a [][5]string into a(sssss).
func PkgList(pkgs []Package) [][5]string {
	sorted := append([]Package(nil), pkgs...)
	sortPackages(sorted)
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
