package transactions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/rpmdb"
)

// State is a snapshot of the host as the daemon publishes it, taken in one go
// under the engine's lock so that its parts agree with each other.
type State struct {
	Deployments []Deployment // boot order: the first is the default
	Stateroots  []string     // sorted
	// BootedOS is the stateroot of the booted deployment; "" on a host not
	// booted from this sysroot.
	BootedOS string
	// DefaultOS is the stateroot a request without one acts on: the booted
	// one, else the default deployment's.
	DefaultOS string
	// Updates holds the cached update of each stateroot that has one.
	Updates map[string]*Update
}

// Deployment is one deployment of a State.
type Deployment struct {
	ID       string // "<osname>-<checksum>.<serial>"
	OSName   string
	Serial   int
	Checksum string
	Booted   bool
	Staged   bool
	Pinned   bool
	Kargs    string // kernel arguments of its boot entry

	// From the commit; all zero when the repo no longer has it.
	CommitKnown bool
	Timestamp   time.Time
	Version     string

	// BaseChecksum is the base image commit when packages are layered on
	// it, else "". BaseKnown says whether that commit's metadata could be
	// read (then BaseVersion and BaseTimestamp are set).
	BaseChecksum  string
	BaseKnown     bool
	BaseVersion   string
	BaseTimestamp time.Time

	// ImageDigest is the manifest digest of the container image the base
	// was pulled from ("sha256:…"), "" for an OSTree base.
	ImageDigest string

	// BaseCommitMeta is the base commit's metadata (nil when unknown);
	// LayeredCommitMeta the layered commit's, when packages are layered.
	BaseCommitMeta, LayeredCommitMeta map[string]any

	// PendingBase* describe a newer commit of the followed refspec that the
	// repo already has (fetched by a check), "" when there is none.
	PendingBaseChecksum  string
	PendingBaseVersion   string
	PendingBaseTimestamp time.Time

	// Origin is what the deployment's origin file asks for; nil when the
	// file is missing or malformed.
	Origin *DeploymentOrigin

	// GPGEnabled says the remote of the refspec followed verifies GPG
	// signatures; Signatures then describes those on the base commit,
	// checked against that remote's keys now (as rpm-ostree's status does).
	GPGEnabled bool
	Signatures []ostree.GPGSignature
	// RemoteError is libostree's error when the remote of the refspec
	// followed does not exist (rpm-ostree's "remote-error").
	RemoteError string
	// Ed25519Enabled says that remote verifies ed25519 signatures
	// (sign-verify); Ed25519Signers then lists the trusted keys (base64)
	// with a valid signature on the base commit, checked now.
	Ed25519Enabled bool
	Ed25519Signers []string

	// RemoteReplacements are the base packages that repo versions replace
	// in this deployment, by source ("repo=ID"), read from the base's and
	// the layered commit's package lists.
	RemoteReplacements map[string][]Replacement
	// LocalReplacements are the base packages that local RPMs (override
	// replace FILE.rpm) replace in this deployment, read the same way; an
	// inactive request (the base lacks the package) has none.
	LocalReplacements []Replacement
	// BaseRemovals are the base packages the layered commit left out and
	// nothing replaces (rpm-ostree's base-removals): what was removed, where
	// Origin.OverrideRemove is what was asked for.
	BaseRemovals []nevra.Package
}

// Replacement is a base package (Old) replaced by another version (New).
type Replacement struct{ New, Old nevra.Package }

// baseChanges is what a layered commit did to its base's packages, by
// name: the packages it holds now and the base packages it records as
// removed (rpmostree.removed-base-packages; replaced ones included). A base
// commit need not carry a package list, so this is all there is to go on.
type baseChanges struct {
	current map[string]nevra.Package
	removed []nevra.Package // in the commit's order
}

// readBaseChanges reads a layered commit's metadata once for the removals
// and both kinds of replacements. A commit that removed nothing replaced
// nothing either, so its package list is left unread.
func readBaseChanges(layeredMeta map[string]any) baseChanges {
	var c baseChanges
	names, _ := layeredMeta["rpmostree.removed-base-packages"].([]string)
	for _, s := range names {
		if p, err := nevra.Parse(s); err == nil {
			c.removed = append(c.removed, p)
		}
	}
	if len(c.removed) == 0 {
		return c
	}
	rows, _ := layeredMeta["rpmostree.rpmdb.pkglist"].([][5]string)
	pkgs, _ := rpmdb.ParsePkgList(rows)
	c.current = make(map[string]nevra.Package, len(pkgs))
	for _, p := range pkgs {
		c.current[p.Name] = p
	}
	return c
}

