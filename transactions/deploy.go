package transactions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
)

// UpgradeOptions are the knobs of Upgrade (rpm-ostree's names in comments).
type UpgradeOptions struct {
	AllowDowngrade bool // allow-downgrade
	CacheOnly      bool // cache-only: deploy what the repo already has, fetch nothing
	DownloadOnly   bool // download-only: fetch, do not deploy
	// LockFinalization (lock-finalization) stages the new deployment
	// locked: shutdown leaves it staged until FinalizeDeployment.
	LockFinalization bool
}

// RebaseOptions are the knobs of Rebase.
type RebaseOptions struct {
	Revision          string // deploy this revision of the new refspec instead of its head
	CacheOnly         bool
	SkipPurge         bool     // keep the old ref in the repo (rpm-ostree deletes it)
	Packages          []string // also layer these packages on the new base
	DisallowDowngrade bool     // refuse a commit older than the current base
	LockFinalization  bool     // see UpgradeOptions
	SkipBranchCheck   bool     // see DeployOptions
	// CustomOriginURL and CustomOriginDescription record where the new
	// base came from when it is named by checksum or by image digest
	// (rpm-ostree's custom-origin); ignored for a refspec, which says that
	// itself.
	CustomOriginURL, CustomOriginDescription string
}

// DeployOptions are the knobs of Deploy.
type DeployOptions struct {
	CacheOnly         bool
	DisallowDowngrade bool // refuse a commit older than the current base
	LockFinalization  bool // see UpgradeOptions
	// SkipBranchCheck (skip-branch-check) deploys a checksum even when it
	// is not in the history of the followed ref.
	SkipBranchCheck bool
}

// Result says what a deploying transaction did.
type Result struct {
	Changed  bool   // a new deployment was written
	Checksum string // the deployed commit
}

// Upgrade deploys the newest commit of the current refspec of osname.
func (e *Engine) Upgrade(ctx context.Context, osname string, opts UpgradeOptions, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		plan, err := prepareBase(ctx, s, baseChange{
			osname: osname,
			// An upgrade leaves a pinned revision (from `deploy`) and follows the ref again.
			edit: func(o *origin.Origin) error {
				if err := checkConfigured(o); err != nil {
					return err
				}
				o.SetOverrideCommit("")
				return nil
			},
			fetch: func(ctx context.Context, src baseSource, o *origin.Origin) (string, error) {
				return src.fetchHead(ctx, s, opts.CacheOnly, p)
			},
			checkDowngrade: !opts.AllowDowngrade,
			noChange:       "No upgrade available.",
			pinnedNoChange: "Pinned to commit; no upgrade available",
			lock:           opts.LockFinalization,
		}, p)
		if err != nil || plan == nil {
			return err
		}
		if opts.DownloadOnly {
			p.Message(fmt.Sprintf("Update %s downloaded; run `strata upgrade` to deploy it.", plan.target))
			return nil
		}
		res, err = e.deployBase(ctx, s, plan, p)
		return err
	})
	return res, err
}

