package transactions

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
)

// FinalizeOptions are FinalizeDeployment's knobs (rpm-ostree's names).
type FinalizeOptions struct {
	// Checksum (checksum) is the base commit the caller expects staged (the
	// image's manifest digest for a container image base), so that a
	// deployment staged since the caller looked is not applied by mistake.
	Checksum string
	// AllowMissingChecksum (allow-missing-checksum) finalizes whatever is
	// staged when Checksum is "".
	AllowMissingChecksum bool
	// AllowUnlocked (allow-unlocked) accepts a staged deployment whose
	// finalization was never locked.
	AllowUnlocked bool
}

// FinalizeDeployment unlocks the finalization of osname's staged
// deployment, so that the next shutdown (the reboot the daemon asks for
// next) makes it the default. It changes nothing when the staged deployment
// is not the one the caller named.
func (e *Engine) FinalizeDeployment(ctx context.Context, osname string, opts FinalizeOptions, p Progress) error {
	return e.run(ctx, func(s Sysroot) error {
		staged := stagedDeployment(s.Deployments())
		if staged == nil {
			return errors.New("No pending staged deployment found; stage one with `strata upgrade --lock-finalization` (or rebase, deploy) first")
		}
		if staged.Osname != osname {
			return fmt.Errorf("Staged deployment is not for stateroot %q (it is for %q)", osname, staged.Osname)
		}
		if opts.Checksum == "" && !opts.AllowMissingChecksum {
			return errors.New("Missing expected checksum: pass the staged base checksum, or allow-missing-checksum")
		}
		if opts.Checksum != "" {
			names := stagedNames(s.Repo(), staged)
			found := false
			for _, n := range names {
				found = found || n == opts.Checksum
			}
			if !found {
				return fmt.Errorf("Expected staged base checksum %s, but found %s", opts.Checksum, names[0])
			}
		}
		if !s.FinalizationLocked() {
			if !opts.AllowUnlocked {
				return errors.New("Staged deployment already unlocked; pass allow-unlocked to reboot into it anyway")
			}
		} else {
			if err := s.UnlockFinalization(); err != nil {
				return fmt.Errorf("Failed to unlock finalization of staged deployment: %w", err)
			}
		}
		p.Message(fmt.Sprintf("Staged deployment %s will be finalized at shutdown.", staged.ID()))
		return nil
	})
}

// stagedDeployment is the staged deployment (libostree puts it first), or nil.
func stagedDeployment(deployments []*ostree.Deployment) *ostree.Deployment {
	if len(deployments) > 0 && deployments[0].Staged {
		return deployments[0]
	}
	return nil
}

// stagedNames are the checksums a caller may name a staged deployment by:
// its base commit first, then, for a container image base, the image's
// manifest digest.
func stagedNames(repo Repo, d *ostree.Deployment) []string {
	base := readBase(repo, d)
	names := []string{base.checksum}
	if base.commit != nil {
		if digest, ok := base.commit.Metadata[image.MetaManifestDigest].(string); ok && digest != "" {
			names = append(names, digest)
		}
	}
	return names
}
