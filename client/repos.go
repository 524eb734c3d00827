package client

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

// AvailablePackage is one package of a repo query (Search, WhatProvides,
// GetPackages), as rpm-ostree's daemon describes it.
type AvailablePackage struct {
	Key      string // what matched it: the name asked for, or Search's match group
	Name     string
	Epoch    uint64
	Version  string
	Arch     string
	NEVRA    string
	EVR      string
	Summary  string
	RepoName string
}

// Search finds packages in the cached repo metadata by name and summary.
func (o *OS) Search(ctx context.Context, terms []string) ([]AvailablePackage, error) {
	return o.packageQuery(ctx, "Search", terms)
}

// WhatProvides lists the newest package of each arch providing one of deps.
func (o *OS) WhatProvides(ctx context.Context, deps []string) ([]AvailablePackage, error) {
	return o.packageQuery(ctx, "WhatProvides", deps)
}

// GetPackages lists the newest package of each arch for each name.
func (o *OS) GetPackages(ctx context.Context, names []string) ([]AvailablePackage, error) {
	return o.packageQuery(ctx, "GetPackages", names)
}

func (o *OS) packageQuery(ctx context.Context, method string, args []string) ([]AvailablePackage, error) {
	var raw []map[string]dbus.Variant
	if err := o.obj.CallWithContext(ctx, OSInterface+"."+method, 0, args).Store(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	out := make([]AvailablePackage, 0, len(raw))
	for _, d := range raw {
		p := AvailablePackage{}
		for key, dst := range map[string]*string{"key": &p.Key, "name": &p.Name, "version": &p.Version, "arch": &p.Arch,
			"nevra": &p.NEVRA, "evr": &p.EVR, "summary": &p.Summary, "reponame": &p.RepoName} {
			*dst, _ = d[key].Value().(string)
		}
		p.Epoch, _ = d["epoch"].Value().(uint64)
		out = append(out, p)
	}
	return out, nil
}

// Repo is one configured rpm-md repository.
type Repo struct {
	ID, Description            string
	Enabled, IsDevel, IsSource bool
}

// ListRepos lists the repos configured for this stateroot.
func (o *OS) ListRepos(ctx context.Context) ([]Repo, error) {
	var raw []map[string]dbus.Variant
	if err := o.obj.CallWithContext(ctx, OSInterface+".ListRepos", 0).Store(&raw); err != nil {
		return nil, fmt.Errorf("ListRepos: %w", err)
	}
	out := make([]Repo, 0, len(raw))
	for _, d := range raw {
		r := Repo{}
		r.ID, _ = d["id"].Value().(string)
		r.Description, _ = d["description"].Value().(string)
		r.Enabled, _ = d["is-enabled"].Value().(bool)
		r.IsDevel, _ = d["is-devel"].Value().(bool)
		r.IsSource, _ = d["is-source"].Value().(bool)
		out = append(out, r)
	}
	return out, nil
}

// ClearRollbackTarget removes the rollback deployment (the older form of
// Cleanup with "rollback-deploy").
func (o *OS) ClearRollbackTarget(ctx context.Context) (*Transaction, error) {
	return o.start(ctx, "ClearRollbackTarget", map[string]dbus.Variant{})
}

// DownloadRebaseRpmDiff fetches what a rebase preview of refspec needs.
func (o *OS) DownloadRebaseRpmDiff(ctx context.Context, refspec string) (*Transaction, error) {
	return o.start(ctx, "DownloadRebaseRpmDiff", refspec, []string{})
}

// DownloadDeployRpmDiff fetches what a deploy preview of revision needs.
func (o *OS) DownloadDeployRpmDiff(ctx context.Context, revision string) (*Transaction, error) {
	return o.start(ctx, "DownloadDeployRpmDiff", revision, []string{})
}

// BootOptions are the options of SetInitramfsState and InitramfsEtc.
type BootOptions struct {
	Reboot                bool
	LockFinalization      bool
	InitiatingCommandLine string
}

func (b BootOptions) dict() map[string]dbus.Variant {
	return withExtra(map[string]dbus.Variant{
		"reboot":            dbus.MakeVariant(b.Reboot),
		"lock-finalization": dbus.MakeVariant(b.LockFinalization),
	}, b.InitiatingCommandLine, nil)
}

// SetInitramfsState turns regenerating the initramfs (with the tree's own
// dracut and these extra arguments) on or off, deploying again.
func (o *OS) SetInitramfsState(ctx context.Context, regenerate bool, args []string, opts BootOptions) (*Transaction, error) {
	if args == nil {
		args = []string{}
	}
	return o.start(ctx, "SetInitramfsState", regenerate, args, opts.dict())
}

// InitramfsEtc changes which /etc files are tracked into the initramfs.
func (o *OS) InitramfsEtc(ctx context.Context, track, untrack []string, untrackAll, forceSync bool, opts BootOptions) (*Transaction, error) {
	if track == nil {
		track = []string{}
	}
	if untrack == nil {
		untrack = []string{}
	}
	return o.start(ctx, "InitramfsEtc", track, untrack, untrackAll, forceSync, opts.dict())
}

// ModifyYumRepo changes settings of a repo in the host's /etc/yum.repos.d;
// the daemon allows only "enabled" ("0" or "1"), as rpm-ostree does.
func (o *OS) ModifyYumRepo(ctx context.Context, repoID string, settings map[string]string) (*Transaction, error) {
	return o.start(ctx, "ModifyYumRepo", repoID, settings)
}

// Moo is OSExperimental.Moo, rpm-ostree's liveness check of the daemon
// (`rpm-ostree testutils moo`): a cow, in Unicode when utf8 is set.
func (o *OS) Moo(ctx context.Context, utf8 bool) (string, error) {
	var out string
	if err := o.obj.CallWithContext(ctx, OSExperimentalInterface+".Moo", 0, utf8).Store(&out); err != nil {
		return "", fmt.Errorf("Moo: %w", err)
	}
	return out, nil
}
