package transactions

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/rpmdb"
)

// UpgradeOptions are the knobs of Upgrade (rpm-ostree's names in comments).
type UpgradeOptions struct {
	AllowDowngrade bool // allow-downgrade
	CacheOnly      bool // cache-only: deploy what the repo already has, fetch nothing
	DownloadOnly   bool // download-only: fetch, do not deploy
}

// RebaseOptions are the knobs of Rebase.
type RebaseOptions struct {
	Revision          string // deploy this revision of the new refspec instead of its head
	CacheOnly         bool
	SkipPurge         bool     // keep the old ref in the repo (rpm-ostree deletes it)
	Packages          []string // also layer these packages on the new base
	DisallowDowngrade bool     // refuse a commit older than the current base
}

// DeployOptions are the knobs of Deploy.
type DeployOptions struct {
	CacheOnly         bool
	DisallowDowngrade bool // refuse a commit older than the current base
}

// Result says what a deploying transaction did.
type Result struct {
	Changed  bool   // a new deployment was written
	Checksum string // the deployed commit
}

// Upgrade deploys the newest commit of the current refspec of osname.
func (e *Engine) Upgrade(ctx context.Context, osname string, opts UpgradeOptions, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s *ostree.Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		unchanged := string(o.Bytes()) // the origin as it is, to tell a no-op
		// An upgrade leaves a pinned revision (from `deploy`) and follows the ref again.
		o.SetOverrideCommit("")
		repo := s.Repo()
		csum, err := fetchHead(ctx, repo, o.Refspec(), opts.CacheOnly, p)
		if err != nil {
			return err
		}
		if csum == BaseChecksum(repo, merge) && string(o.Bytes()) == unchanged {
			p.Message("No upgrade available.")
			return nil
		}
		if !opts.AllowDowngrade {
			if err := checkNotOlder(repo, BaseChecksum(repo, merge), csum); err != nil {
				return err
			}
		}
		if opts.DownloadOnly {
			p.Message(fmt.Sprintf("Update %s downloaded; run `strata upgrade` to deploy it.", csum))
			return nil
		}
		res, err = e.deployBase(ctx, s, osname, csum, merge, o, p)
		return err
	})
	return res, err
}

// Rebase switches osname to another refspec ("remote:ref", "ref" keeping the
// current remote, or "remote:" keeping the current ref) and deploys it.
func (e *Engine) Rebase(ctx context.Context, osname, refspec string, opts RebaseOptions, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s *ostree.Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		previous := o.Refspec()
		newRefspec, err := resolveRebaseTarget(previous, refspec)
		if err != nil {
			return err
		}
		o.SetRefspec(newRefspec)
		o.SetOverrideCommit("")
		if len(opts.Packages) > 0 {
			requested := o.RequestedPackages()
			for _, name := range opts.Packages {
				if !slices.Contains(requested, name) {
					requested = append(requested, name)
				}
			}
			o.SetRequestedPackages(requested)
		}
		repo := s.Repo()
		var csum string
		if opts.Revision != "" {
			csum, err = fetchRevision(ctx, repo, newRefspec, revisionArg(opts.Revision), opts.CacheOnly, p)
			o.SetOverrideCommit(csum)
		} else {
			csum, err = fetchHead(ctx, repo, newRefspec, opts.CacheOnly, p)
		}
		if err != nil {
			return err
		}
		if opts.DisallowDowngrade {
			if err := checkNotOlder(repo, BaseChecksum(repo, merge), csum); err != nil {
				return err
			}
		}
		res, err = e.deployBase(ctx, s, osname, csum, merge, o, p)
		if err != nil || opts.SkipPurge || newRefspec == previous {
			return err
		}
		// As rpm-ostree does, the ref left behind is deleted; the previous
		// deployment keeps its commit.
		remote, ref := origin.SplitRefspec(previous)
		if err := repo.SetRef(remote, ref, ""); err != nil {
			p.Message(fmt.Sprintf("warning: could not delete the old ref %s: %v", previous, err))
		}
		return nil
	})
	return res, err
}

// Deploy deploys a specific revision (checksum, "revision=…" or "version=…") of
// the current refspec and pins the origin to it until the next upgrade.
func (e *Engine) Deploy(ctx context.Context, osname, revision string, opts DeployOptions, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s *ostree.Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		unchanged := string(o.Bytes()) // the origin as it is, to tell a no-op
		csum, err := fetchRevision(ctx, s.Repo(), o.Refspec(), revisionArg(revision), opts.CacheOnly, p)
		if err != nil {
			return err
		}
		if opts.DisallowDowngrade {
			if err := checkNotOlder(s.Repo(), BaseChecksum(s.Repo(), merge), csum); err != nil {
				return err
			}
		}
		o.SetOverrideCommit(csum)
		if csum == BaseChecksum(s.Repo(), merge) && string(o.Bytes()) == unchanged {
			p.Message("No change.")
			return nil
		}
		res, err = e.deployBase(ctx, s, osname, csum, merge, o, p)
		return err
	})
	return res, err
}

