package transactions

import (
	"strings"
	"testing"
)

func TestRepoReplacementsRoundTrip(t *testing.T) {
	rs, err := parseRepoReplacements([]string{"repo=updates,a,b", "repo=testing,c", "repo=updates,d"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(formatRepoReplacements(rs), " "); got != "repo=updates,a,b,d repo=testing,c" {
		t.Errorf("merged = %s", got)
	}
	// A package moved to another source leaves the first one.
	rs = addRemoteReplacement(dropRemoteReplacement(rs, "c"), "updates", "c")
	if got := strings.Join(formatRepoReplacements(rs), " "); got != "repo=updates,a,b,d,c" {
		t.Errorf("after moving c = %s", got)
	}
	if !hasRemoteReplacement(rs, "d") || hasRemoteReplacement(rs, "x") {
		t.Error("hasRemoteReplacement")
	}
	for entry, want := range map[string]string{
		"updates,a":     "KIND=NAME",
		"copr=x,a":      "Invalid kind 'copr'",
		"repo=,a":       "empty repo name",
		"repo=updates,": "no packages named",
	} {
		if _, err := parseRepoReplacements([]string{entry}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", entry, err, want)
		}
	}
}

// A local replacement is reported only where the layered commit swapped the
// base package: an inactive request (the base lacks it) reports nothing.
func TestLocalReplacements(t *testing.T) {
	meta := map[string]any{
		"rpmostree.rpmdb.pkglist": [][5]string{
			{"foo", "0", "2.0", "1", "x86_64"}, {"bar", "0", "0.9", "1", "x86_64"}, {"keep", "0", "1", "1", "noarch"},
		},
		"rpmostree.removed-base-packages": []string{"foo-1.0-1.x86_64", "bar-1.0-1.x86_64"},
	}
	got := localReplacements([]string{"foo-2.0-1.x86_64", "bar-0.9-1.x86_64", "absent-1-1.noarch"}, readBaseChanges(meta))
	var pairs []string
	for _, r := range got {
		pairs = append(pairs, r.Old.NEVRA()+" -> "+r.New.NEVRA())
	}
	want := []string{"foo-1.0-1.x86_64 -> foo-2.0-1.x86_64", "bar-1.0-1.x86_64 -> bar-0.9-1.x86_64"}
	if strings.Join(pairs, ",") != strings.Join(want, ",") {
		t.Errorf("localReplacements = %v, want %v", pairs, want)
	}
	if got := localReplacements([]string{"foo-2.0-1.x86_64"}, readBaseChanges(nil)); got != nil {
		t.Errorf("without a layered commit: %v, want none", got)
	}
}

// base-removals lists what the layered commit removed and nothing
// replaced: a replaced package is a replacement, not a removal.
func TestBaseRemovals(t *testing.T) {
	meta := map[string]any{
		"rpmostree.rpmdb.pkglist":         [][5]string{{"foo", "0", "2.0", "1", "x86_64"}},
		"rpmostree.removed-base-packages": []string{"foo-1.0-1.x86_64", "gone-1.0-1.noarch"},
	}
	var got []string
	for _, p := range readBaseChanges(meta).removals() {
		got = append(got, p.NEVRA())
	}
	if strings.Join(got, ",") != "gone-1.0-1.noarch" {
		t.Errorf("removals = %v, want [gone-1.0-1.noarch]", got)
	}
	if got := readBaseChanges(nil).removals(); got != nil {
		t.Errorf("without a layered commit: %v, want none", got)
	}
}
