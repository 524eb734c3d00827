package daemon

import (
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/transactions"
)

// snapshot is the host state as the properties publish it, taken in one go while
// the sysroot is held so that all properties agree with each other.
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

func takeSnapshot(s *ostree.Sysroot) snapshot {
	snap := snapshot{perOS: map[string]osState{}, defaultOS: transactions.DefaultOSName(s)}
	roots, _ := s.Stateroots()
	snap.stateroots = roots
	deployments := s.Deployments()
	dicts := make(map[*ostree.Deployment]dict, len(deployments))
	for _, d := range deployments {
		dicts[d] = deploymentDict(s, d)
		snap.deployments = append(snap.deployments, dicts[d])
		if d.Booted {
			snap.bootedOS = d.Osname
		}
	}
	if snap.deployments == nil {
		snap.deployments = []map[string]dbus.Variant{}
	}
	for _, name := range roots {
		st := osState{booted: dict{}, def: dict{}, rollback: dict{}, cachedUpdate: dict{}}
		var mine []*ostree.Deployment
		for _, d := range deployments {
			if d.Osname == name {
				mine = append(mine, d)
			}
		}
		anchor := 0 // the booted deployment, else the default one
		for i, d := range mine {
			if d.Booted {
				st.booted = dicts[d]
				anchor = i
			}
		}
		if len(mine) > 0 {
			st.def = dicts[mine[0]]
		}
		if anchor+1 < len(mine) {
			st.rollback = dicts[mine[anchor+1]]
		}
		if u := transactions.CachedUpdate(s, name); u != nil {
			st.cachedUpdate = updateDict(u)
		}
		snap.perOS[name] = st
	}
	return snap
}

// deploymentDict describes a deployment with rpm-ostree's keys. booted, staged,
// pinned and timestamp are always present: clients read them unchecked.
func deploymentDict(s *ostree.Sysroot, d *ostree.Deployment) dict {
	repo := s.Repo()
	out := dict{
		"id":                       dbus.MakeVariant(d.ID()),
		"osname":                   dbus.MakeVariant(d.Osname),
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
		"base-removals":            dbus.MakeVariant([]string{}),
		"requested-base-removals":  dbus.MakeVariant([]string{}),
		"regenerate-initramfs":     dbus.MakeVariant(false),
	}
	base := d.Checksum
	if c, err := repo.ReadCommit(d.Checksum); err == nil {
		out["timestamp"] = dbus.MakeVariant(uint64(c.Timestamp.Unix()))
		if c.Version != "" {
			out["version"] = dbus.MakeVariant(c.Version)
		}
		base = transactions.BaseOf(c)
	}
	if base != d.Checksum {
		out["base-checksum"] = dbus.MakeVariant(base)
		if c, err := repo.ReadCommit(base); err == nil {
			out["base-timestamp"] = dbus.MakeVariant(uint64(c.Timestamp.Unix()))
			out["base-version"] = dbus.MakeVariant(c.Version)
		}
	}
	if o, err := transactions.OriginOf(s, d); err == nil {
		out["origin"] = dbus.MakeVariant(o.Refspec())
		if pkgs := o.RequestedPackages(); len(pkgs) > 0 {
			out["requested-packages"] = dbus.MakeVariant(pkgs)
			out["packages"] = dbus.MakeVariant(pkgs)
		}
		if local := o.RequestedLocalPackages(); len(local) > 0 {
			out["requested-local-packages"] = dbus.MakeVariant(localNEVRAs(local))
		}
		if replacements := o.OverrideReplaceLocal(); len(replacements) > 0 {
			out["requested-base-local-replacements"] = dbus.MakeVariant(localNEVRAs(replacements))
		}
		if removals := o.OverrideRemove(); len(removals) > 0 {
			out["requested-base-removals"] = dbus.MakeVariant(removals)
		}
		if c := o.OverrideCommit(); c != "" {
			// not an rpm-ostree key; lets `status` say the deployment is pinned to a revision
			out["override-commit"] = dbus.MakeVariant(c)
		}
	}
	return out
}

// updateDict describes a cached update with rpm-ostree's CachedUpdate keys.
func updateDict(u *transactions.Update) dict {
	return dict{
		"osname":             dbus.MakeVariant(u.Osname),
		"checksum":           dbus.MakeVariant(u.Checksum),
		"version":            dbus.MakeVariant(u.Version),
		"timestamp":          dbus.MakeVariant(uint64(u.Timestamp.Unix())),
		"origin":             dbus.MakeVariant(u.Refspec),
		"signatures":         dbus.MakeVariant([]dbus.Variant{}),
		"gpg-enabled":        dbus.MakeVariant(false),
		"ref-has-new-commit": dbus.MakeVariant(true),
	}
}

// localNEVRAs turns origin entries "<sha256>:<nevra>" into the NEVRAs clients show.
func localNEVRAs(entries []string) []string {
	nevras := make([]string, len(entries))
	for i, entry := range entries {
		_, nevras[i], _ = strings.Cut(entry, ":")
	}
	return nevras
}