// removals are the removed base packages no other version took the place
// of.
func (c baseChanges) removals() []nevra.Package {
	var out []nevra.Package
	for _, p := range c.removed {
		if _, replaced := c.current[p.Name]; !replaced {
			out = append(out, p)
		}
	}
	return out
}

// replacementOf is the replacement of the base package name, if the
// layered commit swapped it for another version.
func (c baseChanges) replacementOf(name string) (Replacement, bool) {
	n, okNew := c.current[name]
	if !okNew {
		return Replacement{}, false
	}
	for _, o := range c.removed {
		if o.Name == name && nevra.Compare(o, n) != 0 {
			return Replacement{New: n, Old: o}, true
		}
	}
	return Replacement{}, false
}

// remoteReplacements finds, for the packages the origin's repo
// replacements name, the new and the base version.
func remoteReplacements(entries []string, c baseChanges) map[string][]Replacement {
	rs, err := parseRepoReplacements(entries)
	if err != nil || len(rs) == 0 {
		return nil
	}
	out := map[string][]Replacement{}
	for _, r := range rs {
		for _, name := range r.Packages {
			if rep, ok := c.replacementOf(name); ok {
				out["repo="+r.Repo] = append(out["repo="+r.Repo], rep)
			}
		}
	}
	return out
}

// localReplacements is remoteReplacements for the origin's local
// replacements, given as the NEVRAs of the replacing RPMs.
func localReplacements(nevras []string, c baseChanges) []Replacement {
	var out []Replacement
	for _, s := range nevras {
		p, err := nevra.Parse(s)
		if err != nil {
			continue
		}
		if rep, ok := c.replacementOf(p.Name); ok {
			out = append(out, rep)
		}
	}
	return out
}

// Signature is one verified GPG signature of a commit, as libostree
// describes it.
type Signature = ostree.GPGSignature

// DeploymentOrigin is the parsed origin of a deployment.
type DeploymentOrigin struct {
	Refspec                string   // the OSTree refspec followed, "" for an image
	ImageReference         string   // the container image followed, "" for a refspec
	RequestedPackages      []string // names, provides or paths, as requested
	RequestedLocalPackages []string // NEVRAs of requested local RPMs
	OverrideRemove         []string // base package names removed
	OverrideReplaceLocal   []string // NEVRAs of local RPMs replacing base packages
	OverrideCommit         string   // the pinned revision (`deploy`), or ""
	// OverrideReplace are repo replacements, "repo=ID,PKG,..." per source.
	OverrideReplace []string
	// CustomURL and CustomDescription say where a commit deployed by
	// checksum came from (rebase --custom-origin-url); "" when unset.
	CustomURL, CustomDescription string
	RegenerateInitramfs          bool     // the initramfs is rebuilt with the tree's dracut
	InitramfsArgs                []string // extra dracut arguments
	InitramfsEtc                 []string // /etc files put into an overlay initramfs
}

// Update describes a newer base commit that the sysroot's repo already knows about
// (fetched by an upgrade check or a download-only upgrade).
type Update struct {
	Osname      string
	Refspec     string // the OSTree refspec or container image followed
	IsImage     bool   // Refspec is a container image reference
	ImageDigest string // the new image's manifest digest, for an image
	Checksum    string
	Version     string
	Timestamp   time.Time
	// GPGEnabled and Signatures are as for a Deployment, for the new commit.
	GPGEnabled bool
	Signatures []ostree.GPGSignature
}

// snapshot builds the State of s.
func snapshot(s Sysroot) *State {
	st := &State{DefaultOS: defaultOSName(s), Updates: map[string]*Update{}}
	st.Stateroots, _ = s.Stateroots()
	repo := s.Repo()
	for _, d := range s.Deployments() {
		st.Deployments = append(st.Deployments, describeDeployment(s, repo, d))
		if d.Booted {
			st.BootedOS = d.Osname
		}
	}
	for _, name := range st.Stateroots {
		if u := cachedUpdate(s, name); u != nil {
			st.Updates[name] = u
		}
	}
	return st
}

