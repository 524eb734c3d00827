package transactions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
)

// DefaultOSName is the stateroot a request without one acts on: the booted one, or
// on a host not booted from this sysroot (tests, image builds) the default
// deployment's.
func DefaultOSName(s *ostree.Sysroot) string {
	if b := s.BootedDeployment(); b != nil {
		return b.Osname
	}
	if ds := s.Deployments(); len(ds) > 0 {
		return ds[0].Osname
	}
	return ""
}

// OriginOf reads and parses a deployment's origin file, saying which file to fix
// when it is malformed. The file is read from disk each time rather than taken
// from libostree's copy, which is only refreshed when the deployment list
// changes: an administrator's edit must count at once.
func OriginOf(s *ostree.Sysroot, d *ostree.Deployment) (*origin.Origin, error) {
	path := s.DeploymentPath(d) + ".origin"
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = []byte(d.Origin), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading origin of deployment %s: %w", d.ID(), err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("deployment %s has no origin file; deploy a refspec with `strata rebase REMOTE:REF`", d.ID())
	}
	o, err := origin.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("deployment %s has a malformed origin file %s: %w", d.ID(), path, err)
	}
	return o, nil
}

// BaseChecksum is the base image commit of a deployment: the commit itself, or its
// parent when the commit is a client-side layer over a base.
func BaseChecksum(repo *ostree.Repo, d *ostree.Deployment) string {
	c, err := repo.ReadCommit(d.Checksum)
	if err != nil {
		return d.Checksum
	}
	if layered, _ := c.Metadata["rpmostree.clientlayer"].(bool); layered && c.Parent != "" {
		return c.Parent
	}
	return d.Checksum
}

// Update describes a newer base commit that the sysroot's repo already knows about
// (fetched by an upgrade check or a download-only upgrade).
type Update struct {
	Osname    string
	Refspec   string
	Checksum  string
	Version   string
	Timestamp time.Time
}

// CachedUpdate reports the update for osname found in the local repo, or nil.
// It compares against the deployment that an upgrade would start from.
func CachedUpdate(s *ostree.Sysroot, osname string) *Update {
	merge := s.MergeDeployment(osname)
	if merge == nil {
		return nil
	}
	o, err := OriginOf(s, merge)
	if err != nil || o.OverrideCommit() != "" {
		return nil
	}
	repo := s.Repo()
	head, err := repo.ResolveRev(o.Refspec(), true)
	if err != nil || head == "" {
		return nil
	}
	base := BaseChecksum(repo, merge)
	if head == base {
		return nil
	}
	newCommit, err := repo.ReadCommit(head)
	if err != nil {
		return nil
	}
	if cur, err := repo.ReadCommit(base); err == nil && newCommit.Timestamp.Before(cur.Timestamp) {
		return nil
	}
	return &Update{Osname: osname, Refspec: o.Refspec(), Checksum: head, Version: newCommit.Version, Timestamp: newCommit.Timestamp}
}
