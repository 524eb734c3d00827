package transactions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/layering"
)

// Sysroot is what transactions need from a host's OSTree sysroot. The engine
// runs on ostreeSysroot (libostree through internal/ostree); the unit tests
// run the same transaction code on an in-memory one, so the decisions made
// here (rollback target, cleanup keep-list, no-op and downgrade checks, origin
// edits, base refs, snapshots) are tested without a sysroot on disk.
//
// Deployments and commits are internal/ostree's plain value types: they carry
// no behaviour, and handing them back to DeployTree or WriteDeployments is how
// a deployment is named.
type Sysroot interface {
	// Path is the sysroot directory; strata's caches and stored local
	// packages live below it.
	Path() string
	// Lock takes the on-disk sysroot lock shared with `ostree admin`.
	Lock(ctx context.Context) error
	Unlock()
	// Reload re-reads the deployment list.
	Reload(ctx context.Context) error
	Close()

	Deployments() []*ostree.Deployment // boot order: the first is the default
	BootedDeployment() *ostree.Deployment
	// MergeDeployment is the deployment a new one of osname starts from.
	MergeDeployment(osname string) *ostree.Deployment
	Stateroots() ([]string, error)
	// DeploymentPath is the checkout directory of d.
	DeploymentPath(d *ostree.Deployment) string

	// DeployTree checks out checksum as a new deployment (not yet in the
	// boot order); opts.Kargs nil keeps merge's kernel arguments.
	DeployTree(ctx context.Context, osname, checksum, origin string, merge *ostree.Deployment, opts ostree.DeployOptions) (*ostree.Deployment, error)
	// SimpleWriteDeployment puts dep first in the boot order.
	SimpleWriteDeployment(ctx context.Context, osname string, dep, merge *ostree.Deployment, retainRollback bool) error
	// WriteDeployments replaces the boot order. A staged deployment stays
	// staged when it is first in the list and is dropped otherwise.
	WriteDeployments(ctx context.Context, deployments []*ostree.Deployment) error
	// StageTree checks out checksum as the staged deployment (replacing any
	// earlier one), which shutdown finalizes into the boot order unless
	// locked; the host must be booted from the sysroot. Arguments are as
	// for DeployTree.
	StageTree(ctx context.Context, osname, checksum, origin string, merge *ostree.Deployment, opts ostree.DeployOptions, locked bool) (*ostree.Deployment, error)
	// StageOverlayInitrd stores a cpio archive for boot entries to name
	// (ostree.DeployOptions.OverlayInitrds) and returns its checksum.
	StageOverlayInitrd(ctx context.Context, f *os.File) (string, error)
	// FinalizationLocked says whether the staged deployment waits for
	// UnlockFinalization.
	FinalizationLocked() bool
	// UnlockFinalization lets shutdown finalize the staged deployment.
	UnlockFinalization() error
	// Cleanup deletes unreferenced deployment directories and prunes the repo.
	Cleanup(ctx context.Context) error

	Repo() Repo
	// Compose builds a layered commit in the sysroot's repo.
	Compose(ctx context.Context, req layering.Request, p layering.Progress) (string, error)

	// PullImage brings a container image into the repo: each layer not
	// imported yet becomes its own commit, and the merged tree is
	// committed on the image's ref (internal/image's scheme).
	PullImage(ctx context.Context, ref image.Reference, progress func(image.LayerProgress)) (image.Pulled, error)
	// PruneImages deletes the image refs whose commit is not in keep and
	// the layer refs no remaining image uses.
	PruneImages(keep []string) (images, layers int, err error)
}

// Repo is what transactions need from the sysroot's OSTree repository.
type Repo interface {
	ResolveRev(refspec string, allowNoent bool) (string, error)
	ReadCommit(checksum string) (*ostree.Commit, error)
	// ReadDetachedMetadata reads the metadata stored beside a commit (not
	// part of its checksum); nil when there is none.
	ReadDetachedMetadata(checksum string) (map[string]any, error)
	ListRefs(prefix string) (map[string]string, error)
	SetRef(remote, ref, checksum string) error
	Pull(ctx context.Context, opts ostree.PullOptions, progress func(ostree.PullProgress)) error
	// CheckoutSubpath checks out one directory of a commit into destDir.
	CheckoutSubpath(ctx context.Context, commit, subpath, destDir string) error
	// ReloadConfig re-reads the repo configuration (remotes).
	ReloadConfig(ctx context.Context) error
	// RemoteGPGVerify says whether remote verifies GPG signatures.
	RemoteGPGVerify(remote string) (bool, error)
	// CommitSignatures verifies commit's GPG signatures with remote's
	// keys; an unsigned commit has none.
	CommitSignatures(commit, remote string) ([]ostree.GPGSignature, error)
	// RemoteOption reads one option of remote's configuration; set is
	// false when the remote does not have it.
	RemoteOption(remote, option string) (value string, set bool, err error)
	// CommitObject is the serialized commit (what ed25519 signatures sign).
	CommitObject(commit string) ([]byte, error)
}

