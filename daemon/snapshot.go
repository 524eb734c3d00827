package daemon

import (
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/transactions"
)

// snapshot is the host state as the properties publish it, converted from
// one transactions.State so that all properties agree with each other.
type snapshot struct {
	deployments []map[string]dbus.Variant
	bootedOS    string
	defaultOS   string // what GetOS("") answers
	stateroots  []string
	perOS       map[string]osState
}

// osState is what one OS object publishes. Empty dicts mean "none": clients
// (Cockpit among them) expect a{sv}, never a missing property.
type osState struct {
	booted, def, rollback, cachedUpdate map[string]dbus.Variant
}

type dict = map[string]dbus.Variant

func wireSnapshot(st *transactions.State) snapshot {
	snap := snapshot{perOS: map[string]osState{}, defaultOS: st.DefaultOS, bootedOS: st.BootedOS, stateroots: st.Stateroots}
	dicts := make([]dict, len(st.Deployments))
	for i := range st.Deployments {
		dicts[i] = deploymentDict(&st.Deployments[i])
		snap.deployments = append(snap.deployments, dicts[i])
	}
	if snap.deployments == nil {
		snap.deployments = []map[string]dbus.Variant{}
	}
	for _, name := range st.Stateroots {
		per := osState{booted: dict{}, def: dict{}, rollback: dict{}, cachedUpdate: dict{}}
		var mine []int // indexes of this stateroot's deployments
		for i, d := range st.Deployments {
			if d.OSName == name {
				mine = append(mine, i)
			}
		}
		anchor := 0 // the booted deployment, else the default one
		for j, i := range mine {
			if st.Deployments[i].Booted {
				per.booted = dicts[i]
				anchor = j
			}
		}
		if len(mine) > 0 {
			per.def = dicts[mine[0]]
		}
		if anchor+1 < len(mine) {
			per.rollback = dicts[mine[anchor+1]]
		}
		if u := st.Updates[name]; u != nil {
			per.cachedUpdate = updateDict(u)
		}
		snap.perOS[name] = per
	}
	return snap
}