// Rebase switches osname to another base and deploys it. The new base is a
// container image reference (ostree-unverified-registry:…, see
// image.ParseReference), or an OSTree refspec: "remote:ref", "ref" keeping
// the current remote, or "remote:" keeping the current ref.
func (e *Engine) Rebase(ctx context.Context, osname, refspec string, opts RebaseOptions, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		var previous, next string // OSTree refspecs before and after; "" for an image
		plan, err := prepareBase(ctx, s, baseChange{
			osname: osname,
			edit: func(o *origin.Origin) error {
				previous = o.Refspec()
				if err := rebaseOrigin(o, refspec, opts); err != nil {
					return err
				}
				next = o.Refspec()
				return nil
			},
			fetch: func(ctx context.Context, src baseSource, o *origin.Origin) (string, error) {
				if csum := o.Refspec(); isChecksum(csum) && strings.Contains(previous, ":") {
					// A bare commit is fetched through the remote and ref
					// followed so far, as rpm-ostree does; naming a commit
					// is the user's choice, so its branch is not checked.
					return ostreeBase{refspec: previous}.fetchRevision(ctx, s, csum, opts.CacheOnly, true, p)
				}
				if opts.Revision == "" {
					return src.fetchHead(ctx, s, opts.CacheOnly, p)
				}
				csum, err := src.fetchRevision(ctx, s, revisionArg(opts.Revision), opts.CacheOnly, opts.SkipBranchCheck, p)
				o.SetOverrideCommit(csum)
				return csum, err
			},
			checkDowngrade: opts.DisallowDowngrade,
			lock:           opts.LockFinalization,
			// A rebase always deploys, even onto the commit it runs.
		}, p)
		if err != nil {
			return err
		}
		res, err = e.deployBase(ctx, s, plan, p)
		if err != nil || opts.SkipPurge || previous == "" || next == previous {
			return err
		}
		// As rpm-ostree does, the ref left behind is deleted; the previous
		// deployment keeps its commit. An image left behind is pruned by
		// `cleanup -b` once no deployment uses it.
		remote, ref := origin.SplitRefspec(previous)
		if err := s.Repo().SetRef(remote, ref, ""); err != nil {
			p.Message(fmt.Sprintf("warning: could not delete the old ref %s: %v", previous, err))
		}
		return nil
	})
	return res, err
}

// rebaseOrigin points o at the rebase target, following its head, with
// opts.Packages added to the requested ones. An image reference is checked
// here, before anything is fetched.
func rebaseOrigin(o *origin.Origin, target string, opts RebaseOptions) error {
	if opts.CustomOriginURL != "" && opts.CustomOriginDescription == "" {
		return fmt.Errorf("Invalid custom-origin: a custom origin URL needs a description too (--custom-origin-description)")
	}
	// A custom origin only describes a base named by content (a checksum
	// or an image digest); any other rebase drops the previous one.
	o.SetCustomOrigin("", "")
	// Rebasing is how a host leaves a vendor's unconfigured state; the new
	// origin does not carry it (rpm-ostree writes new origins without it).
	o.Delete("origin", "unconfigured-state")
	target = strings.TrimPrefix(target, "ostree://")
	if isChecksum(target) {
		if opts.Revision != "" {
			return fmt.Errorf("--revision does not apply to a rebase to a commit checksum; name only the checksum")
		}
		o.SetRefspec(target)
		o.SetOverrideCommit("")
		o.SetCustomOrigin(opts.CustomOriginURL, opts.CustomOriginDescription)
	} else if image.IsImageReference(target) {
		ref, err := image.ParseReference(target)
		if err != nil {
			return err
		}
		if opts.Revision != "" {
			return fmt.Errorf("--revision does not apply to a container image; name the image by digest instead (%s@sha256:<digest>)", target)
		}
		o.SetImageReference(ref.String())
		if strings.Contains(target, "@sha256:") {
			o.SetCustomOrigin(opts.CustomOriginURL, opts.CustomOriginDescription)
		}
	} else {
		// rpm-ostree accepts "ostree://REMOTE:REF" for an OSTree refspec
		// (the prefix was dropped above).
		refspec, err := resolveRebaseTarget(o.Refspec(), target)
		if err != nil {
			return err
		}
		o.SetRefspec(refspec)
		o.SetOverrideCommit("")
	}
	requested := o.RequestedPackages()
	for _, name := range opts.Packages {
		if !slices.Contains(requested, name) {
			requested = append(requested, name)
		}
	}
	o.SetRequestedPackages(requested)
	return nil
}

// Deploy deploys a specific revision (checksum, "revision=…" or "version=…") of
// the current refspec and pins the origin to it until the next upgrade.
func (e *Engine) Deploy(ctx context.Context, osname, revision string, opts DeployOptions, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		plan, err := prepareBase(ctx, s, baseChange{
			osname:       osname,
			edit:         checkConfigured,
			pinsRevision: true,
			fetch: func(ctx context.Context, src baseSource, o *origin.Origin) (string, error) {
				csum, err := src.fetchRevision(ctx, s, revisionArg(revision), opts.CacheOnly, opts.SkipBranchCheck, p)
				o.SetOverrideCommit(csum)
				return csum, err
			},
			checkDowngrade: opts.DisallowDowngrade,
			noChange:       "No change.",
			lock:           opts.LockFinalization,
		}, p)
		if err != nil || plan == nil {
			return err
		}
		res, err = e.deployBase(ctx, s, plan, p)
		return err
	})
	return res, err
}

