// Package layering composes a layered OSTree commit: a base commit plus the
// RPMs a host asked for, resolved with libsolv against rpm-md repositories,
// imported one commit per package, checked for file conflicts, with an updated
// rpmdb, merged in the object store (only the base's rpmdb is checked out;
// the base is never re-hashed), then the scriptlets run. Each of these is a
// stage in the file of its name: resolve.go, fetch.go, import.go,
// conflicts.go, rpmdb.go, commit.go, scripts.go.
//
// It knows nothing of D-Bus or of deployments: transactions decide what to
// request and where to deploy the result.
package layering

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/rpmimport"
	"github.com/strata-os/strata/internal/rpmmd"
	"github.com/strata-os/strata/internal/solv"
	"github.com/strata-os/strata/rpmdb"
)

// Progress is what a composition reports; transactions.Progress satisfies it.
type Progress interface {
	Message(text string)
	TaskBegin(text string)
	TaskEnd(text string)
	Percent(text string, percent uint32)
}

// Request is what the layered commit must contain besides its base.
type Request struct {
	Base          string       // base commit checksum
	Packages      []string     // requested names, provides or file paths
	NewPackages   []string     // the subset requested just now: an error if the base has them (unless Idempotent)
	LocalPackages []string     // paths of local .rpm files (kept by the caller)
	RemoveBase    []string     // base package names to remove (override remove)
	ReplaceLocal  []string     // local .rpm files replacing base packages of the same name (override replace)
	Repos         []rpmmd.Repo // enabled repositories to resolve against
	DryRun        bool         // resolve and report, write nothing
	CacheOnly     bool         // use the cached repo metadata as it is, fetch none
	DownloadOnly  bool         // resolve and download packages, compose nothing
	Idempotent    bool         // requesting what is already installed is not an error
	// LocalGPGCheck verifies local packages too, against the gpgkey= keys
	// of the enabled repos (dnf.conf's localpkg_gpgcheck).
	LocalGPGCheck bool
	// ReplaceRepo replaces base packages with a repo's versions (override
	// replace --from repo=ID).
	ReplaceRepo []RepoReplacement
	// Initramfs, when set, regenerates the initramfs with the tree's dracut.
	Initramfs *InitramfsRequest
}

// RepoReplacement replaces the named base packages with the newest
// versions repo Repo has.
type RepoReplacement struct {
	Repo     string
	Packages []string
}

// Result describes the composed commit.
type Result struct {
	Commit   string          // the new commit ("" for a dry run or when nothing is layered)
	Added    []solv.Package  // packages layered on the base
	Removed  []rpmdb.Package // base packages removed (including replaced ones)
	Replaced []solv.Package  // local packages that replace base packages
	Imported int             // packages imported into the repo by this composition
	Reused   int             // packages whose earlier import was reused
	// RemoteReplaced are repo packages that replace base packages.
	RemoteReplaced []solv.Package
}

// Composer composes layered commits in one repo. CacheDir holds downloaded
// metadata and packages (<sysroot>/var/cache/strata).
type Composer struct {
	Repo     *ostree.Repo
	CacheDir string
	Log      *logrus.Entry
}

// Arch is the RPM architecture of this machine.
func Arch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	case "ppc64le":
		return "ppc64le"
	case "s390x":
		return "s390x"
	}
	return runtime.GOARCH
}

// Compose builds the layered commit for req. It runs the stages in order
// (see stages) over one composition; a stage may end it early (a dry run
// after resolving, download-only after fetching).
func (c *Composer) Compose(ctx context.Context, req Request, p Progress) (*Result, error) {
	work, err := os.MkdirTemp(c.CacheDir, "compose-")
	if err != nil {
		return nil, fmt.Errorf("creating work directory: %w", err)
	}
	defer os.RemoveAll(work)
	cs := &composition{req: req, p: p, work: work, root: filepath.Join(work, "root"), res: &Result{}}
	defer cs.close()
	stages := c.stages()
	for i := 0; i < len(stages) && !cs.finished; i++ {
		if !stages[i].batched {
			if err := c.runStage(ctx, stages[i], cs); err != nil {
				return nil, err
			}
			continue
		}
		// The batched stages write into one repo transaction (see
		// ostree.Repo.Batch): one sync for the imports and the commit.
		j := i
		for j < len(stages) && stages[j].batched {
			j++
		}
		err := c.Repo.Batch(ctx, "composing on "+req.Base, func() error {
			for _, s := range stages[i:j] {
				if err := c.runStage(ctx, s, cs); err != nil {
					return err
				}
				if cs.finished {
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		i = j - 1
	}
	return cs.res, nil
}

func (c *Composer) runStage(ctx context.Context, s stage, cs *composition) error {
	if c.Log != nil {
		c.Log.WithField("stage", s.name).Debug("composition stage")
	}
	return s.run(ctx, cs)
}

// stage is one named step of a composition, in the spirit of ignition's
// stages: each lives in the file of its name (resolve.go, fetch.go…).
type stage struct {
	name string
	run  func(context.Context, *composition) error
	// batched stages, when consecutive, share one repo transaction.
	batched bool
}

// stages are the steps of a composition, in order.
func (c *Composer) stages() []stage {
	return []stage{
		{"resolve", c.resolveStage, false},
		{"fetch", c.fetchStage, false},
		{"import", c.importStage, true},
		{"conflicts", c.conflictsStage, true},
		{"rpmdb", c.rpmdbStage, true},
		{"commit", c.commitStage, true},
		{"scriptlets", c.scriptletsStage, false},
		{"initramfs", c.initramfsStage, false},
	}
}

// composition is the state the stages share: the request, what each stage
// found out, and the result being built.
type composition struct {
	req  Request
	p    Progress
	work string // private work directory, removed at the end

	// resolve: the base commit, read once; root holds a checkout of its
	// rpmdb only (root/usr/share/rpm), later rewritten by the rpmdb stage.
	base     *ostree.Commit
	root     string
	basePkgs []rpmdb.Package
	pool     *solv.Pool
	tx       *solv.Transaction
	mds      map[string]*rpmmd.Metadata
	toLayer  []solv.Package // installs and replacements

	rpms        []fetched           // fetch
	layers      []*rpmimport.Result // import
	removePaths []string            // conflicts: base files of removed packages
	all         []rpmdb.Package     // rpmdb: the packages of the new tree
	// rpmdb: sqlite side files of the base's rpmdb, never committed.
	baseSideFiles []string
	spec          ostree.ComposeSpec // commit
	res           *Result

	// finished is set by a stage after which nothing is left to do.
	finished bool
}

func (cs *composition) close() {
	if cs.pool != nil {
		cs.pool.Close()
	}
}
