package ostree

import (
	"context"
	"testing"
)

// TestLookupTree agrees with ListTree entry for entry, and leaves out paths
// the commit does not have.
func TestLookupTree(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	f := newComposeFixture(t)
	r := openRepo(t, f.repo)
	all, err := r.ListTree(ctx, f.base, "/")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range all {
		paths = append(paths, e.Path)
	}
	paths = append(paths, "/nope", "/usr/bin/hello/x", "usr/share/doc/../doc/base/NEWS")
	got, err := r.LookupTree(ctx, f.base, paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Errorf("LookupTree found %d paths, want %d", len(got), len(all))
	}
	for _, want := range all {
		if g, ok := got[want.Path]; !ok || g != want {
			t.Errorf("LookupTree[%s] = %+v (found %v), ListTree says %+v", want.Path, g, ok, want)
		}
	}
	for _, absent := range []string{"/nope", "/usr/bin/hello/x"} {
		if _, ok := got[absent]; ok {
			t.Errorf("LookupTree reports %s, which the commit does not have", absent)
		}
	}
}
