package nevra

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Package identifies one package. Epoch 0 stands for "no epoch", as rpm and
// libdnf treat the two alike when comparing. The type is comparable, so it
// may key a map.
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
	return FormatEVR(p.Epoch, p.Version, p.Release)
}

// NEVRA is name-[epoch:]version-release.arch, the form rpm -e accepts.
func (p Package) NEVRA() string {
	return p.Name + "-" + p.EVR() + "." + p.Arch
}

// String is the NEVRA.
func (p Package) String() string { return p.NEVRA() }

// FormatEVR is [epoch:]version-release with a 0 epoch left out, for callers
// holding the parts rather than a Package.
func FormatEVR(epoch uint32, version, release string) string {
	if epoch != 0 {
		return strconv.FormatUint(uint64(epoch), 10) + ":" + version + "-" + release
	}
	return version + "-" + release
}

// ParseEVR splits "[epoch:]version[-release]" (the release is optional, as
// in libsolv's EVR strings and in dependency versions). An epoch that is not
// a decimal number is an error; version and release are still returned,
// with epoch 0.
func ParseEVR(evr string) (epoch uint32, version, release string, err error) {
	if i := strings.IndexByte(evr, ':'); i >= 0 {
		e, perr := strconv.ParseUint(evr[:i], 10, 32)
		if perr != nil {
			err = fmt.Errorf("bad epoch %q in %q", evr[:i], evr)
		} else {
			epoch = uint32(e)
		}
		evr = evr[i+1:]
	}
	version = evr
	if i := strings.LastIndexByte(evr, '-'); i >= 0 {
		version, release = evr[:i], evr[i+1:]
	}
	return epoch, version, release, err
}

// Parse reads a NEVRA back: name-[epoch:]version-release.arch. The name may
// hold dashes; version, release and arch may not (rpm forbids them there),
// which is what makes the string unambiguous.
func Parse(s string) (Package, error) {
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return Package{}, fmt.Errorf("%q is not name-version-release.arch: no arch", s)
	}
	rest, arch := s[:dot], s[dot+1:]
	relDash := strings.LastIndexByte(rest, '-')
	if relDash < 0 {
		return Package{}, fmt.Errorf("%q is not name-version-release.arch: no release", s)
	}
	verDash := strings.LastIndexByte(rest[:relDash], '-')
	if verDash < 0 {
		return Package{}, fmt.Errorf("%q is not name-version-release.arch: no version", s)
	}
	epoch, version, release, err := ParseEVR(rest[verDash+1:])
	if err != nil {
		return Package{}, fmt.Errorf("parsing %q: %w", s, err)
	}
	p := Package{Name: rest[:verDash], Epoch: epoch, Version: version, Release: release, Arch: arch}
	if p.Name == "" || p.Version == "" || p.Release == "" || p.Arch == "" {
		return Package{}, fmt.Errorf("%q is not name-version-release.arch: an empty part", s)
	}
	return p, nil
}

// Compare orders two packages by epoch, then version, then release, with
// rpm's version comparison (Vercmp). Names and arches are not looked at. It
// returns -1, 0 or 1.
func Compare(a, b Package) int {
	switch {
	case a.Epoch < b.Epoch:
		return -1
	case a.Epoch > b.Epoch:
		return 1
	}
	if c := Vercmp(a.Version, b.Version); c != 0 {
		return c
	}
	return Vercmp(a.Release, b.Release)
}

// Less orders by name, then arch, then EVR: the order of every package
// list strata shows or stores, whatever order rpm or libsolv produced.
func Less(a, b Package) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Arch != b.Arch {
		return a.Arch < b.Arch
	}
	return Compare(a, b) < 0
}

// Sort sorts pkgs in place by Less, keeping the order of equal packages.
func Sort(pkgs []Package) {
	sort.SliceStable(pkgs, func(i, j int) bool { return Less(pkgs[i], pkgs[j]) })
}
