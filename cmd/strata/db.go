package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/strata-os/strata/client"
)

// The db commands. rpm-ostree reads commits from the repository itself; the
// CLI here links no libostree, so revisions are mostly deployments: an index
// into status's list (0, 1…), a deployment id, or the checksum of a deployed
// commit (a unique prefix is enough); a full checksum of any other commit of
// the sysroot's repo is passed on for the daemon to read. Diffs come from the daemon
// (GetDeploymentsRpmDiff), and so do package lists (ListDeploymentPackages,
// strata's own method): the CLI reads nothing from the sysroot itself, so it
// works for users who cannot read it.

var dbRepoOption = option{long: "repo", short: 'r', arg: "PATH", help: "Not supported: strata reads deployments through the daemon", hidden: true}

var dbCommand = &command{
	name: "db", summary: "Commands to query the RPM database",
	subcommands: []*command{
		{name: "diff", parent: "db", params: "[FROM_REV] [TO_REV]", summary: "Show package changes between two commits",
			run: runDBDiff, opts: []option{
				dbRepoOption,
				{long: "format", short: 'F', arg: "FORMAT", help: "Output format: \"diff\" or \"json\" or (default) \"block\""},
				{long: "changelogs", short: 'c', help: "Also output RPM changelogs"},
				{long: "sysroot", arg: "SYSROOT", help: "Use system root SYSROOT (default: /)", hidden: true},
				{long: "base", help: "Diff against deployments' base, not layered commits"},
				{long: "advisories", short: 'a', help: "Also output new advisories"},
			}},
		{name: "list", parent: "db", params: "REV... [PREFIX-PKGNAME...]", summary: "List packages within commits",
			run: runDBList, opts: []option{
				dbRepoOption,
				{long: "advisories", short: 'a', help: "Also list advisories"},
			}},
	},
}

// deploymentRev is a resolved revision argument.
type deploymentRev struct {
	desc string // what the user typed, or "booted deployment"…
	dep  client.Deployment
}

// header is "DESC (CHECKSUM)", or just the checksum when that is what was
// typed (rpm-ostree's layout).
func (r deploymentRev) header() string {
	if r.desc == r.dep.Checksum {
		return r.desc
	}
	return fmt.Sprintf("%s (%s)", r.desc, r.dep.Checksum)
}

