package transactions

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/rpmdb"
)

// Previews of a rebase or a deploy: the Download*RpmDiff half fetches the
// target commit's metadata and rpmdb (not its tree), the GetCached*RpmDiff
// half compares the target's packages with the base a new deployment would
// start from, using only what the repo already has. Both work on OSTree
// refspecs; a container image is previewed by pulling it (rebase does that).

// CheckRebase fetches the newest commit of refspec (completed from the
// current one as a rebase would) far enough for RebaseDiff.
func (e *Engine) CheckRebase(ctx context.Context, osname, refspec string, p Progress) error {
	return e.run(ctx, func(s Sysroot) error {
		target, err := previewRebaseTarget(s, osname, refspec)
		if err != nil {
			return err
		}
		return fetch(ctx, s.Repo(), target, ostree.PullOptions{Subdirs: []string{"/" + rpmdb.Dir}}, p)
	})
}

// RebaseDiff compares the current base of osname with the head of refspec
// in the local repo. A nil Update means the repo does not have it yet.
func (e *Engine) RebaseDiff(ctx context.Context, osname, refspec string) ([]nevra.Change, *Update, error) {
	var changes []nevra.Change
	var update *Update
	err := e.view(ctx, true, func(s Sysroot) error {
		target, err := previewRebaseTarget(s, osname, refspec)
		if err != nil {
			return err
		}
		head, _ := s.Repo().ResolveRev(target, true)
		if head == "" {
			return nil
		}
		changes, update, err = previewDiff(ctx, s, osname, target, head)
		return err
	})
	return changes, update, err
}

// CheckDeploy fetches the commit a deploy of revision would use (checksum,
// revision=…, version=…) far enough for DeployDiff.
func (e *Engine) CheckDeploy(ctx context.Context, osname, revision string, p Progress) error {
	return e.run(ctx, func(s Sysroot) error {
		refspec, err := previewRefspec(s, osname)
		if err != nil {
			return err
		}
		csum, err := previewRevision(ctx, s, refspec, revision, false, p)
		if err != nil {
			return err
		}
		return fetch(ctx, s.Repo(), refspec, ostree.PullOptions{OverrideCommitIDs: []string{csum}, Subdirs: []string{"/" + rpmdb.Dir}}, p)
	})
}

// DeployDiff compares the current base of osname with revision, as far as
// the local repo has it. A nil Update means it does not.
func (e *Engine) DeployDiff(ctx context.Context, osname, revision string) ([]nevra.Change, *Update, error) {
	var changes []nevra.Change
	var update *Update
	err := e.view(ctx, true, func(s Sysroot) error {
		refspec, err := previewRefspec(s, osname)
		if err != nil {
			return err
		}
		csum, err := previewRevision(ctx, s, refspec, revision, true, discardProgress{})
		if err != nil {
			return nil // not fetched yet: nothing cached to describe
		}
		if _, err := s.Repo().ReadCommit(csum); err != nil {
			return nil
		}
		changes, update, err = previewDiff(ctx, s, osname, refspec, csum)
		return err
	})
	return changes, update, err
}

// previewRefspec is the OSTree refspec osname follows.
func previewRefspec(s Sysroot, osname string) (string, error) {
	_, o, err := mergeOrigin(s, osname)
	if err != nil {
		return "", err
	}
	if o.ImageReference() != "" {
		return "", fmt.Errorf("the base of %s is a container image; previewing a deploy of it is not supported yet: run `strata rebase` to the image digest instead", osname)
	}
	return o.Refspec(), nil
}

func previewRebaseTarget(s Sysroot, osname, refspec string) (string, error) {
	_, o, err := mergeOrigin(s, osname)
	if err != nil {
		return "", err
	}
	if image.IsImageReference(refspec) {
		return "", fmt.Errorf("previewing a rebase to container image %s is not supported yet; run `strata rebase` to pull it", refspec)
	}
	current := o.Refspec()
	if o.ImageReference() != "" {
		current = ""
	}
	return resolveRebaseTarget(current, refspec)
}

// previewRevision resolves a deploy revision to a checksum; with cacheOnly
// only the local history is searched for a version.
func previewRevision(ctx context.Context, s Sysroot, refspec, revision string, cacheOnly bool, p Progress) (string, error) {
	rev := revisionArg(strings.TrimSpace(revision))
	if version, ok := strings.CutPrefix(rev, "version="); ok {
		return findVersion(ctx, s.Repo(), refspec, version, cacheOnly, p)
	}
	csum, _ := strings.CutPrefix(rev, "revision=")
	if !isChecksum(csum) {
		return "", fmt.Errorf("revision %q is neither a 64-character commit checksum nor version=VERSION", revision)
	}
	return csum, nil
}

// previewDiff lists what changes from the base of osname to commit target.
func previewDiff(ctx context.Context, s Sysroot, osname, refspec, target string) ([]nevra.Change, *Update, error) {
	repo := s.Repo()
	c, err := repo.ReadCommit(target)
	if err != nil {
		return nil, nil, fmt.Errorf("reading commit %s: %w", target, err)
	}
	from, err := commitPackages(ctx, repo, readBase(repo, s.MergeDeployment(osname)).checksum)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the current base's packages: %w", err)
	}
	to, err := commitPackages(ctx, repo, target)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the packages of %s (fetch them first with the Download*RpmDiff call): %w", target, err)
	}
	return rpmdb.Diff(from, to), &Update{Osname: osname, Refspec: refspec, Checksum: target, Version: c.Version, Timestamp: c.Timestamp}, nil
}

// discardProgress is the Progress of work no client watches (a query).
type discardProgress struct{}

func (discardProgress) Message(string)            {}
func (discardProgress) TaskBegin(string)          {}
func (discardProgress) TaskEnd(string)            {}
func (discardProgress) Percent(string, uint32)    {}
func (discardProgress) Download(DownloadProgress) {}
func (discardProgress) End()                      {}