// baseChange says how upgrade, rebase and deploy pick their new base;
// prepareBase runs the steps they share.
type baseChange struct {
	osname string
	// pinsRevision: the change only pins the base to a revision (deploy),
	// so deploying the commit already deployed is no change, pinned or not
	// (as rpm-ostree sees it).
	pinsRevision bool
	// pinnedNoChange replaces noChange when the refspec is a commit
	// checksum, which never moves.
	pinnedNoChange string
	// edit changes the origin copy before anything is fetched (nil: no change).
	edit func(o *origin.Origin) error
	// fetch brings the new base (from src, what the edited origin follows)
	// into the repo and returns its checksum; it may pin the origin to that
	// commit.
	fetch func(ctx context.Context, src baseSource, o *origin.Origin) (string, error)
	// checkDowngrade refuses a new base older than the current one.
	checkDowngrade bool
	// noChange is said when neither the base nor the origin would change,
	// and nothing is deployed then; "" deploys anyway.
	noChange string
	// lock stages the new deployment with its finalization locked.
	lock bool
}

// basePlan is a new base ready to deploy.
type basePlan struct {
	osname string
	merge  *ostree.Deployment // the deployment the new one starts from
	origin *origin.Origin     // the new deployment's origin
	target string             // the new base commit
	lock   bool               // stage with finalization locked
}

// prepareBase is the prologue of upgrade, rebase and deploy: find the merge
// deployment and copy its origin, let ch edit it and fetch the new base, then
// tell a no-op (nil plan, after saying so) and refuse a downgrade. The
// current base is read once, here.
func prepareBase(ctx context.Context, s Sysroot, ch baseChange, p Progress) (*basePlan, error) {
	merge, o, err := mergeOrigin(s, ch.osname)
	if err != nil {
		return nil, err
	}
	unchanged := string(o.Bytes()) // the origin as it is, to tell a no-op
	if ch.edit != nil {
		if err := ch.edit(o); err != nil {
			return nil, err
		}
	}
	src, err := baseSourceOf(o)
	if err != nil {
		return nil, err
	}
	target, err := ch.fetch(ctx, src, o)
	if err != nil {
		return nil, err
	}
	repo := s.Repo()
	base := readBase(repo, merge)
	if ch.noChange != "" && target == base.checksum && sameOrigin(o, unchanged, ch.pinsRevision) {
		msg := ch.noChange
		if ch.pinnedNoChange != "" && pinnedToCommit(o.Refspec()) {
			msg = ch.pinnedNoChange
		}
		p.Message(msg)
		return nil, nil
	}
	if ch.checkDowngrade {
		if err := checkNotOlder(repo, base, target); err != nil {
			return nil, err
		}
	}
	return &basePlan{osname: ch.osname, merge: merge, origin: o, target: target, lock: ch.lock}, nil
}

// CheckUpdate fetches enough of the newest base of osname for the cached
// update to be described (upgrade --check/--preview): an OSTree commit's
// metadata and rpmdb, or a container image (whose layers a later upgrade
// reuses).
func (e *Engine) CheckUpdate(ctx context.Context, osname string, p Progress) error {
	return e.run(ctx, func(s Sysroot) error {
		_, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		src, err := baseSourceOf(o)
		if err != nil {
			return err
		}
		return src.checkUpdate(ctx, s, p)
	})
}

// revisionArg turns a user's revision into fetchRevision's form: a bare checksum
// stays as it is, anything else not already prefixed is a version.
func revisionArg(rev string) string {
	if isChecksum(rev) {
		return rev
	}
	// rpm-ostree takes the prefixes in any case (its tests write REVISION=).
	for _, prefix := range []string{"revision=", "version="} {
		if len(rev) >= len(prefix) && strings.EqualFold(rev[:len(prefix)], prefix) {
			return prefix + rev[len(prefix):]
		}
	}
	return "version=" + rev
}