// resolveDeployment maps a revision argument to a deployment.
func resolveDeployment(deps []client.Deployment, arg string) (client.Deployment, error) {
	if n, err := strconv.Atoi(arg); err == nil && len(arg) < 4 {
		if n < 0 || n >= len(deps) {
			return client.Deployment{}, fmt.Errorf("Deployment index %d out of range (there are %d)", n, len(deps))
		}
		return deps[n], nil
	}
	for _, d := range deps {
		if d.ID == arg || d.Checksum == arg {
			return d, nil
		}
	}
	var found []client.Deployment
	if len(arg) >= 4 && strings.Trim(arg, "0123456789abcdef") == "" {
		for _, d := range deps {
			if strings.HasPrefix(d.Checksum, arg) && (len(found) == 0 || found[0].Checksum != d.Checksum) {
				found = append(found, d)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if isFullChecksum(arg) {
			// Any commit of the sysroot's repo (a deployment's base, an
			// update pulled but not deployed): the daemon reads it by
			// checksum, as rpm-ostree reads the repo.
			return client.Deployment{ID: arg, Checksum: arg}, nil
		}
		return client.Deployment{}, fmt.Errorf("Revision %q is not a deployment: give a deployment index, id, deployed commit checksum or a full commit checksum", arg)
	}
	return client.Deployment{}, fmt.Errorf("Revision %q matches several deployed commits", arg)
}

// isFullChecksum says whether s is a whole SHA-256 commit checksum.
func isFullChecksum(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// onBase is r's base commit for --base: a layered deployment's base
// checksum; a deployment without layering is its own base.
func (r deploymentRev) onBase() deploymentRev {
	if b := r.dep.BaseChecksum; b != "" && b != r.dep.Checksum {
		return deploymentRev{r.desc + " base", client.Deployment{ID: b, Checksum: b}}
	}
	return r
}

// baseDeployment is what "booted deployment" means for db: the booted one,
// else (a sysroot this host did not boot from) the default one.
func baseDeployment(st *client.Status) (deploymentRev, int, error) {
	for i, d := range st.Deployments {
		if d.Booted {
			return deploymentRev{"booted deployment", d}, i, nil
		}
	}
	if len(st.Deployments) == 0 {
		return deploymentRev{}, 0, errors.New("Not booted into any deployment")
	}
	return deploymentRev{"default deployment", st.Deployments[0]}, 0, nil
}

// defaultDiffPair picks what `db diff` without arguments compares: the base
// against the pending deployment of its stateroot, else the rollback
// deployment against the base.
func defaultDiffPair(st *client.Status) (from, to deploymentRev, err error) {
	base, idx, err := baseDeployment(st)
	if err != nil {
		return from, to, err
	}
	for i := 0; i < idx; i++ {
		if d := st.Deployments[i]; d.OSName == base.dep.OSName {
			return base, deploymentRev{"pending deployment", d}, nil
		}
	}
	for i := idx + 1; i < len(st.Deployments); i++ {
		if d := st.Deployments[i]; d.OSName == base.dep.OSName {
			return deploymentRev{"rollback deployment", d}, base, nil
		}
	}
	return from, to, errors.New("No pending or rollback deployment to diff against")
}

func rejectUnsupportedDB(a *app, p *parsedArgs, flags ...string) error {
	if _, ok := p.value("repo"); ok {
		return fmt.Errorf("%s: db --repo is not supported: strata reads deployments through the daemon", a.prog)
	}
	if _, ok := p.value("sysroot"); ok {
		return fmt.Errorf("%s: db diff --sysroot is not supported: the daemon's sysroot is used", a.prog)
	}
	for _, f := range flags {
		if p.flag(f) {
			return fmt.Errorf("%s: db --%s is not implemented yet", a.prog, f)
		}
	}
	return nil
}

func runDBDiff(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if len(p.args) > 2 {
		return 0, &usageError{fmt.Sprintf("\"%s db diff\" takes at most 2 arguments", a.prog)}
	}
	format, ok := p.value("format")
	if !ok {
		format = "block"
	}
	switch {
	case format == "json" && p.flag("changelogs"):
		return 0, &usageError{"json format and --changelogs not supported"}
	case format == "diff" && p.flag("advisories"):
		return 0, &usageError{"diff format and --advisories not supported"}
	case format != "block" && format != "diff" && format != "json":
		return 0, &usageError{"Format argument is invalid, pick one of: diff, block, json"}
	}
	if err := rejectUnsupportedDB(a, p, "changelogs", "advisories"); err != nil {
		return 0, err
	}
	c, err := a.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	var from, to deploymentRev
	switch len(p.args) {
	case 0:
		if from, to, err = defaultDiffPair(st); err != nil {
			return 0, err
		}
	case 1:
		if from, _, err = baseDeployment(st); err != nil {
			return 0, err
		}
		d, err := resolveDeployment(st.Deployments, p.args[0])
		if err != nil {
			return 0, err
		}
		to = deploymentRev{p.args[0], d}
	case 2:
		for i, r := range []*deploymentRev{&from, &to} {
			d, err := resolveDeployment(st.Deployments, p.args[i])
			if err != nil {
				return 0, err
			}
			*r = deploymentRev{p.args[i], d}
		}
	}
	if p.flag("base") {
		from, to = from.onBase(), to.onBase()
	}
	o, err := c.OS(ctx, "")
	if err != nil {
		return 0, err
	}
	diff, err := o.GetDeploymentsRpmDiff(ctx, from.dep.ID, to.dep.ID)
	if err != nil {
		return 0, err
	}
	if format == "json" {
		return exitOK, writeJSON(a.stdout, map[string]any{
			"ostree-commit-from": from.dep.Checksum,
			"ostree-commit-to":   to.dep.Checksum,
			"pkgdiff":            diffJSON(diff),
			"advisories":         []any{},
		})
	}
	writeDBDiff(a.stdout, from, to, diff, format)
	return exitOK, nil
}

func writeDBDiff(w io.Writer, from, to deploymentRev, diff []client.PkgChange, format string) {
	fmt.Fprintf(w, "ostree diff commit from: %s\n", from.header())
	fmt.Fprintf(w, "ostree diff commit to:   %s\n", to.header())
	if format == "diff" {
		writeDiffScript(w, diff)
		return
	}
	writeDiffBlock(w, diff)
}

func runDBList(ctx context.Context, a *app, p *parsedArgs) (int, error) {
	if err := rejectUnsupportedDB(a, p, "advisories"); err != nil {
		return 0, err
	}
	c, err := a.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	// Leading arguments that name deployments are revisions; the first one
	// that does not starts the package patterns (rpm-ostree's rule).
	var revs []deploymentRev
	var patterns []string
	for i, arg := range p.args {
		d, err := resolveDeployment(st.Deployments, arg)
		if err != nil {
			patterns = p.args[i:]
			break
		}
		revs = append(revs, deploymentRev{arg, d})
	}
	if len(revs) == 0 {
		// rpm-ostree lists nothing without a revision; the booted
		// deployment is the useful default when there is no repo to name.
		base, _, err := baseDeployment(st)
		if err != nil {
			return 0, err
		}
		revs = append(revs, base)
	}
	o, err := c.OS(ctx, "")
	if err != nil {
		return 0, err
	}
	for _, r := range revs {
		pkgs, err := o.ListDeploymentPackages(ctx, r.dep.ID)
		if err != nil {
			return 0, fmt.Errorf("listing packages of %s: %w", r.header(), err)
		}
		fmt.Fprintf(a.stdout, "ostree commit: %s\n", r.header())
		for _, pkg := range pkgs {
			if matchPackage(pkg, patterns) {
				fmt.Fprintf(a.stdout, " %s\n", pkg.NEVRA)
			}
		}
	}
	return exitOK, nil
}

// matchPackage applies rpm-ostree's package patterns: shell globs, case
// insensitive, against the name, name-[e:]v-r.arch, name.arch and
// name-version-release. No patterns match everything.
func matchPackage(pkg client.NEVRA, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	forms := []string{pkg.Name, pkg.NEVRA, pkg.Name + "." + pkg.Arch, pkg.Name + "-" + pkg.Version + "-" + pkg.Release}
	for _, pat := range patterns {
		pat = strings.ToLower(pat)
		for _, f := range forms {
			if ok, err := path.Match(pat, strings.ToLower(f)); err == nil && ok {
				return true
			}
		}
	}
	return false
}
