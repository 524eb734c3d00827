package transactions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/layering"
)

// memSysroot is an in-memory Sysroot: enough of libostree's behaviour for
// the transaction logic, none of its disk.
type memSysroot struct {
	dir      string // stands in for the sysroot directory (origin files, caches)
	deps     []*ostree.Deployment
	repo     *memRepo
	composed []layering.Request
	cleanups int
	// registry is what container image references serve: the canonical
	// reference -> the image commit (added with m.image).
	registry map[string]string
	pruned   [][]string // keep-lists PruneImages was called with
	locked   bool       // the staged deployment's finalization is locked
}

type memRepo struct {
	commits map[string]*ostree.Commit
	refs    map[string]string // local refs: "remote:ref" or "ref" -> commit
	remote  map[string]string // what the remotes serve: "remote:ref" -> head
	pulls   []ostree.PullOptions
	// detached is each commit's detached metadata, where a native image's
	// commit records its manifest.
	detached map[string]map[string]any
}

func newMem(t *testing.T) *memSysroot {
	return &memSysroot{dir: t.TempDir(), registry: map[string]string{}, repo: &memRepo{commits: map[string]*ostree.Commit{}, refs: map[string]string{}, remote: map[string]string{}}}
}

// commit adds a commit; version "" leaves the metadata without one.
func (m *memSysroot) commit(csum, parent, version string, ts int64) {
	m.repo.commits[csum] = &ostree.Commit{Checksum: csum, Parent: parent, Version: version, Timestamp: time.Unix(ts, 0), Metadata: map[string]any{}}
}

// deploy appends a deployment of csum with an origin following refspec.
func (m *memSysroot) deploy(osname, csum string, booted bool, o *origin.Origin) *ostree.Deployment {
	d := &ostree.Deployment{Osname: osname, Checksum: csum, Booted: booted, Kargs: "root=/dev/vda quiet"}
	if o != nil {
		d.Origin = string(o.Bytes())
	}
	m.deps = append(m.deps, d)
	return d
}

func (m *memSysroot) Path() string                   { return m.dir }
func (m *memSysroot) Lock(ctx context.Context) error { return nil }
func (m *memSysroot) Unlock()                        {}
func (m *memSysroot) Reload(ctx context.Context) error {
	for i, d := range m.deps {
		d.Index = i
	}
	return nil
}
func (m *memSysroot) Close()     {}
func (m *memSysroot) Repo() Repo { return m.repo }

func (m *memSysroot) Deployments() []*ostree.Deployment {
	return append([]*ostree.Deployment{}, m.deps...)
}

func (m *memSysroot) BootedDeployment() *ostree.Deployment {
	for _, d := range m.deps {
		if d.Booted {
			return d
		}
	}
	return nil
}

// MergeDeployment is libostree's rule: the booted deployment when it is of
// osname, else osname's first.
func (m *memSysroot) MergeDeployment(osname string) *ostree.Deployment {
	if b := m.BootedDeployment(); b != nil && b.Osname == osname {
		return b
	}
	for _, d := range m.deps {
		if d.Osname == osname {
			return d
		}
	}
	return nil
}

func (m *memSysroot) Stateroots() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.deps {
		if !seen[d.Osname] {
			seen[d.Osname] = true
			out = append(out, d.Osname)
		}
	}
	return out, nil
}

func (m *memSysroot) DeploymentPath(d *ostree.Deployment) string {
	return filepath.Join(m.dir, d.ID())
}

func (m *memSysroot) DeployTree(ctx context.Context, osname, checksum, orig string, merge *ostree.Deployment, opts ostree.DeployOptions) (*ostree.Deployment, error) {
	kargs := opts.Kargs
	if _, ok := m.repo.commits[checksum]; !ok {
		return nil, fmt.Errorf("no commit %s", checksum)
	}
	serial := 0
	for _, d := range m.deps {
		if d.Osname == osname && d.Checksum == checksum && d.Serial >= serial {
			serial = d.Serial + 1
		}
	}
	k := merge.Kargs
	if kargs != nil {
		k = strings.Join(append([]string{"ostree=x"}, kargs...), " ")
	}
	return &ostree.Deployment{Osname: osname, Checksum: checksum, Serial: serial, Origin: orig, Kargs: k}, nil
}

