package transactions

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
)

// fetch pulls what opts name from the remote of refspec, reporting progress. A
// refspec without a remote names a local ref: there is nothing to fetch.
func fetch(ctx context.Context, repo Repo, refspec string, opts ostree.PullOptions, p Progress) error {
	remote, ref := origin.SplitRefspec(refspec)
	if remote == "" {
		return nil
	}
	opts.Remote = remote
	opts.Refs = []string{ref}
	p.TaskBegin(fmt.Sprintf("Receiving metadata objects for %s", refspec))
	defer p.End()
	prev, _ := repo.ResolveRev(refspec, true)
	err := repo.Pull(ctx, opts, func(pp ostree.PullProgress) { p.Download(downloadProgress(pp)) })
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		// A signature refusal is not a reachability problem: its message
		// already says which key the remote trusts and what to do.
		var sigErr *ostree.SignatureError
		if errors.As(err, &sigErr) {
			return fmt.Errorf("refusing %s: %w", refspec, sigErr)
		}
		return fmt.Errorf("fetching %s from remote %q: %w; check the refspec (`ostree remote refs %s`) and that the remote is reachable", ref, remote, err, remote)
	}
	pulled := ""
	if len(opts.OverrideCommitIDs) > 0 {
		pulled = opts.OverrideCommitIDs[0]
	} else if pulled, err = repo.ResolveRev(refspec, true); err != nil {
		return fmt.Errorf("resolving %s after the pull: %w", refspec, err)
	}
	// A commit-only pull walks history (deploy version=…) from the tip it
	// leaves on the ref: the commit chosen is verified when it is pulled
	// whole, and every deploying path verifies what it deploys.
	if pulled != "" && !opts.CommitOnly {
		if _, err := verifyCommitSigned(repo, refspec, pulled); err != nil {
			// The ref must not keep pointing at a refused commit: the
			// next --cache-only upgrade or status would offer it.
			if pulled != prev {
				if rerr := repo.SetRef(remote, ref, prev); rerr != nil {
					return fmt.Errorf("refusing %s: %w (and resetting the ref failed: %v)", refspec, err, rerr)
				}
			}
			return fmt.Errorf("refusing %s: %w", refspec, err)
		}
	}
	p.TaskEnd("done")
	return nil
}

// fetchHead pulls the newest commit of refspec and returns its checksum.
func fetchHead(ctx context.Context, repo Repo, refspec string, cacheOnly bool, p Progress) (string, error) {
	if !cacheOnly {
		if err := fetch(ctx, repo, refspec, ostree.PullOptions{}, p); err != nil {
			return "", err
		}
	}
	csum, err := repo.ResolveRev(refspec, true)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", refspec, err)
	}
	if csum == "" {
		return "", fmt.Errorf("refspec %s is not known to the local repo; run without --cache-only to fetch it", refspec)
	}
	if cacheOnly {
		if _, err := verifyCommitSigned(repo, refspec, csum); err != nil {
			return "", fmt.Errorf("refusing %s: %w", refspec, err)
		}
	}
	return csum, nil
}

// fetchRevision finds and pulls a specific commit of refspec: revision is a
// checksum, "revision=CHECKSUM" or "version=VERSION" (the commit's "version"
// metadata, searched in the ref's history).
// With cacheOnly nothing is fetched: the revision must already be in the repo.
func fetchRevision(ctx context.Context, repo Repo, refspec, revision string, cacheOnly, skipBranchCheck bool, p Progress) (string, error) {
	version, isVersion := strings.CutPrefix(revision, "version=")
	csum, _ := strings.CutPrefix(revision, "revision=")
	if isVersion && pinnedToCommit(refspec) {
		return "", fmt.Errorf("Cannot look up version while pinned to commit %s; rebase to a branch (REMOTE:REF) first", refspec)
	}
	if isVersion {
		found, err := findVersion(ctx, repo, refspec, version, cacheOnly, p)
		if err != nil {
			return "", err
		}
		csum = found
	} else if !isChecksum(csum) {
		return "", fmt.Errorf("revision %q is neither a 64-character commit checksum nor version=VERSION", revision)
	} else if !skipBranchCheck && !cacheOnly {
		// As rpm-ostree: a checksum must be in the ref's history unless
		// the caller says it knows better (--skip-branch-check). With
		// --cache-only the history is not fetched, so it is not checked.
		p.Message(fmt.Sprintf("Validating checksum '%s'", csum))
		// The walk only looks: the ref must not move to a head whose
		// signatures nobody has checked yet (the pull below does that).
		before, _ := repo.ResolveRev(refspec, true)
		found, err := walkHistory(ctx, repo, refspec, cacheOnly, p, func(c string, _ *ostree.Commit) bool { return c == csum })
		if after, _ := repo.ResolveRev(refspec, true); before != "" && after != before {
			remote, ref := origin.SplitRefspec(refspec)
			if rerr := repo.SetRef(remote, ref, before); rerr != nil {
				return "", fmt.Errorf("restoring %s after looking through its history: %w", refspec, rerr)
			}
		}
		if err != nil {
			return "", err
		}
		if found == "" {
			return "", fmt.Errorf("Checksum %s not found in %s; deploy it anyway with --skip-branch-check", csum, refspec)
		}
	}
	if !cacheOnly {
		// A commit of another branch carries that branch in its ref
		// binding; libostree would refuse it for this ref.
		opts := ostree.PullOptions{OverrideCommitIDs: []string{csum}, DisableVerifyBindings: skipBranchCheck}
		if err := fetch(ctx, repo, refspec, opts, p); err != nil {
			return "", err
		}
	}
	if _, err := repo.ReadCommit(csum); err != nil {
		return "", fmt.Errorf("commit %s of %s is not available: %w", csum, refspec, err)
	}
	if cacheOnly {
		if _, err := verifyCommitSigned(repo, refspec, csum); err != nil {
			return "", fmt.Errorf("refusing %s: %w", refspec, err)
		}
	}
	return csum, nil
}

// findVersion walks the history of refspec (fetching commit metadata only) for the
// commit whose "version" metadata equals version.
func findVersion(ctx context.Context, repo Repo, refspec, version string, cacheOnly bool, p Progress) (string, error) {
	csum, err := walkHistory(ctx, repo, refspec, cacheOnly, p, func(_ string, c *ostree.Commit) bool { return c.Version == version })
	if err != nil {
		return "", err
	}
	if csum == "" {
		return "", fmt.Errorf("version %s not found in the history of %s; list versions with `ostree log %s`", version, refspec, refspec)
	}
	return csum, nil
}

// walkHistory fetches the commit metadata of refspec's whole history (unless
// cacheOnly) and returns the first commit, newest first, that match accepts,
// or "" when none does.
func walkHistory(ctx context.Context, repo Repo, refspec string, cacheOnly bool, p Progress, match func(string, *ostree.Commit) bool) (string, error) {
	if !cacheOnly {
		if err := fetch(ctx, repo, refspec, ostree.PullOptions{CommitOnly: true, Depth: -1}, p); err != nil {
			return "", err
		}
	}
	csum, err := repo.ResolveRev(refspec, true)
	if err != nil || csum == "" {
		return "", fmt.Errorf("resolving %s: refspec unknown (%v)", refspec, err)
	}
	for csum != "" {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		c, err := repo.ReadCommit(csum)
		if err != nil {
			break // history ends where the repo has no more commits
		}
		if match(csum, c) {
			return csum, nil
		}
		csum = c.Parent
	}
	return "", nil
}

func isChecksum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
