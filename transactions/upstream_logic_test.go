package transactions

import (
	"testing"

	"github.com/strata-os/strata/internal/origin"
)

func TestRevisionArgPrefixesAnyCase(t *testing.T) {
	sum := "54a28aa1d7e442e93f29cbce6fee9eb62a3d33d02a0a21bf1871b1fc0b519d76"
	for in, want := range map[string]string{
		sum:               sum,
		"REVISION=" + sum: "revision=" + sum,
		"Revision=" + sum: "revision=" + sum,
		"VERSION=3.0":     "version=3.0",
		"version=3.0":     "version=3.0",
		"3.0":             "version=3.0",
		"rev":             "version=rev",
	} {
		if got := revisionArg(in); got != want {
			t.Errorf("revisionArg(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPinnedToCommit(t *testing.T) {
	sum := "54a28aa1d7e442e93f29cbce6fee9eb62a3d33d02a0a21bf1871b1fc0b519d76"
	for refspec, want := range map[string]bool{
		sum: true, "self:" + sum: true, "demo:demo/x86_64/stable": false, "demo/x86_64/stable": false,
	} {
		if got := pinnedToCommit(refspec); got != want {
			t.Errorf("pinnedToCommit(%q) = %v, want %v", refspec, got, want)
		}
	}
}

func TestSameOriginIgnoresPinOnlyWhenAsked(t *testing.T) {
	before := origin.New("demo:demo/x86_64/stable")
	text := string(before.Bytes())
	pinned := before.Clone()
	pinned.SetOverrideCommit("54a28aa1d7e442e93f29cbce6fee9eb62a3d33d02a0a21bf1871b1fc0b519d76")
	if sameOrigin(pinned, text, false) {
		t.Error("without ignorePin, a new pin must count as a change")
	}
	if !sameOrigin(pinned, text, true) {
		t.Error("with ignorePin, a new pin alone must count as no change")
	}
	other := origin.New("demo:demo/x86_64/devel")
	if sameOrigin(other, text, true) {
		t.Error("another refspec must count as a change")
	}
}

func TestUnconfiguredStateRefuses(t *testing.T) {
	o, err := origin.Parse([]byte("[origin]\nrefspec=demo:stable\nunconfigured-state=Register first\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConfigured(o); err == nil || err.Error() != "Register first" {
		t.Errorf("checkConfigured = %v, want the origin's words", err)
	}
	if err := checkConfigured(origin.New("demo:stable")); err != nil {
		t.Errorf("checkConfigured of a configured origin = %v", err)
	}
}