// SimpleWriteDeployment puts dep first and, like libostree without
// RETAIN flags, keeps of osname only the booted and the merge deployment.
func (m *memSysroot) SimpleWriteDeployment(ctx context.Context, osname string, dep, merge *ostree.Deployment, retainRollback bool) error {
	out := []*ostree.Deployment{dep}
	for _, d := range m.deps {
		if d.Osname != osname || d.Booted || d == merge {
			out = append(out, d)
		}
	}
	m.deps = out
	return nil
}

// WriteDeployments keeps a staged deployment only when it comes first, as
// libostree does (which also drops the finalization lock with it).
func (m *memSysroot) WriteDeployments(ctx context.Context, deployments []*ostree.Deployment) error {
	m.deps = nil
	for i, d := range deployments {
		if !d.Staged || i == 0 {
			m.deps = append(m.deps, d)
		}
	}
	if len(m.deps) == 0 || !m.deps[0].Staged {
		m.locked = false
	}
	return nil
}

// StageTree is DeployTree plus libostree's staging rules: a booted host
// only, the new deployment first and flagged staged, replacing an earlier
// staged one.
func (m *memSysroot) StageOverlayInitrd(ctx context.Context, f *os.File) (string, error) {
	return "", errors.New("the in-memory sysroot has no boot directory for overlay initrds")
}

func (m *memSysroot) StageTree(ctx context.Context, osname, checksum, orig string, merge *ostree.Deployment, opts ostree.DeployOptions, locked bool) (*ostree.Deployment, error) {
	if m.BootedDeployment() == nil {
		return nil, errors.New("Cannot stage deployment: Not currently booted into an OSTree system")
	}
	dep, err := m.DeployTree(ctx, osname, checksum, orig, merge, opts)
	if err != nil {
		return nil, err
	}
	dep.Staged = true
	out := []*ostree.Deployment{dep}
	for _, d := range m.deps {
		if !d.Staged {
			out = append(out, d)
		}
	}
	m.deps = out
	m.locked = locked
	return dep, nil
}

func (m *memSysroot) FinalizationLocked() bool  { return m.locked }
func (m *memSysroot) UnlockFinalization() error { m.locked = false; return nil }

func (m *memSysroot) Cleanup(ctx context.Context) error { m.cleanups++; return nil }

// image makes the registry serve ref as an image commit csum with a
// manifest digest made from csum.
func (m *memSysroot) image(ref, csum, version string, ts int64) {
	m.commit(csum, "", version, ts)
	m.repo.commits[csum].Metadata[image.MetaManifestDigest] = "sha256:" + csum
	m.registry[ref] = csum
}

// PullImage "pulls" what the registry serves: one layer's progress, and
// the image ref set, as image.Store does.
func (m *memSysroot) PullImage(ctx context.Context, ref image.Reference, progress func(image.LayerProgress)) (image.Pulled, error) {
	csum, ok := m.registry[ref.String()]
	if !ok {
		return image.Pulled{}, fmt.Errorf("reading manifest %s: manifest unknown", ref)
	}
	progress(image.LayerProgress{Index: 0, Count: 1, Digest: "sha256:" + csum, Read: 10, Size: 10})
	m.repo.refs[image.ImageRef(ref.ImageRef())] = csum
	return image.Pulled{Commit: csum, ManifestDigest: "sha256:" + csum, Imported: 1}, nil
}

func (m *memSysroot) PruneImages(keep []string) (int, int, error) {
	m.pruned = append(m.pruned, keep)
	return 0, 0, nil
}

