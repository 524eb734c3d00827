package nevra

import "sort"

// Change is one package difference. Old is nil for Added, New is nil for
// Removed; both are set for Upgraded and Downgraded.
type Change struct {
	Name     string
	Type     ChangeType
	Old, New *Package
}

// Diff compares two package lists. Packages are matched by name and arch;
// when a name has exactly one package on each side they are matched even if
// the arch changed (noarch -> x86_64 is an upgrade, not a remove and an add,
// as dnf reports it). A pair whose EVR went down is Downgraded; any other
// differing pair (EVR up, or only the arch changed) is Upgraded. Several
// packages of one name and arch (installonly packages such as kernels) are
// matched by exact EVR, the rest being added or removed.
//
// The result is sorted by name, then type, then arch.
func Diff(from, to []Package) []Change {
	oldBy := groupByName(from)
	newBy := groupByName(to)
	names := map[string]bool{}
	for n := range oldBy {
		names[n] = true
	}
	for n := range newBy {
		names[n] = true
	}
	var out []Change
	for n := range names {
		out = append(out, diffName(oldBy[n], newBy[n])...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return Less(changePkg(a), changePkg(b))
	})
	return out
}

// changePkg is the package a change is about: the new one when there is one.
func changePkg(c Change) Package {
	if c.New != nil {
		return *c.New
	}
	return *c.Old
}

func groupByName(pkgs []Package) map[string][]Package {
	m := map[string][]Package{}
	for _, p := range pkgs {
		m[p.Name] = append(m[p.Name], p)
	}
	return m
}

// diffName diffs the packages of one name.
func diffName(old, new []Package) []Change {
	if len(old) == 1 && len(new) == 1 {
		return pairChange(old[0], new[0])
	}
	oldBy := map[string][]Package{}
	for _, p := range old {
		oldBy[p.Arch] = append(oldBy[p.Arch], p)
	}
	newBy := map[string][]Package{}
	for _, p := range new {
		newBy[p.Arch] = append(newBy[p.Arch], p)
	}
	var out []Change
	for arch, os := range oldBy {
		ns := newBy[arch]
		if len(os) == 1 && len(ns) == 1 {
			out = append(out, pairChange(os[0], ns[0])...)
			continue
		}
		out = append(out, diffExact(os, ns)...)
	}
	for arch, ns := range newBy {
		if _, seen := oldBy[arch]; !seen {
			out = append(out, diffExact(nil, ns)...)
		}
	}
	return out
}

// pairChange compares two packages known to be the same package.
func pairChange(o, n Package) []Change {
	if o == n {
		return nil
	}
	t := Upgraded
	if Compare(o, n) > 0 {
		t = Downgraded
	}
	return []Change{{Name: o.Name, Type: t, Old: &o, New: &n}}
}

// diffExact reports the packages present on one side only, matching by
// exact identity.
func diffExact(old, new []Package) []Change {
	inNew := map[Package]bool{}
	for _, p := range new {
		inNew[p] = true
	}
	inOld := map[Package]bool{}
	var out []Change
	for _, p := range old {
		inOld[p] = true
		if !inNew[p] {
			p := p
			out = append(out, Change{Name: p.Name, Type: Removed, Old: &p})
		}
	}
	for _, p := range new {
		if !inOld[p] {
			p := p
			out = append(out, Change{Name: p.Name, Type: Added, New: &p})
		}
	}
	return out
}
