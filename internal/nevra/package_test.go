package nevra

import "testing"

func TestFormatAndParse(t *testing.T) {
	for _, tc := range []struct {
		p          Package
		evr, nevra string
	}{
		{pkg("bash", 0, "5.2.15", "2.fc39", "x86_64"), "5.2.15-2.fc39", "bash-5.2.15-2.fc39.x86_64"},
		{pkg("perl-Time-Local", 2, "1.300", "7.el9", "noarch"), "2:1.300-7.el9", "perl-Time-Local-2:1.300-7.el9.noarch"},
		{pkg("demo", 0, "1.0~rc1^git2", "1", "noarch"), "1.0~rc1^git2-1", "demo-1.0~rc1^git2-1.noarch"},
	} {
		if got := tc.p.EVR(); got != tc.evr {
			t.Errorf("EVR = %q, want %q", got, tc.evr)
		}
		if got := tc.p.NEVRA(); got != tc.nevra || tc.p.String() != tc.nevra {
			t.Errorf("NEVRA = %q, want %q", got, tc.nevra)
		}
		back, err := Parse(tc.nevra)
		if err != nil || back != tc.p {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.nevra, back, err, tc.p)
		}
	}
}

func TestParseRefusesNonNEVRAs(t *testing.T) {
	for _, s := range []string{"", "bash", "bash.x86_64", "bash-5.2.x86_64", "-1-1.noarch", "a-1-1.", "a-x:1-1.noarch"} {
		if p, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, p)
		}
	}
}

func TestParseEVR(t *testing.T) {
	for _, tc := range []struct {
		in       string
		epoch    uint32
		ver, rel string
		wantErr  bool
	}{
		{"1.0-1", 0, "1.0", "1", false},
		{"3:1.0-1.fc40", 3, "1.0", "1.fc40", false},
		{"1.0", 0, "1.0", "", false},
		{"x:1.0-1", 0, "1.0", "1", true},
	} {
		e, v, r, err := ParseEVR(tc.in)
		if e != tc.epoch || v != tc.ver || r != tc.rel || (err != nil) != tc.wantErr {
			t.Errorf("ParseEVR(%q) = %d, %q, %q, %v", tc.in, e, v, r, err)
		}
	}
}

func TestChangeTypeWireValues(t *testing.T) {
	// rpm-ostree's RpmOstreePackageDiffTypes: the numbers are the wire format.
	for typ, want := range map[ChangeType]struct {
		n    uint32
		name string
	}{Added: {0, "added"}, Removed: {1, "removed"}, Upgraded: {2, "upgraded"}, Downgraded: {3, "downgraded"}, 7: {7, "change-type-7"}} {
		if uint32(typ) != want.n || typ.String() != want.name {
			t.Errorf("ChangeType %d = %q, want %d %q", typ, typ, want.n, want.name)
		}
	}
}

func TestSortOrdersByNameArchEVR(t *testing.T) {
	in := []Package{pkg("b", 0, "1", "1", "noarch"), pkg("a", 0, "1.10", "1", "x86_64"), pkg("a", 0, "1.9", "1", "x86_64"), pkg("a", 0, "2", "1", "i686")}
	Sort(in)
	want := []string{"a-2-1.i686", "a-1.9-1.x86_64", "a-1.10-1.x86_64", "b-1-1.noarch"}
	for i, p := range in {
		if p.NEVRA() != want[i] {
			t.Errorf("Sort[%d] = %s, want %s", i, p, want[i])
		}
	}
}
