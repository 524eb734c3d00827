package transactions

import (
	"testing"

	"github.com/strata-os/strata/internal/ostree"
)

func TestRollbackTarget(t *testing.T) {
	dep := func(os string, booted, staged bool) *ostree.Deployment {
		return &ostree.Deployment{Osname: os, Booted: booted, Staged: staged}
	}
	notBooted := []*ostree.Deployment{dep("demo", false, false), dep("demo", false, false)}
	bootedFirst := []*ostree.Deployment{dep("demo", true, false), dep("demo", false, false)}
	pending := []*ostree.Deployment{dep("demo", false, false), dep("demo", true, false), dep("demo", false, false)}
	otherOS := []*ostree.Deployment{dep("other", false, false), dep("demo", false, false)}
	withStaged := []*ostree.Deployment{dep("demo", false, true), dep("demo", true, false)}
	tests := []struct {
		name string
		in   []*ostree.Deployment
		want *ostree.Deployment
	}{
		{"not booted: second becomes first", notBooted, notBooted[1]},
		{"booted default: the next one", bootedFirst, bootedFirst[1]},
		{"pending above booted: back to booted", pending, pending[1]},
		{"only one deployment of the os", otherOS, nil},
		{"staged deployments are not rollback targets", withStaged, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollbackTarget(tt.in, "demo"); got != tt.want {
				t.Fatalf("rollbackTarget = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestKeepAfterCleanup(t *testing.T) {
	a := &ostree.Deployment{Osname: "demo", Checksum: "a"}
	b := &ostree.Deployment{Osname: "demo", Checksum: "b", Booted: true}
	c := &ostree.Deployment{Osname: "demo", Checksum: "c"}
	pinned := &ostree.Deployment{Osname: "demo", Checksum: "p", Pinned: true}
	other := &ostree.Deployment{Osname: "other", Checksum: "o"}
	all := []*ostree.Deployment{a, b, c, pinned, other}
	names := func(ds []*ostree.Deployment) (s string) {
		for _, d := range ds {
			s += d.Checksum
		}
		return s
	}
	for _, tt := range []struct {
		pending, rollback bool
		want              string
	}{
		{false, false, "abcpo"},
		{true, false, "bcpo"},
		{false, true, "abpo"},
		{true, true, "bpo"},
	} {
		if got := names(keepAfterCleanup(all, "demo", tt.pending, tt.rollback)); got != tt.want {
			t.Errorf("pending=%v rollback=%v: kept %q, want %q", tt.pending, tt.rollback, got, tt.want)
		}
	}
	// Not booted from this sysroot: the default deployment is the anchor.
	a2 := &ostree.Deployment{Osname: "demo", Checksum: "a"}
	c2 := &ostree.Deployment{Osname: "demo", Checksum: "c"}
	if got := names(keepAfterCleanup([]*ostree.Deployment{a2, c2}, "demo", true, true)); got != "a" {
		t.Errorf("not booted: kept %q, want %q", got, "a")
	}
}

func TestResolveRebaseTarget(t *testing.T) {
	for _, tt := range []struct{ current, requested, want string }{
		{"demo:demo/stable", "other:os/next", "other:os/next"},
		{"demo:demo/stable", "demo/devel", "demo:demo/devel"},
		{"demo:demo/stable", "mirror:", "mirror:demo/stable"},
		{"local/ref", "other/ref", "other/ref"},
	} {
		got, err := resolveRebaseTarget(tt.current, tt.requested)
		if err != nil || got != tt.want {
			t.Errorf("resolveRebaseTarget(%q, %q) = %q, %v; want %q", tt.current, tt.requested, got, err, tt.want)
		}
	}
	if _, err := resolveRebaseTarget("demo:x", ""); err == nil {
		t.Error("empty refspec accepted")
	}
}

func TestRevisionArg(t *testing.T) {
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for in, want := range map[string]string{
		sum:                "" + sum,
		"2.0":              "version=2.0",
		"version=2.0":      "version=2.0",
		"revision=" + sum:  "revision=" + sum,
		"0123456789abcdef": "version=0123456789abcdef",
	} {
		if got := revisionArg(in); got != want {
			t.Errorf("revisionArg(%q) = %q, want %q", in, got, want)
		}
	}
}
