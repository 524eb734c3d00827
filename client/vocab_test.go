package client

import (
	"testing"

	"github.com/strata-os/strata/internal/nevra"
)

// TestChangeTypesMatchTheDaemon: client's wire values are the daemon's
// (rpm-ostree's numbering), kind by kind, and print the same words.
func TestChangeTypesMatchTheDaemon(t *testing.T) {
	for _, tc := range []struct {
		client ChangeType
		daemon nevra.ChangeType
	}{
		{ChangeAdded, nevra.Added},
		{ChangeRemoved, nevra.Removed},
		{ChangeUpgraded, nevra.Upgraded},
		{ChangeDowngraded, nevra.Downgraded},
	} {
		if uint32(tc.client) != uint32(tc.daemon) {
			t.Errorf("client %s = %d, daemon %s = %d", tc.client, uint32(tc.client), tc.daemon, uint32(tc.daemon))
		}
		if tc.client.String() != tc.daemon.String() {
			t.Errorf("client says %q, daemon %q", tc.client, tc.daemon)
		}
	}
}

// TestNEVRAFormatsMatchTheDaemon: what the client prints from wire tuples
// is what the daemon's vocabulary prints for the same package.
func TestNEVRAFormatsMatchTheDaemon(t *testing.T) {
	for _, p := range []nevra.Package{
		{Name: "bash", Version: "5.2.15", Release: "2.fc39", Arch: "x86_64"},
		{Name: "perl-Time-Local", Epoch: 2, Version: "1.300", Release: "7.el9", Arch: "noarch"},
	} {
		n := NEVRA{NEVRA: p.NEVRA(), Name: p.Name, Epoch: uint64(p.Epoch), Version: p.Version, Release: p.Release, Arch: p.Arch}
		if n.EVR() != p.EVR() {
			t.Errorf("client EVR %q, daemon %q", n.EVR(), p.EVR())
		}
		ref := PkgRef{Name: p.Name, EVR: p.EVR(), Arch: p.Arch}
		if ref.NEVRA() != p.NEVRA() {
			t.Errorf("client NEVRA %q, daemon %q", ref.NEVRA(), p.NEVRA())
		}
	}
}