// CheckUpdate fetches the commit metadata of the newest commit of osname's
// refspec so that CachedUpdate can describe it (upgrade --check/--preview).
func (e *Engine) CheckUpdate(ctx context.Context, osname string, p Progress) error {
	return e.run(ctx, func(s *ostree.Sysroot) error {
		_, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		// The update's rpmdb comes along so its package diff can be shown
		// without downloading the whole tree.
		return fetch(ctx, s.Repo(), o.Refspec(), ostree.PullOptions{Subdirs: []string{"/" + rpmdb.Dir}}, p)
	})
}

// revisionArg turns a user's revision into fetchRevision's form: a bare checksum
// stays as it is, anything else not already prefixed is a version.
func revisionArg(rev string) string {
	if isChecksum(rev) {
		return rev
	}
	for _, prefix := range []string{"revision=", "version="} {
		if strings.HasPrefix(rev, prefix) {
			return rev
		}
	}
	return "version=" + rev
}

func resolveRebaseTarget(current, requested string) (string, error) {
	if requested == "" {
		return "", fmt.Errorf("rebase needs a refspec (REMOTE:REF, REF or REMOTE:)")
	}
	curRemote, curRef := origin.SplitRefspec(current)
	remote, ref := origin.SplitRefspec(requested)
	switch {
	case remote != "" && ref == "": // "remote:" keeps the ref
		ref = curRef
	case remote == "" && requested[0] != ':': // "ref" keeps the remote
		remote = curRemote
	}
	if remote == "" {
		return ref, nil
	}
	return remote + ":" + ref, nil
}

// mergeOrigin finds the deployment a new one of osname starts from (the booted
// one, else the default) and a copy of its origin to modify.
func mergeOrigin(s *ostree.Sysroot, osname string) (*ostree.Deployment, *origin.Origin, error) {
	merge := s.MergeDeployment(osname)
	if merge == nil {
		return nil, nil, fmt.Errorf("stateroot %q has no deployment to start from; deploy one with `ostree admin deploy --os=%s`", osname, osname)
	}
	o, err := OriginOf(s, merge)
	if err != nil {
		return nil, nil, err
	}
	return merge, o.Clone(), nil
}

func checkNotOlder(repo *ostree.Repo, current, candidate string) error {
	cur, err := repo.ReadCommit(current)
	if err != nil {
		return nil // nothing to compare with: the current commit was pruned
	}
	next, err := repo.ReadCommit(candidate)
	if err != nil {
		return fmt.Errorf("reading commit %s: %w", candidate, err)
	}
	if next.Timestamp.Before(cur.Timestamp) {
		return fmt.Errorf("new commit %s (%s) is older than the current one %s (%s); pass --allow-downgrade to deploy it anyway",
			candidate, next.Timestamp.Format(time.RFC3339), current, cur.Timestamp.Format(time.RFC3339))
	}
	return nil
}

// deployBase deploys base with the packages o layers on it re-resolved against
// that base.
func (e *Engine) deployBase(ctx context.Context, s *ostree.Sysroot, osname, base string, merge *ostree.Deployment, o *origin.Origin, p Progress) (Result, error) {
	commit, err := e.compose(ctx, s, merge, base, o, nil, PackageChanges{}, p)
	if err != nil {
		return Result{}, err
	}
	return writeDeployment(ctx, s, osname, commit, merge, o, nil, p)
}

// writeDeployment checks out csum as a new deployment of osname with origin o,
// /etc merged from merge, and makes it the default. Until the final write the
// old deployment list is untouched: a failure or cancel leaves at most an
// unreferenced directory that libostree's cleanup removes.
// kargs nil keeps the merge deployment's kernel arguments.
func writeDeployment(ctx context.Context, s *ostree.Sysroot, osname, csum string, merge *ostree.Deployment, o *origin.Origin, kargs []string, p Progress) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	p.TaskBegin("Writing deployment")
	repo := s.Repo()
	if base := baseOfCommit(repo, csum); base != csum {
		// Hold the new base before libostree prunes during the write.
		if err := syncBaseRefs(repo, s.Deployments(), base); err != nil {
			return Result{}, fmt.Errorf("referencing base commit: %w", err)
		}
	}
	dep, err := s.DeployTree(ctx, osname, csum, string(o.Bytes()), merge, kargs)
	if err != nil {
		cleanupAfterFailure(s)
		return Result{}, fmt.Errorf("deploying commit %s: %w", csum, err)
	}
	// Once the new boot order is being written there is no going back halfway:
	// libostree swaps it in atomically, so it must not see a cancel.
	if err := s.SimpleWriteDeployment(context.WithoutCancel(ctx), osname, dep, merge, false); err != nil {
		cleanupAfterFailure(s)
		return Result{}, fmt.Errorf("writing deployment list: %w", err)
	}
	if err := syncBaseRefs(repo, s.Deployments()); err != nil {
		return Result{}, fmt.Errorf("updating base commit refs: %w", err)
	}
	p.TaskEnd("done")
	return Result{Changed: true, Checksum: csum}, nil
}

func cleanupAfterFailure(s *ostree.Sysroot) {
	_ = s.Cleanup(context.Background())
}
