package transactions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
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
	return baseOfCommit(repo, d.Checksum)
}

func baseOfCommit(repo *ostree.Repo, checksum string) string {
	c, err := repo.ReadCommit(checksum)
	if err != nil {
		return checksum
	}
	return BaseOf(c)
}

// BaseOf is BaseChecksum for a commit already read.
func BaseOf(c *ostree.Commit) string {
	if layered, _ := c.Metadata["rpmostree.clientlayer"].(bool); layered && c.Parent != "" {
		return c.Parent
	}
	return c.Checksum
}

// baseRefPrefix keeps the base commits of layered deployments alive: libostree
// keeps deployed commits when it prunes, but not their parents.
const baseRefPrefix = "rpmostree/base/"

// syncBaseRefs makes rpmostree/base/<n> name exactly the bases of the layered
// deployments in deployments, plus extra.
func syncBaseRefs(repo *ostree.Repo, deployments []*ostree.Deployment, extra ...string) error {
	var want []string
	for _, d := range deployments {
		if base := BaseChecksum(repo, d); base != d.Checksum && !slices.Contains(want, base) {
			want = append(want, base)
		}
	}
	for _, base := range extra {
		if !slices.Contains(want, base) {
			want = append(want, base)
		}
	}
	have, err := repo.ListRefs(strings.TrimSuffix(baseRefPrefix, "/"))
	if err != nil {
		return err
	}
	// Each ref change is a repo transaction (with its fsync): touch only
	// what differs.
	wantRefs := map[string]string{}
	for i, base := range want {
		wantRefs[fmt.Sprintf("%s%d", baseRefPrefix, i)] = base
	}
	for ref := range have {
		if _, keep := wantRefs[ref]; !keep {
			if err := repo.SetRef("", ref, ""); err != nil {
				return err
			}
		}
	}
	for ref, csum := range wantRefs {
		if have[ref] != csum {
			if err := repo.SetRef("", ref, csum); err != nil {
				return err
			}
		}
	}
	return nil
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
