package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/strata-os/strata/client"
)

// diffGroups sorts an RPM diff into rpm-ostree's four sections, each by
// name. The section follows from which packages an entry carries (only a
// new one: added; only a previous one: removed); the type only tells an
// upgrade from a downgrade. Entries without any package are dropped: there
// is nothing to show for them.
type diffGroups struct {
	upgraded, downgraded, removed, added []client.PkgChange
}

func groupDiff(diff []client.PkgChange) diffGroups {
	var g diffGroups
	for _, c := range diff {
		switch {
		case c.Previous != nil && c.New != nil:
			if c.Type == client.ChangeDowngraded {
				g.downgraded = append(g.downgraded, c)
			} else {
				g.upgraded = append(g.upgraded, c)
			}
		case c.Previous != nil:
			g.removed = append(g.removed, c)
		case c.New != nil:
			g.added = append(g.added, c)
		}
	}
	for _, l := range [][]client.PkgChange{g.upgraded, g.downgraded, g.removed, g.added} {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	return g
}

// writeDiffBlock prints a diff as rpm-ostree's multi-line block (after
// install, override, upgrade and in `db diff`): a header per non-empty
// section, then one indented line per package.
func writeDiffBlock(w io.Writer, diff []client.PkgChange) {
	g := groupDiff(diff)
	for _, s := range []struct {
		title   string
		changes []client.PkgChange
	}{{"Upgraded", g.upgraded}, {"Downgraded", g.downgraded}} {
		for i, c := range s.changes {
			if i == 0 {
				fmt.Fprintf(w, "%s:\n", s.title)
			}
			fmt.Fprintf(w, "  %s %s -> %s\n", c.Name, c.Previous.EVR, c.New.EVR)
		}
	}
	for i, c := range g.removed {
		if i == 0 {
			fmt.Fprintln(w, "Removed:")
		}
		fmt.Fprintf(w, "  %s\n", c.Previous.NEVRA())
	}
	for i, c := range g.added {
		if i == 0 {
			fmt.Fprintln(w, "Added:")
		}
		fmt.Fprintf(w, "  %s\n", c.New.NEVRA())
	}
}

// writeDiffAligned prints a diff with labels right-aligned to width, the
// layout of the AvailableUpdate block.
func writeDiffAligned(w io.Writer, diff []client.PkgChange, width int) {
	g := groupDiff(diff)
	line := func(i int, label, text string) {
		sep := ":"
		if i > 0 {
			label, sep = "", " "
		}
		fmt.Fprintf(w, "  %*s%s %s\n", width, label, sep, text)
	}
	for i, c := range g.upgraded {
		line(i, "Upgraded", fmt.Sprintf("%s %s -> %s", c.Name, c.Previous.EVR, c.New.EVR))
	}
	for i, c := range g.downgraded {
		line(i, "Downgraded", fmt.Sprintf("%s %s -> %s", c.Name, c.Previous.EVR, c.New.EVR))
	}
	for i, c := range g.removed {
		line(i, "Removed", c.Previous.NEVRA())
	}
	for i, c := range g.added {
		line(i, "Added", c.New.NEVRA())
	}
}

// writeDiffScript prints `db diff --format=diff`: one entry per package in
// name order, "+nevra" added, "-nevra" removed, and "!old" then "=new" for
// a changed package.
func writeDiffScript(w io.Writer, diff []client.PkgChange) {
	g := groupDiff(diff)
	all := append(append(append(append([]client.PkgChange{}, g.upgraded...), g.downgraded...), g.removed...), g.added...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	for _, c := range all {
		switch {
		case c.Previous != nil && c.New != nil:
			fmt.Fprintf(w, "!%s\n=%s\n", c.Previous.NEVRA(), c.New.NEVRA())
		case c.Previous != nil:
			fmt.Fprintf(w, "-%s\n", c.Previous.NEVRA())
		default:
			fmt.Fprintf(w, "+%s\n", c.New.NEVRA())
		}
	}
}

// diffJSON renders a diff the way rpm-ostree's `db diff --format=json`
// serializes its a(sua{sv}) value: [name, type, {details}] per entry, each
// package as [name, evr, arch].
func diffJSON(diff []client.PkgChange) []any {
	out := make([]any, 0, len(diff))
	for _, c := range diff {
		details := map[string]any{}
		if c.Previous != nil {
			details["PreviousPackage"] = []string{c.Previous.Name, c.Previous.EVR, c.Previous.Arch}
		}
		if c.New != nil {
			details["NewPackage"] = []string{c.New.Name, c.New.EVR, c.New.Arch}
		}
		out = append(out, []any{c.Name, uint32(c.Type), details})
	}
	return out
}
