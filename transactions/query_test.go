package transactions

import (
	"fmt"
	"slices"
	"testing"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/solv"
)

func info(name, version, arch, summary string) solv.Info {
	return solv.Info{Package: solv.Package{Package: nevra.Package{Name: name, Version: version, Release: "1", Arch: arch}, RepoID: "test"}, Summary: summary}
}

func TestSearchPackages(t *testing.T) {
	pkgs := []solv.Info{
		info("vim-enhanced", "9.0", "x86_64", "A version of the VIM editor"),
		info("vim", "9.0", "x86_64", "The VIM editor"),
		info("nano", "7.2", "x86_64", "A small text editor"),
		info("emacs", "29", "x86_64", "GNU Emacs text editor"),
		info("vim", "8.0", "x86_64", "The VIM editor"),
	}
	render := func(ms []PackageMatch) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Key[len("match_group_"):]+":"+m.Name)
		}
		return out
	}
	for _, tc := range []struct {
		terms []string
		want  []string
	}{
		// One term: group a needs it in name and summary; b lists the
		// exact name match before substrings.
		{[]string{"vim"}, []string{"a:vim-enhanced", "a:vim", "b:vim", "b:vim-enhanced", "c:vim-enhanced", "c:vim"}},
		{[]string{"EDITOR"}, []string{"c:vim-enhanced", "c:vim", "c:nano", "c:emacs"}},
		// Several terms: group a needs each in name or summary.
		{[]string{"text", "nano"}, []string{"a:nano"}},
		{[]string{"v?m*"}, []string{"b:vim-enhanced", "b:vim"}},
		{[]string{"nothing-like-this"}, nil},
	} {
		t.Run(fmt.Sprint(tc.terms), func(t *testing.T) {
			if got := render(searchPackages(pkgs, tc.terms)); !slices.Equal(got, tc.want) {
				t.Errorf("searchPackages(%q) = %q, want %q", tc.terms, got, tc.want)
			}
		})
	}
}

func TestSearchPackagesLimit(t *testing.T) {
	var pkgs []solv.Info
	for i := range 2 * MaxSearchResults {
		pkgs = append(pkgs, info(fmt.Sprintf("lib%03d", i), "1", "noarch", "a library"))
	}
	groups := map[string]int{}
	for _, m := range searchPackages(pkgs, []string{"lib"}) {
		groups[m.Key]++
	}
	for _, g := range []string{"match_group_a", "match_group_b", "match_group_c"} {
		if groups[g] != MaxSearchResults {
			t.Errorf("%s has %d results, want %d (the limit)", g, groups[g], MaxSearchResults)
		}
	}
}

func TestLatestPerArch(t *testing.T) {
	got := latestPerArch([]solv.Info{
		info("vim", "8.0", "x86_64", ""), info("vim", "9.0", "i686", ""),
		info("vim", "9.1", "x86_64", ""), info("vim", "8.5", "x86_64", ""),
	})
	var s []string
	for _, p := range got {
		s = append(s, p.NEVRA())
	}
	if want := []string{"vim-9.1-1.x86_64", "vim-9.0-1.i686"}; !slices.Equal(s, want) {
		t.Errorf("latestPerArch = %q, want %q", s, want)
	}
}