// deploymentDict describes a deployment with rpm-ostree's keys. booted, staged,
// pinned and timestamp are always present: clients read them unchecked.
func deploymentDict(d *transactions.Deployment) dict {
	out := dict{
		"id":                       dbus.MakeVariant(d.ID),
		"osname":                   dbus.MakeVariant(d.OSName),
		"serial":                   dbus.MakeVariant(int32(d.Serial)),
		"checksum":                 dbus.MakeVariant(d.Checksum),
		"booted":                   dbus.MakeVariant(d.Booted),
		"staged":                   dbus.MakeVariant(d.Staged),
		"pinned":                   dbus.MakeVariant(d.Pinned),
		"timestamp":                dbus.MakeVariant(uint64(0)),
		"unlocked":                 dbus.MakeVariant("none"),
		"signatures":               dbus.MakeVariant([]dbus.Variant{}),
		"packages":                 dbus.MakeVariant([]string{}),
		"requested-packages":       dbus.MakeVariant([]string{}),
		"requested-local-packages": dbus.MakeVariant([]string{}),
		"base-removals":            dbus.MakeVariant(baseRemovals(d.BaseRemovals)),
		"requested-base-removals":  dbus.MakeVariant([]string{}),
		"regenerate-initramfs":     dbus.MakeVariant(false),
		// Features strata does not have, sent empty with rpm-ostree's
		// types because clients read them unchecked.
		"requested-local-fileoverride-packages": dbus.MakeVariant([]string{}),
		"requested-modules":                     dbus.MakeVariant([]string{}),
		"requested-modules-enabled":             dbus.MakeVariant([]string{}),
		"modules":                               dbus.MakeVariant([]string{}),
		"initramfs-etc":                         dbus.MakeVariant([]string{}),
		"base-remote-replacements":              dbus.MakeVariant(map[string]dbus.Variant{}),
		"gpg-enabled":                           dbus.MakeVariant(d.GPGEnabled),
	}
	if d.RemoteError != "" {
		out["remote-error"] = dbus.MakeVariant(d.RemoteError)
	}
	if len(d.RemoteReplacements) > 0 {
		out["base-remote-replacements"] = dbus.MakeVariant(remoteReplacementsDict(d.RemoteReplacements))
	}
	if len(d.LocalReplacements) > 0 {
		out["base-local-replacements"] = dbus.MakeVariant(replacementPairs(d.LocalReplacements))
	}
	if len(d.Signatures) > 0 {
		out["signatures"] = signaturesVariant(d.Signatures)
	}
	if d.Ed25519Enabled {
		// strata's own keys (rpm-ostree reports nothing for sign-verify);
		// sent only for such remotes, so other dicts stay rpm-ostree's.
		out["ed25519-enabled"] = dbus.MakeVariant(true)
		out["ed25519-signatures"] = dbus.MakeVariant(append([]string{}, d.Ed25519Signers...))
	}
	if d.BaseCommitMeta != nil {
		out["base-commit-meta"] = dbus.MakeVariant(commitMeta(d.BaseCommitMeta))
	}
	if d.LayeredCommitMeta != nil {
		out["layered-commit-meta"] = dbus.MakeVariant(commitMeta(d.LayeredCommitMeta))
	}
	if d.PendingBaseChecksum != "" {
		out["pending-base-checksum"] = dbus.MakeVariant(d.PendingBaseChecksum)
		out["pending-base-timestamp"] = dbus.MakeVariant(uint64(d.PendingBaseTimestamp.Unix()))
		if d.PendingBaseVersion != "" {
			out["pending-base-version"] = dbus.MakeVariant(d.PendingBaseVersion)
		}
	}
	if d.CommitKnown {
		out["timestamp"] = dbus.MakeVariant(uint64(d.Timestamp.Unix()))
		if d.Version != "" {
			out["version"] = dbus.MakeVariant(d.Version)
		}
	}
	if d.BaseChecksum != "" {
		out["base-checksum"] = dbus.MakeVariant(d.BaseChecksum)
		if d.BaseKnown {
			out["base-timestamp"] = dbus.MakeVariant(uint64(d.BaseTimestamp.Unix()))
			out["base-version"] = dbus.MakeVariant(d.BaseVersion)
		}
	}
	if o := d.Origin; o != nil {
		// As rpm-ostree: a deployment following an image has no "origin",
		// but the image reference and the digest it was pulled at.
		if o.ImageReference != "" {
			out["container-image-reference"] = dbus.MakeVariant(o.ImageReference)
			if d.ImageDigest != "" {
				out["container-image-reference-digest"] = dbus.MakeVariant(d.ImageDigest)
			}
		} else {
			out["origin"] = dbus.MakeVariant(o.Refspec)
		}
		if pkgs := o.RequestedPackages; len(pkgs) > 0 {
			out["requested-packages"] = dbus.MakeVariant(pkgs)
			// A deployment of the base itself layers nothing: its
			// requests are all dormant (the base provides them), and
			// rpm-ostree's "packages" is what is layered.
			if d.BaseChecksum != "" {
				out["packages"] = dbus.MakeVariant(pkgs)
			}
		}
		if local := o.RequestedLocalPackages; len(local) > 0 {
			out["requested-local-packages"] = dbus.MakeVariant(local)
		}
		if replacements := o.OverrideReplaceLocal; len(replacements) > 0 {
			out["requested-base-local-replacements"] = dbus.MakeVariant(replacements)
		}
		if removals := o.OverrideRemove; len(removals) > 0 {
			out["requested-base-removals"] = dbus.MakeVariant(removals)
		}
		if o.RegenerateInitramfs {
			out["regenerate-initramfs"] = dbus.MakeVariant(true)
			args := o.InitramfsArgs
			if args == nil {
				args = []string{}
			}
			out["initramfs-args"] = dbus.MakeVariant(args)
		}
		if len(o.InitramfsEtc) > 0 {
			out["initramfs-etc"] = dbus.MakeVariant(o.InitramfsEtc)
		}
		if o.CustomURL != "" {
			out["custom-origin"] = dbus.MakeVariant(customOrigin{o.CustomURL, o.CustomDescription})
		}
		if len(o.OverrideReplace) > 0 {
			out["requested-base-remote-replacements"] = dbus.MakeVariant(remoteReplacementRequests(o.OverrideReplace))
		}
		if c := o.OverrideCommit; c != "" {
			// not an rpm-ostree key; lets `status` say the deployment is pinned to a revision
			out["override-commit"] = dbus.MakeVariant(c)
		}
	}
	return out
}

