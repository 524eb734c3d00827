// Package layering composes a layered OSTree commit: a base commit plus the
// RPMs a host asked for, resolved with libsolv against rpm-md repositories,
// imported one commit per package, checked for file conflicts, with an updated
// rpmdb, merged in the object store (the base is never checked out or
// re-hashed).
//
// It knows nothing of D-Bus or of deployments: transactions decide what to
// request and where to deploy the result.
package layering

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/ostree"
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
}

// Result describes the composed commit.
type Result struct {
	Commit   string          // the new commit ("" for a dry run or when nothing is layered)
	Added    []solv.Package  // packages layered on the base
	Removed  []rpmdb.Package // base packages removed (including replaced ones)
	Replaced []solv.Package  // local packages that replace base packages
	Imported int             // packages imported into the repo by this composition
	Reused   int             // packages whose earlier import was reused
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

// Compose builds the layered commit for req.
func (c *Composer) Compose(ctx context.Context, req Request, p Progress) (*Result, error) {
	work, err := os.MkdirTemp(c.CacheDir, "compose-")
	if err != nil {
		return nil, fmt.Errorf("creating work directory: %w", err)
	}
	defer os.RemoveAll(work)

	// The base's rpmdb is the installed set; only that subtree is checked out.
	root := filepath.Join(work, "root")
	if err := os.MkdirAll(filepath.Join(root, "usr/share"), 0o755); err != nil {
		return nil, err
	}
	if err := c.Repo.CheckoutSubpath(ctx, req.Base, "/usr/share/rpm", filepath.Join(root, "usr/share/rpm")); err != nil {
		return nil, fmt.Errorf("reading the rpmdb of base commit %s: %w", req.Base, err)
	}
	basePkgs, err := rpmdb.List(ctx, root)
	if err != nil {
		return nil, err
	}

	tx, pool, mds, err := c.resolve(ctx, req, root, p)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	res := &Result{Added: tx.Install}
	for _, name := range req.RemoveBase {
		if pkg, ok := findByName(basePkgs, name); ok {
			res.Removed = append(res.Removed, pkg)
		}
	}
	// A replacement is an upgrade (or downgrade) of a base package: its files
	// and rpmdb entry go, the replacement is layered like any other package.
	toLayer := append([]solv.Package{}, tx.Install...)
	for _, u := range tx.Upgrade {
		if old, ok := findByName(basePkgs, u.Old.Name); ok {
			res.Removed = append(res.Removed, old)
		}
		res.Replaced = append(res.Replaced, u.New)
		toLayer = append(toLayer, u.New)
	}
	describe(tx, res, p)
	if req.DryRun {
		return res, nil
	}

	rpms, err := c.fetch(ctx, toLayer, mds, p)
	if err != nil {
		return nil, err
	}
	if req.DownloadOnly {
		return res, nil
	}
	accounts, err := c.accounts(ctx, req.Base, work)
	if err != nil {
		return nil, fmt.Errorf("reading the base's users and groups: %w", err)
	}
	layers, err := c.importAll(ctx, rpms, accounts, res, p)
	if err != nil {
		return nil, err
	}
	removePaths, err := c.filesOfBasePackages(ctx, req.Base, root, res.Removed)
	if err != nil {
		return nil, err
	}
	if err := c.checkConflicts(ctx, req.Base, root, removePaths, layers); err != nil {
		return nil, err
	}

	p.TaskBegin("Writing rpmdb")
	var rpmFiles []string
	for _, r := range rpms {
		rpmFiles = append(rpmFiles, r.path)
	}
	var removeNEVRAs []string
	for _, pkg := range res.Removed {
		removeNEVRAs = append(removeNEVRAs, pkg.NEVRA())
	}
	if len(removeNEVRAs) > 0 {
		if err := rpmdb.Remove(ctx, root, removeNEVRAs); err != nil {
			return nil, err
		}
	}
	if err := rpmdb.Add(ctx, root, rpmFiles); err != nil {
		return nil, err
	}
	all, err := rpmdb.List(ctx, root)
	if err != nil {
		return nil, err
	}
	p.TaskEnd("done")

	p.TaskBegin("Committing layered tree")
	var layerCommits []string
	for _, l := range layers {
		layerCommits = append(layerCommits, l.Commit)
	}
	base, err := c.Repo.ReadCommit(req.Base)
	if err != nil {
		return nil, err
	}
	spec := ostree.ComposeSpec{
		Base:     req.Base,
		Layers:   layerCommits,
		Remove:   removePaths,
		Overlay:  root, // the new usr/share/rpm (and /etc as scriptlets left it)
		Parent:   req.Base,
		Subject:  "strata layered commit",
		Metadata: layeredMetadata(base, req, all, res),
	}
	commit, err := c.Repo.Compose(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("committing layered tree: %w", err)
	}
	p.TaskEnd("done")

	scripts, err := scriptletsOf(rpms)
	if err != nil {
		return nil, err
	}
	if len(scripts) > 0 {
		if commit, err = c.withScriptlets(ctx, work, commit, spec, scripts, p); err != nil {
			return nil, err
		}
	}
	res.Commit = commit
	return res, nil
}

// withScriptlets runs the scriptlets against a checkout of the composed
// commit and recomposes it with the /etc they produced. Only compositions
// with scriptlets pay for the checkout; it is hardlinked, and /usr stays
// read-only so the repo's objects cannot be touched.
func (c *Composer) withScriptlets(ctx context.Context, work, commit string, spec ostree.ComposeSpec, scripts []scriptlet, p Progress) (string, error) {
	p.TaskBegin("Running scriptlets")
	tree := filepath.Join(work, "tree")
	if err := c.Repo.Checkout(ctx, commit, tree); err != nil {
		return "", fmt.Errorf("checking out for scriptlets: %w", err)
	}
	for _, dir := range []string{"etc", "var", "tmp", "run", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(tree, dir), 0o755); err != nil {
			return "", err
		}
	}
	etc := filepath.Join(spec.Overlay, "usr/etc")
	if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Join(tree, "usr/etc"), etc).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying /etc for scriptlets: %v: %s", err, out)
	}
	if err := runScriptlets(ctx, tree, etc, scripts, p); err != nil {
		return "", err
	}
	p.TaskEnd("done")
	return c.Repo.Compose(ctx, spec)
}

func findByName(pkgs []rpmdb.Package, name string) (rpmdb.Package, bool) {
	for _, p := range pkgs {
		if p.Name == name {
			return p, true
		}
	}
	return rpmdb.Package{}, false
}

// describe tells the user what the composition will do before it does it.
func describe(tx *solv.Transaction, res *Result, p Progress) {
	var lines []string
	for _, pkg := range tx.Install {
		lines = append(lines, "  "+pkg.NEVRA())
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		p.Message(fmt.Sprintf("Packages to layer: %d\n%s", len(lines), strings.Join(lines, "\n")))
	}
	for _, pkg := range res.Removed {
		p.Message("Removing base package: " + pkg.NEVRA())
	}
	for _, pkg := range res.Replaced {
		p.Message("Replacing base package with: " + pkg.NEVRA())
	}
}
