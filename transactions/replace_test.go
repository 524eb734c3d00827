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