// baseRemovals is rpm-ostree's base-removals: the base packages the layered
// commit removed (transactions tells them from replaced ones), each as the
// av entry (sstsss) rpm-ostree's clients decode. It is what was removed,
// where requested-base-removals is what was asked for (an inactive request
// removes nothing).
func baseRemovals(pkgs []nevra.Package) []dbus.Variant {
	out := []dbus.Variant{}
	for _, t := range packageTuples(pkgs) {
		out = append(out, dbus.MakeVariant(t))
	}
	return out
}

// customOrigin is rpm-ostree's "custom-origin" (ss): URL, description.
type customOrigin struct{ URL, Description string }

// remoteReplacement is one entry of rpm-ostree's
// requested-base-remote-replacements a(sas): the source ("repo=ID") and the
// packages taken from it.
type remoteReplacement struct {
	Source   string
	Packages []string
}

// remoteReplacementRequests turns the origin's "repo=ID,PKG,..." entries
// into rpm-ostree's a(sas).
func remoteReplacementRequests(entries []string) []remoteReplacement {
	out := make([]remoteReplacement, 0, len(entries))
	for _, e := range entries {
		parts := strings.Split(e, ",")
		out = append(out, remoteReplacement{Source: parts[0], Packages: append([]string{}, parts[1:]...)})
	}
	return out
}

// remoteReplacementsDict is rpm-ostree's base-remote-replacements a{sv}:
// per source, a(vv) of (new, old) package tuples (sstsss).
func remoteReplacementsDict(rs map[string][]transactions.Replacement) map[string]dbus.Variant {
	out := map[string]dbus.Variant{}
	for source, list := range rs {
		out[source] = dbus.MakeVariant(replacementPairs(list))
	}
	return out
}

// vvPair is one replacement as rpm-ostree sends it: (new, old), each a
// package tuple (sstsss) in a variant.
type vvPair struct{ New, Old dbus.Variant }

// replacementPairs is a list of replacements as rpm-ostree's a(vv)
// (base-local-replacements, and each source's list of
// base-remote-replacements).
func replacementPairs(list []transactions.Replacement) []vvPair {
	pairs := make([]vvPair, 0, len(list))
	for _, r := range list {
		tuples := packageTuples([]nevra.Package{r.New, r.Old})
		pairs = append(pairs, vvPair{dbus.MakeVariant(tuples[0]), dbus.MakeVariant(tuples[1])})
	}
	return pairs
}

// commitMeta is a commit's metadata as rpm-ostree's base-commit-meta /
// layered-commit-meta: every key but the package list (rpm-ostree filters it
// out too: it is large and clients read packages elsewhere). Values keep
// their types; ones internal/ostree renders as text stay text.
func commitMeta(md map[string]any) map[string]dbus.Variant {
	out := make(map[string]dbus.Variant, len(md))
	for k, v := range md {
		if k == "rpmostree.rpmdb.pkglist" {
			continue
		}
		if rows, ok := v.([][5]string); ok {
			tuples := make([][]string, len(rows))
			for i, r := range rows {
				tuples[i] = r[:]
			}
			v = tuples
		}
		out[k] = dbus.MakeVariant(v)
	}
	return out
}

// updateDict describes a cached update with rpm-ostree's CachedUpdate keys.
func updateDict(u *transactions.Update) dict {
	d := dict{
		"osname":             dbus.MakeVariant(u.Osname),
		"checksum":           dbus.MakeVariant(u.Checksum),
		"version":            dbus.MakeVariant(u.Version),
		"timestamp":          dbus.MakeVariant(uint64(u.Timestamp.Unix())),
		"origin":             dbus.MakeVariant(u.Refspec),
		"signatures":         signaturesVariant(u.Signatures),
		"gpg-enabled":        dbus.MakeVariant(u.GPGEnabled),
		"ref-has-new-commit": dbus.MakeVariant(true),
	}
	if u.IsImage {
		d["container-image-reference"] = dbus.MakeVariant(u.Refspec)
		d["container-image-reference-digest"] = dbus.MakeVariant(u.ImageDigest)
	}
	return d
}

// signaturesVariant is rpm-ostree's "signatures" av: each entry libostree's
// (bbbbbsxxsssssxx) signature description, which the struct's fields follow
// in order.
func signaturesVariant(sigs []transactions.Signature) dbus.Variant {
	out := make([]dbus.Variant, len(sigs))
	for i, sig := range sigs {
		out[i] = dbus.MakeVariant(sig)
	}
	return dbus.MakeVariant(out)
}
