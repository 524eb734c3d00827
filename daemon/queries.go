package daemon

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

// Read-only queries over the rpm-md repos (no authorization, no
// transaction, no network: see transactions/query.go). The package
// dictionaries carry rpm-ostree's keys so its clients read them unchanged.

// ListRepos lists the configured repos: id, description, is-devel,
// is-source, is-enabled.
func (o *osObject) ListRepos() ([]map[string]dbus.Variant, *dbus.Error) {
	repos, err := o.d.engine.Repos(context.Background(), o.name)
	if err != nil {
		return nil, failed(err)
	}
	out := []map[string]dbus.Variant{}
	for _, r := range repos {
		out = append(out, map[string]dbus.Variant{
			"id":          dbus.MakeVariant(r.ID),
			"description": dbus.MakeVariant(r.Name),
			"is-devel":    dbus.MakeVariant(isDevelRepo(r.ID)),
			"is-source":   dbus.MakeVariant(strings.HasSuffix(r.ID, "-source")),
			"is-enabled":  dbus.MakeVariant(r.Enabled),
		})
	}
	return out, nil
}

// isDevelRepo tells the repos of debugging and development files apart by
// the id suffixes distributions give them.
func isDevelRepo(id string) bool {
	for _, suffix := range []string{"-debuginfo", "-debugsource", "-devel", "-development"} {
		if strings.HasSuffix(id, suffix) {
			return true
		}
	}
	return false
}

// Search finds packages by name and summary; each result's "key" is its
// match group (match_group_a: all terms in name or summary, b: in the name,
// c: in the summary).
func (o *osObject) Search(names []string) ([]map[string]dbus.Variant, *dbus.Error) {
	if len(names) == 0 {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{"Must specify a term for search"})
	}
	return packageDicts(o.d.engine.Search(context.Background(), o.name, names))
}

// WhatProvides lists the newest package of each arch providing one of the
// given capabilities, names or file paths.
func (o *osObject) WhatProvides(provides []string) ([]map[string]dbus.Variant, *dbus.Error) {
	return packageDicts(o.d.engine.WhatProvides(context.Background(), o.name, provides))
}

// GetPackages lists the newest package of each arch for each name; "key" is
// the name asked for.
func (o *osObject) GetPackages(names []string) ([]map[string]dbus.Variant, *dbus.Error) {
	return packageDicts(o.d.engine.GetPackages(context.Background(), o.name, names))
}

func packageDicts(matches []transactions.PackageMatch, err error) ([]map[string]dbus.Variant, *dbus.Error) {
	if err != nil {
		return nil, failed(err)
	}
	out := []map[string]dbus.Variant{}
	for _, m := range matches {
		d := map[string]dbus.Variant{
			"name":     dbus.MakeVariant(m.Name),
			"epoch":    dbus.MakeVariant(uint64(m.Epoch)),
			"version":  dbus.MakeVariant(m.Version),
			"arch":     dbus.MakeVariant(m.Arch),
			"nevra":    dbus.MakeVariant(m.NEVRA()),
			"evr":      dbus.MakeVariant(m.EVR()),
			"summary":  dbus.MakeVariant(m.Summary),
			"reponame": dbus.MakeVariant(m.RepoID),
		}
		if m.Key != "" {
			d["key"] = dbus.MakeVariant(m.Key)
		}
		out = append(out, d)
	}
	return out, nil
}
