package nevra

import (
	"reflect"
	"testing"
)

func pkg(name string, epoch uint32, v, r, arch string) Package {
	return Package{Name: name, Epoch: epoch, Version: v, Release: r, Arch: arch}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b Package
		want int
	}{
		{pkg("a", 0, "1.0", "1", "x"), pkg("a", 0, "1.0", "1", "x"), 0},
		{pkg("a", 1, "1.0", "1", "x"), pkg("a", 0, "9.0", "1", "x"), 1},
		{pkg("a", 0, "1.0", "1", "x"), pkg("a", 2, "0.1", "1", "x"), -1},
		{pkg("a", 0, "1.10", "1", "x"), pkg("a", 0, "1.9", "1", "x"), 1},
		{pkg("a", 0, "1.0~rc1", "1", "x"), pkg("a", 0, "1.0", "1", "x"), -1},
		{pkg("a", 0, "1.0~rc2", "1", "x"), pkg("a", 0, "1.0~rc1", "9", "x"), 1},
		{pkg("a", 0, "1.0^git1", "1", "x"), pkg("a", 0, "1.0", "1", "x"), 1},
		{pkg("a", 0, "1.0", "2", "x"), pkg("a", 0, "1.0", "10", "x"), -1},
		{pkg("a", 0, "1.0", "1.fc40", "x"), pkg("a", 0, "1.0", "1.fc39", "x"), 1},
		// Names and arches do not count.
		{pkg("a", 0, "1", "1", "noarch"), pkg("b", 0, "1", "1", "x86_64"), 0},
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Compare(tc.b, tc.a); got != -tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func change(name string, typ ChangeType, old, new *Package) Change {
	return Change{Name: name, Type: typ, Old: old, New: new}
}

func p(x Package) *Package { return &x }

func TestDiff(t *testing.T) {
	a1 := pkg("a", 0, "1.0", "1", "x86_64")
	a2 := pkg("a", 0, "1.0", "2", "x86_64")
	b1 := pkg("b", 0, "2.0", "1", "noarch")
	bTilde := pkg("b", 0, "2.0~rc1", "5", "noarch")
	c0 := pkg("c", 0, "9.9", "1", "noarch")
	cE := pkg("c", 1, "0.1", "1", "noarch")
	dNoarch := pkg("d", 0, "1", "1", "noarch")
	dX86 := pkg("d", 0, "1", "1", "x86_64")
	e := pkg("e", 0, "1", "1", "noarch")
	f := pkg("f", 0, "3", "1", "noarch")
	k1 := pkg("kernel", 0, "6.1", "1", "x86_64")
	k2 := pkg("kernel", 0, "6.2", "1", "x86_64")
	k3 := pkg("kernel", 0, "6.3", "1", "x86_64")
	m32 := pkg("m", 0, "1", "1", "i686")
	m64 := pkg("m", 0, "1", "1", "x86_64")
	m64b := pkg("m", 0, "1", "2", "x86_64")

	for _, tc := range []struct {
		name     string
		from, to []Package
		want     []Change
	}{
		{"identical", []Package{a1, b1}, []Package{b1, a1}, nil},
		{"release bump", []Package{a1}, []Package{a2}, []Change{change("a", Upgraded, &a1, &a2)}},
		{"release drop", []Package{a2}, []Package{a1}, []Change{change("a", Downgraded, &a2, &a1)}},
		{"tilde is older", []Package{b1}, []Package{bTilde}, []Change{change("b", Downgraded, &b1, &bTilde)}},
		{"epoch wins", []Package{c0}, []Package{cE}, []Change{change("c", Upgraded, &c0, &cE)}},
		{"arch change alone is an upgrade", []Package{dNoarch}, []Package{dX86}, []Change{change("d", Upgraded, &dNoarch, &dX86)}},
		{"added and removed", []Package{a1, e}, []Package{a1, f},
			[]Change{change("e", Removed, &e, nil), change("f", Added, nil, &f)}},
		{"installonly kernels", []Package{k1, k2}, []Package{k2, k3},
			[]Change{change("kernel", Added, nil, &k3), change("kernel", Removed, &k1, nil)}},
		{"multilib: only one arch upgraded", []Package{m32, m64}, []Package{m32, m64b},
			[]Change{change("m", Upgraded, &m64, &m64b)}},
		{"multilib: one arch dropped", []Package{m32, m64}, []Package{m64},
			[]Change{change("m", Removed, &m32, nil)}},
		{"from empty", nil, []Package{b1, a1},
			[]Change{change("a", Added, nil, &a1), change("b", Added, nil, &b1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diff(tc.from, tc.to)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff = %s, want %s", show(got), show(tc.want))
			}
		})
	}
}

func show(cs []Change) string {
	s := "["
	for _, c := range cs {
		s += c.Name + ":" + c.Type.String() + "("
		if c.Old != nil {
			s += c.Old.NEVRA()
		}
		s += "->"
		if c.New != nil {
			s += c.New.NEVRA()
		}
		s += ") "
	}
	return s + "]"
}