// Compose records the request and makes a client-layer commit on its base.
func (m *memSysroot) Compose(ctx context.Context, req layering.Request, p layering.Progress) (string, error) {
	m.composed = append(m.composed, req)
	if req.DryRun || req.DownloadOnly {
		return "", nil
	}
	csum := fmt.Sprintf("layer%d-%s", len(m.composed), req.Base)
	m.commit(csum, req.Base, "", m.repo.commits[req.Base].Timestamp.Unix())
	m.repo.commits[csum].Metadata["rpmostree.clientlayer"] = true
	return csum, nil
}

func (r *memRepo) ResolveRev(refspec string, allowNoent bool) (string, error) {
	if c, ok := r.refs[refspec]; ok {
		return c, nil
	}
	if allowNoent {
		return "", nil
	}
	return "", fmt.Errorf("ref %s not found", refspec)
}

func (r *memRepo) ReadCommit(checksum string) (*ostree.Commit, error) {
	if c, ok := r.commits[checksum]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("no commit %s", checksum)
}

func (r *memRepo) ReadDetachedMetadata(checksum string) (map[string]any, error) {
	return r.detached[checksum], nil
}

func (r *memRepo) ListRefs(prefix string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range r.refs {
		if strings.HasPrefix(k, prefix+"/") {
			out[k] = v
		}
	}
	return out, nil
}

func (r *memRepo) SetRef(remote, ref, checksum string) error {
	key := ref
	if remote != "" {
		key = remote + ":" + ref
	}
	if checksum == "" {
		delete(r.refs, key)
	} else {
		r.refs[key] = checksum
	}
	return nil
}

func (r *memRepo) Pull(ctx context.Context, opts ostree.PullOptions, progress func(ostree.PullProgress)) error {
	r.pulls = append(r.pulls, opts)
	for _, ref := range opts.Refs {
		key := opts.Remote + ":" + ref
		head, ok := r.remote[key]
		if !ok {
			return errors.New("remote has no such ref")
		}
		progress(ostree.PullProgress{FetchedObjects: 1, RequestedObjects: 1})
		if len(opts.OverrideCommitIDs) == 0 {
			r.refs[key] = head
		}
	}
	return nil
}

func (r *memRepo) CheckoutSubpath(ctx context.Context, commit, subpath, destDir string) error {
	return errors.New("memRepo has no trees")
}

func (r *memRepo) ReloadConfig(ctx context.Context) error { return nil }

func (r *memRepo) RemoteGPGVerify(remote string) (bool, error) { return false, nil }

func (r *memRepo) RemoteOption(remote, option string) (string, bool, error) { return "", false, nil }

func (r *memRepo) CommitObject(commit string) ([]byte, error) {
	return nil, fmt.Errorf("commit object %s: not kept in memory", commit)
}

func (r *memRepo) CommitSignatures(commit, remote string) ([]ostree.GPGSignature, error) {
	return nil, nil
}

// recorder is a Progress that keeps what it was told.
type recorder struct {
	messages  []string
	downloads int
	percents  []string // "text: N"
}

func (r *recorder) Message(text string) { r.messages = append(r.messages, text) }
func (r *recorder) TaskBegin(string)    {}
func (r *recorder) TaskEnd(string)      {}
func (r *recorder) Percent(text string, pct uint32) {
	r.percents = append(r.percents, fmt.Sprintf("%s: %d", text, pct))
}
func (r *recorder) Download(p DownloadProgress) { r.downloads++ }
func (r *recorder) End()                        {}
func (r *recorder) said(text string) bool {
	return strings.Contains(strings.Join(r.messages, "\n"), text)
}

func testEngine(m *memSysroot) *Engine {
	return newEngine(m, logrus.NewEntry(logrus.New()))
}

// checksums lists the deployments' commits in boot order.
func checksums(ds []*ostree.Deployment) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Checksum)
	}
	return strings.Join(out, " ")
}

func originWith(refspec string, edit func(o *origin.Origin)) *origin.Origin {
	o := origin.New(refspec)
	if edit != nil {
		edit(o)
	}
	return o
}