func describeDeployment(s Sysroot, repo Repo, d *ostree.Deployment) Deployment {
	out := Deployment{
		ID: d.ID(), OSName: d.Osname, Serial: d.Serial, Checksum: d.Checksum,
		Booted: d.Booted, Staged: d.Staged, Pinned: d.Pinned, Kargs: d.Kargs,
	}
	if c, err := repo.ReadCommit(d.Checksum); err == nil {
		out.CommitKnown, out.Timestamp, out.Version = true, c.Timestamp, c.Version
		base := c
		if b := baseOf(c); b != d.Checksum {
			out.BaseChecksum = b
			base = nil
			if bc, err := repo.ReadCommit(b); err == nil {
				out.BaseKnown, out.BaseVersion, out.BaseTimestamp = true, bc.Version, bc.Timestamp
				base = bc
			}
		}
		if base != nil {
			out.ImageDigest = imageDigest(repo, base)
			out.BaseCommitMeta = base.Metadata
			if base != c {
				out.LayeredCommitMeta = c.Metadata
			}
		}
	}
	if o, err := originOf(s, d); err == nil {
		out.Origin = &DeploymentOrigin{
			Refspec:                o.Refspec(),
			ImageReference:         o.ImageReference(),
			RequestedPackages:      o.RequestedPackages(),
			RequestedLocalPackages: localNEVRAs(o.RequestedLocalPackages()),
			OverrideRemove:         o.OverrideRemove(),
			OverrideReplaceLocal:   localNEVRAs(o.OverrideReplaceLocal()),
			OverrideCommit:         o.OverrideCommit(),
			OverrideReplace:        o.OverrideReplace(),
			RegenerateInitramfs:    o.RegenerateInitramfs(),
			InitramfsArgs:          o.InitramfsArgs(),
			InitramfsEtc:           o.InitramfsEtc(),
		}
		out.Origin.CustomURL, out.Origin.CustomDescription = o.CustomOrigin()
		changes := readBaseChanges(out.LayeredCommitMeta)
		out.BaseRemovals = changes.removals()
		out.RemoteReplacements = remoteReplacements(out.Origin.OverrideReplace, changes)
		out.LocalReplacements = localReplacements(out.Origin.OverrideReplaceLocal, changes)
		describePendingBase(repo, o, &out)
		describeSignatures(repo, &out)
	}
	return out
}

// describePendingBase fills the PendingBase fields when the repo holds a
// newer head of the OSTree refspec d follows than its base (as rpm-ostree's
// pending-base-* keys); an image or a pinned revision has none.
func describePendingBase(repo Repo, o *origin.Origin, d *Deployment) {
	if o.Refspec() == "" || o.OverrideCommit() != "" {
		return
	}
	head, err := repo.ResolveRev(o.Refspec(), true)
	if err != nil || head == "" || head == d.base() {
		return
	}
	d.PendingBaseChecksum = head
	if c, err := repo.ReadCommit(head); err == nil {
		d.PendingBaseVersion, d.PendingBaseTimestamp = c.Version, c.Timestamp
	}
}

// base is the deployment's base commit: the layered commit's parent, else
// the deployed commit itself.
func (d *Deployment) base() string {
	if d.BaseChecksum != "" {
		return d.BaseChecksum
	}
	return d.Checksum
}

// describeSignatures fills in GPGEnabled and Signatures of a deployment that
// follows a refspec (its base commit is the signed one).
func describeSignatures(repo Repo, d *Deployment) {
	if remote, _ := origin.SplitRefspec(d.Origin.Refspec); remote != "" {
		if _, err := repo.RemoteGPGVerify(remote); ostree.IsNotFound(err) {
			var oerr *ostree.Error
			if errors.As(err, &oerr) {
				d.RemoteError = oerr.Message // libostree's words, as rpm-ostree shows them
			}
		}
	}
	d.GPGEnabled, d.Signatures = refspecSignatures(repo, d.Origin.Refspec, d.base())
	d.Ed25519Enabled, d.Ed25519Signers = commitEd25519(repo, d.Origin.Refspec, d.base())
}

// refspecSignatures says whether the remote of refspec verifies GPG
// signatures and, if so, describes commit's. A failed verification leaves
// the signatures out (the commit shows as unsigned) rather than failing the
// whole state.
func refspecSignatures(repo Repo, refspec, commit string) (bool, []ostree.GPGSignature) {
	remote, _ := origin.SplitRefspec(refspec)
	if remote == "" {
		return false, nil
	}
	if on, err := repo.RemoteGPGVerify(remote); err != nil || !on {
		return false, nil
	}
	sigs, _ := repo.CommitSignatures(commit, remote)
	return true, sigs
}

// localNEVRAs turns origin entries "<sha256>:<nevra>" into the NEVRAs users see.
func localNEVRAs(entries []string) []string {
	if len(entries) == 0 {
		return nil
	}
	nevras := make([]string, len(entries))
	for i, entry := range entries {
		_, nevras[i], _ = strings.Cut(entry, ":")
	}
	return nevras
}