// resolveRebaseTarget completes an OSTree refspec from the current one
// ("" when the current base is a container image).
func resolveRebaseTarget(current, requested string) (string, error) {
	if requested == "" {
		return "", fmt.Errorf("rebase needs a refspec (REMOTE:REF, REF or REMOTE:) or a container image reference (ostree-unverified-registry:HOST/REPO:TAG)")
	}
	if looksLikeImage(requested) {
		return "", fmt.Errorf("%q looks like a container image but has no ostree image scheme; write ostree-unverified-registry:HOST/REPO[:TAG] (or ostree-image-signed:docker://HOST/REPO[:TAG] to require a signature)", requested)
	}
	if current == "" && strings.HasSuffix(requested, ":") {
		return "", fmt.Errorf("%q keeps the current ref, but the current base is a container image: name the ref (REMOTE:REF)", requested)
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

// sameOrigin tells whether o is the origin whose text was before, ignoring
// the pinned revision when ignorePin is set.
func sameOrigin(o *origin.Origin, before string, ignorePin bool) bool {
	if string(o.Bytes()) == before {
		return true
	}
	if !ignorePin {
		return false
	}
	prev, err := origin.Parse([]byte(before))
	if err != nil {
		return false
	}
	now := o.Clone()
	now.SetOverrideCommit("")
	prev.SetOverrideCommit("")
	return string(now.Bytes()) == string(prev.Bytes())
}

// pinnedToCommit tells whether refspec ("REMOTE:REF" or "REF") names a
// commit checksum instead of a branch: rpm-ostree calls that pinned.
func pinnedToCommit(refspec string) bool {
	_, ref := origin.SplitRefspec(refspec)
	return isChecksum(ref)
}

// checkConfigured refuses to update a host whose origin says it is not set
// up yet, with the origin's own words (as rpm-ostree does); a rebase is how
// such a host leaves that state.
func checkConfigured(o *origin.Origin) error {
	if msg := o.UnconfiguredState(); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// mergeOrigin finds the deployment a new one of osname starts from (the booted
// one, else the default) and a copy of its origin to modify.
func mergeOrigin(s Sysroot, osname string) (*ostree.Deployment, *origin.Origin, error) {
	merge := s.MergeDeployment(osname)
	if merge == nil {
		return nil, nil, fmt.Errorf("stateroot %q has no deployment to start from; deploy one with `ostree admin deploy --os=%s`", osname, osname)
	}
	o, err := originOf(s, merge)
	if err != nil {
		return nil, nil, err
	}
	return merge, o.Clone(), nil
}

// checkNotOlder refuses candidate when its commit is older than the current
// base's. A pruned current base has nothing to compare with.
func checkNotOlder(repo Repo, current baseCommit, candidate string) error {
	if current.commit == nil {
		return nil
	}
	next, err := repo.ReadCommit(candidate)
	if err != nil {
		return fmt.Errorf("reading commit %s: %w", candidate, err)
	}
	if cur := current.commit; next.Timestamp.Before(cur.Timestamp) {
		// libostree's words (rpm-ostree shows them), which scripts match on.
		return fmt.Errorf("Upgrade target revision '%s' with timestamp '%s' is chronologically older than current revision '%s' with timestamp '%s'; use --allow-downgrade to permit",
			candidate, next.Timestamp.UTC().Format(time.RFC3339), current.checksum, cur.Timestamp.UTC().Format(time.RFC3339))
	}
	return nil
}

// deployBase deploys a new base with the packages its origin layers on it
// re-resolved against that base.
func (e *Engine) deployBase(ctx context.Context, s Sysroot, plan *basePlan, p Progress) (Result, error) {
	commit, err := e.compose(ctx, s, composeRequest{merge: plan.merge, base: plan.target, origin: plan.origin}, p)
	if err != nil {
		return Result{}, err
	}
	return writeDeployment(ctx, s, newDeployment{
		osname: plan.osname, commit: commit, base: plan.target, merge: plan.merge, origin: plan.origin,
		lockFinalization: plan.lock,
	}, p)
}

// newDeployment is what writeDeployment writes.
type newDeployment struct {
	osname string
	commit string // the commit to check out
	base   string // its base commit (commit itself when nothing is layered)
	merge  *ostree.Deployment
	origin *origin.Origin
	kargs  []string // nil keeps the merge deployment's kernel arguments
	// lockFinalization keeps a staged deployment from being finalized at
	// shutdown until FinalizeDeployment; ignored when nothing is staged.
	lockFinalization bool
}

// writeDeployment checks out nd.commit as a new deployment with its origin,
// /etc merged from the merge deployment, and makes it the default. Until the
// final write the old deployment list is untouched: a failure or cancel
// leaves at most an unreferenced directory that libostree's cleanup removes.
// On a host booted from the sysroot the deployment is staged instead (see
// stageDeployment).
func writeDeployment(ctx context.Context, s Sysroot, nd newDeployment, p Progress) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	p.TaskBegin("Writing deployment")
	repo := s.Repo()
	if nd.base != nd.commit {
		// Hold the new base before libostree prunes during the write.
		if err := syncBaseRefs(repo, s.Deployments(), nd.base); err != nil {
			return Result{}, fmt.Errorf("referencing base commit: %w", err)
		}
	}
	opts := ostree.DeployOptions{Kargs: nd.kargs}
	var err error
	if opts.OverlayInitrds, err = overlayInitrds(ctx, s, nd); err != nil {
		return Result{}, err
	}
	if s.BootedDeployment() != nil {
		return stageDeployment(ctx, s, nd, opts, p)
	}
	if nd.lockFinalization {
		p.Message("Not staging (this host is not booted from the sysroot): --lock-finalization has nothing to lock.")
	}
	dep, err := s.DeployTree(ctx, nd.osname, nd.commit, string(nd.origin.Bytes()), nd.merge, opts)
	if err != nil {
		cleanupAfterFailure(s)
		return Result{}, fmt.Errorf("deploying commit %s: %w", nd.commit, err)
	}
	// Once the new boot order is being written there is no going back halfway:
	// libostree swaps it in atomically, so it must not see a cancel.
	if err := s.SimpleWriteDeployment(context.WithoutCancel(ctx), nd.osname, dep, nd.merge, false); err != nil {
		cleanupAfterFailure(s)
		return Result{}, fmt.Errorf("writing deployment list: %w", err)
	}
	if err := syncBaseRefs(repo, s.Deployments()); err != nil {
		return Result{}, fmt.Errorf("updating base commit refs: %w", err)
	}
	p.TaskEnd("done")
	return Result{Changed: true, Checksum: nd.commit}, nil
}

// stageDeployment is writeDeployment on a booted host: as rpm-ostree does,
// the new deployment is staged, so that /etc is merged from the running
// system at shutdown (ostree-finalize-staged.service) and nothing changes in
// the boot order before then. It replaces an earlier staged deployment.
func stageDeployment(ctx context.Context, s Sysroot, nd newDeployment, opts ostree.DeployOptions, p Progress) (Result, error) {
	dep, err := s.StageTree(context.WithoutCancel(ctx), nd.osname, nd.commit, string(nd.origin.Bytes()), nd.merge, opts, nd.lockFinalization)
	if err != nil {
		cleanupAfterFailure(s)
		return Result{}, fmt.Errorf("staging commit %s: %w", nd.commit, err)
	}
	if err := syncBaseRefs(s.Repo(), s.Deployments()); err != nil {
		return Result{}, fmt.Errorf("updating base commit refs: %w", err)
	}
	p.TaskEnd("done")
	if nd.lockFinalization {
		p.Message(fmt.Sprintf("Staged deployment %s with finalization locked; run `strata finalize-deployment %s` to apply it.", dep.ID(), readBase(s.Repo(), dep).checksum))
	}
	return Result{Changed: true, Checksum: nd.commit}, nil
}

func cleanupAfterFailure(s Sysroot) {
	_ = s.Cleanup(context.Background())
}

// looksLikeImage tells a container image name given without an ostree image
// scheme ("docker://quay.io/…") from an OSTree refspec, which never
// contains "://".
func looksLikeImage(refspec string) bool { return strings.Contains(refspec, "://") }