// ostreeSysroot is the Sysroot of a real host, over libostree.
type ostreeSysroot struct {
	s      *ostree.Sysroot
	images image.Config
	log    *logrus.Entry
}

func openSysroot(ctx context.Context, path string, images image.Config, log *logrus.Entry) (*ostreeSysroot, error) {
	s, err := ostree.OpenSysroot(ctx, path)
	if err != nil {
		return nil, err
	}
	return &ostreeSysroot{s: s, images: images, log: log}, nil
}

func (o *ostreeSysroot) Path() string                   { return o.s.Path() }
func (o *ostreeSysroot) Lock(ctx context.Context) error { return o.s.Lock(ctx) }
func (o *ostreeSysroot) Unlock()                        { o.s.Unlock() }
func (o *ostreeSysroot) Close()                         { o.s.Close() }
func (o *ostreeSysroot) Repo() Repo                     { return o.s.Repo() }

func (o *ostreeSysroot) Reload(ctx context.Context) error {
	if _, err := o.s.Reload(ctx); err != nil {
		return fmt.Errorf("reloading sysroot: %w", err)
	}
	return nil
}

func (o *ostreeSysroot) Deployments() []*ostree.Deployment          { return o.s.Deployments() }
func (o *ostreeSysroot) BootedDeployment() *ostree.Deployment       { return o.s.BootedDeployment() }
func (o *ostreeSysroot) Stateroots() ([]string, error)              { return o.s.Stateroots() }
func (o *ostreeSysroot) DeploymentPath(d *ostree.Deployment) string { return o.s.DeploymentPath(d) }
func (o *ostreeSysroot) MergeDeployment(osname string) *ostree.Deployment {
	return o.s.MergeDeployment(osname)
}

func (o *ostreeSysroot) DeployTree(ctx context.Context, osname, checksum, origin string, merge *ostree.Deployment, opts ostree.DeployOptions) (*ostree.Deployment, error) {
	return o.s.DeployTreeWithOptions(ctx, osname, checksum, origin, merge, opts)
}

func (o *ostreeSysroot) SimpleWriteDeployment(ctx context.Context, osname string, dep, merge *ostree.Deployment, retainRollback bool) error {
	return o.s.SimpleWriteDeployment(ctx, osname, dep, merge, retainRollback)
}

func (o *ostreeSysroot) WriteDeployments(ctx context.Context, deployments []*ostree.Deployment) error {
	return o.s.WriteDeployments(ctx, deployments)
}

func (o *ostreeSysroot) StageTree(ctx context.Context, osname, checksum, origin string, merge *ostree.Deployment, opts ostree.DeployOptions, locked bool) (*ostree.Deployment, error) {
	return o.s.StageTreeWithOptions(ctx, osname, checksum, origin, merge, opts, locked)
}

func (o *ostreeSysroot) StageOverlayInitrd(ctx context.Context, f *os.File) (string, error) {
	return o.s.StageOverlayInitrd(ctx, f)
}

func (o *ostreeSysroot) FinalizationLocked() bool  { return o.s.FinalizationLocked() }
func (o *ostreeSysroot) UnlockFinalization() error { return o.s.UnlockFinalization() }

func (o *ostreeSysroot) Cleanup(ctx context.Context) error { return o.s.Cleanup(ctx) }

func (o *ostreeSysroot) Compose(ctx context.Context, req layering.Request, p layering.Progress) (string, error) {
	c := &layering.Composer{Repo: o.s.Repo(), CacheDir: filepath.Join(o.s.Path(), CacheDir), Log: o.log}
	if err := os.MkdirAll(c.CacheDir, 0o755); err != nil {
		return "", err
	}
	res, err := c.Compose(ctx, req, p)
	if err != nil {
		return "", err
	}
	return res.Commit, nil
}

func (o *ostreeSysroot) PullImage(ctx context.Context, ref image.Reference, progress func(image.LayerProgress)) (image.Pulled, error) {
	store := image.Store{Repo: o.s.Repo()}
	return store.Pull(ctx, ref, o.images, progress)
}

func (o *ostreeSysroot) PruneImages(keep []string) (int, int, error) {
	store := image.Store{Repo: o.s.Repo()}
	return store.Prune(keep)
}