// Booted is the booted deployment of the State, or nil when the host is not
// booted from this sysroot.
func (st *State) Booted() *Deployment {
	for i := range st.Deployments {
		if st.Deployments[i].Booted {
			return &st.Deployments[i]
		}
	}
	return nil
}

// defaultOSName is the stateroot a request without one acts on: the booted
// one, or on a host not booted from this sysroot (tests, image builds) the
// default deployment's.
func defaultOSName(s Sysroot) string {
	if b := s.BootedDeployment(); b != nil {
		return b.Osname
	}
	if ds := s.Deployments(); len(ds) > 0 {
		return ds[0].Osname
	}
	return ""
}

// originOf reads and parses a deployment's origin file, saying which file to fix
// when it is malformed. The file is read from disk each time rather than taken
// from libostree's copy, which is only refreshed when the deployment list
// changes: an administrator's edit must count at once.
func originOf(s Sysroot, d *ostree.Deployment) (*origin.Origin, error) {
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

// imageDigest is the manifest digest a commit pulled from a container image
// records, "" for any other commit. A merged image commit has it in its
// metadata; the commit of a pure OSTree-native image, which must stay as the
// image encapsulated it, beside it (detached metadata).
func imageDigest(repo Repo, c *ostree.Commit) string {
	if d, ok := c.Metadata[image.MetaManifestDigest].(string); ok {
		return d
	}
	detached, err := repo.ReadDetachedMetadata(c.Checksum)
	if err != nil {
		return ""
	}
	d, _ := detached[image.MetaManifestDigest].(string)
	return d
}

// baseOfCommit is the base image commit of checksum: the commit itself, or
// its parent when the commit is a client-side layer over a base.
func baseOfCommit(repo Repo, checksum string) string {
	c, err := repo.ReadCommit(checksum)
	if err != nil {
		return checksum
	}
	return baseOf(c)
}

// baseOf is baseOfCommit for a commit already read.
func baseOf(c *ostree.Commit) string {
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
func syncBaseRefs(repo Repo, deployments []*ostree.Deployment, extra ...string) error {
	var want []string
	for _, d := range deployments {
		if base := baseOfCommit(repo, d.Checksum); base != d.Checksum && !slices.Contains(want, base) {
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

// cachedUpdate reports the update for osname found in the local repo, or nil.
// It compares against the deployment that an upgrade would start from.
func cachedUpdate(s Sysroot, osname string) *Update {
	merge := s.MergeDeployment(osname)
	if merge == nil {
		return nil
	}
	o, err := originOf(s, merge)
	if err != nil || o.OverrideCommit() != "" {
		return nil
	}
	src, err := baseSourceOf(o)
	if err != nil {
		return nil
	}
	repo := s.Repo()
	head := src.head(repo)
	if head == "" {
		return nil
	}
	base := readBase(repo, merge)
	if head == base.checksum {
		return nil
	}
	newCommit, err := repo.ReadCommit(head)
	if err != nil {
		return nil
	}
	if base.commit != nil && newCommit.Timestamp.Before(base.commit.Timestamp) {
		return nil
	}
	_, isImage := src.(imageBase)
	u := &Update{Osname: osname, Refspec: src.String(), IsImage: isImage, ImageDigest: imageDigest(repo, newCommit),
		Checksum: head, Version: newCommit.Version, Timestamp: newCommit.Timestamp}
	if !isImage {
		u.GPGEnabled, u.Signatures = refspecSignatures(repo, u.Refspec, head)
	}
	return u
}

// baseCommit is a deployment's base, resolved and read once per transaction.
type baseCommit struct {
	checksum string
	commit   *ostree.Commit // nil when the repo no longer has it (pruned)
}

// readBase finds and reads the base commit of d.
func readBase(repo Repo, d *ostree.Deployment) baseCommit {
	c, err := repo.ReadCommit(d.Checksum)
	if err != nil {
		return baseCommit{checksum: d.Checksum}
	}
	base := baseCommit{checksum: baseOf(c)}
	if base.checksum == d.Checksum {
		base.commit = c
	} else if bc, err := repo.ReadCommit(base.checksum); err == nil {
		base.commit = bc
	}
	return base
}

func deploymentByID(s Sysroot, id string) *ostree.Deployment {
	for _, d := range s.Deployments() {
		if d.ID() == id {
			return d
		}
	}
	return nil
}
