package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// Ported from rpm-ostree's tests/vmcheck/test-db.sh on a booted host (the
// daemon sees the host's deployment as "/", so status has a booted and a
// pending deployment, as upstream's VM). Upstream's packages are built
// here as noarch; its multilib cases (i686 pkg-to-overlay and glibc next to
// the x86_64 ones) are left out: the fixture builds noarch packages only.
// Upstream's "ok db diff" (override remove/replace and install on a pending
// deployment whose base is the setup's layered commit) is left out on a
// booted host: strata starts a new deployment from the booted one
// (libostree's merge deployment), rpm-ostree from the pending one, so the
// override would not see the pending base; TestUpstreamDBDiff runs it on a
// host not booted from the sysroot.
func TestUpstreamDB(t *testing.T) {
	e := newEnv(t, envOptions{booted: true, http: true, packages: true})
	rpms, err := fixture.BuildPackages(e.ctx, t.TempDir(), []fixture.Package{
		upstreamPkg("pkg-to-remove", "1.0"), upstreamPkg("pkg-to-replace", "1.0"), upstreamPkg("pkg-to-replace-archtrans", "1.0"),
		upstreamPkg("pkg-to-replace", "2.0"), upstreamPkg("pkg-to-replace-archtrans", "2.0"), upstreamPkg("pkg-to-overlay", "1.0"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rpm := func(nevra string) string { return rpms[nevra+".rpm"] }
	diff := func(args ...string) string {
		t.Helper()
		return e.mustStrata(append([]string{"db", "diff", "--format=diff"}, args...)...)
	}
	checkDiff := func(out string, res ...string) {
		t.Helper()
		for _, re := range res {
			e.expectMatch("db diff", out, re)
		}
	}
	checkNotDiff := func(out string, res ...string) {
		t.Helper()
		for _, re := range res {
			e.expectNoMatch("db diff", out, re)
		}
	}
	pendingChecksum := func() string {
		t.Helper()
		for _, d := range e.rawDeployments() {
			if d["booted"] != true {
				return d["checksum"].(string)
			}
		}
		t.Fatal("no pending deployment")
		return ""
	}
	var booted string
	for _, d := range e.rawDeployments() {
		if d["booted"] == true {
			booted = d["checksum"].(string)
		}
	}

	e.mustStrata("install", rpm("pkg-to-remove-1.0-1.noarch"), rpm("pkg-to-replace-1.0-1.noarch"), rpm("pkg-to-replace-archtrans-1.0-1.noarch"))

	// "ok db diff in status".
	e.expectMatch("status", e.mustStrata("status"), `Diff: 3 added`)
	statusV := e.mustStrata("status", "-v")
	for _, re := range []string{`Added:`, `pkg-to-remove`, `pkg-to-replace`, `pkg-to-replace-archtrans`} {
		e.expectMatch("status -v", statusV, re)
	}

	// (The rest of upstream's "ok setup".)
	pending := pendingChecksum()
	added := []string{`\+pkg-to-remove`, `\+pkg-to-replace`, `\+pkg-to-replace-archtrans`}
	checkDiff(diff(booted, pending), added...)
	var js struct {
		PkgDiff [][]any `json:"pkgdiff"`
	}
	out := e.mustStrata("db", "diff", "--format=json", booted, pending)
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("db diff --format=json: %v\n%s", err, out)
	}
	var jsAdded []string
	for _, row := range js.PkgDiff {
		if len(row) > 1 && row[1] == float64(0) {
			jsAdded = append(jsAdded, row[0].(string))
		}
	}
	for _, n := range []string{"pkg-to-remove", "pkg-to-replace", "pkg-to-replace-archtrans"} {
		e.expectJQ(contains(jsAdded, n), `[.pkgdiff|map(select(.[1] == 0))[][0]]|index("`+n+`") >= 0`, js)
	}
	checkDiff(diff(), added...)
	checkDiff(diff(pending), added...)
	checkNotDiff(diff("--base"), `pkg-to-`)

	// "ok db from pkglist.metadata": the layered commit's tree is pruned,
	// its commit object kept; the diff comes from its package list.
	// Upstream prunes the commit of its "ok db diff" case (see above);
	// here it is the pending one of the setup.
	layered := pending
	commitObj := e.sysrootRepo() + "/objects/" + layered[:2] + "/" + layered[2:] + ".commit"
	saved := t.TempDir() + "/commit"
	cp := func(from, to string) {
		t.Helper()
		if out, err := exec.CommandContext(e.ctx, "cp", "-a", from, to).CombinedOutput(); err != nil {
			t.Fatalf("cp %s %s: %v\n%s", from, to, err, out)
		}
	}
	cp(commitObj, saved)
	e.mustStrata("cleanup", "-p")
	if _, err := os.Stat(commitObj); err == nil {
		t.Fatalf("cleanup -p left the pending commit %s", layered)
	}
	cp(saved, commitObj)
	if out, err := exec.CommandContext(e.ctx, "ostree", "checkout", "--repo="+e.sysrootRepo(), "--subpath=/usr/share/rpm", layered, t.TempDir()+"/rpm").CombinedOutput(); err == nil {
		t.Fatalf("the pruned commit's /usr/share/rpm could still be checked out:\n%s", out)
	}
	checkDiff(diff(booted, layered), added...)

	// "ok list from pkglist.metadata".
	list := e.mustStrata("db", "list", layered)
	// The harness checks the repo at the end; a commit without its tree
	// is what upstream's case makes, not something to leave behind.
	if err := os.Remove(commitObj); err != nil {
		t.Fatal(err)
	}
	checkDiff(list, `pkg-to-remove-1\.0-1\.noarch`, `pkg-to-replace-1\.0-1\.noarch`, `pkg-to-replace-archtrans-1\.0-1\.noarch`)
	checkNotDiff(list, `pkg-to-overlay`)
}

// TestUpstreamDBDiff is test-db.sh's "ok db diff" on a host not booted from
// the sysroot (see TestUpstreamDB): the setup's layered commit becomes the
// base of an update, then a package is removed, two are replaced and one
// is layered on it. Revisions no deployment has any more are given by full
// checksum, as upstream does.
func TestUpstreamDBDiff(t *testing.T) {
	e := newLayeringEnv(t)
	rpms, err := fixture.BuildPackages(e.ctx, t.TempDir(), []fixture.Package{
		upstreamPkg("pkg-to-remove", "1.0"), upstreamPkg("pkg-to-replace", "1.0"), upstreamPkg("pkg-to-replace-archtrans", "1.0"),
		upstreamPkg("pkg-to-replace", "2.0"), upstreamPkg("pkg-to-replace-archtrans", "2.0"), upstreamPkg("pkg-to-overlay", "1.0"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rpm := func(nevra string) string { return rpms[nevra+".rpm"] }
	diff := func(args ...string) string {
		t.Helper()
		return e.mustStrata(append([]string{"db", "diff", "--format=diff"}, args...)...)
	}
	check := func(out string, want bool, res ...string) {
		t.Helper()
		for _, re := range res {
			if want {
				e.expectMatch("db diff", out, re)
			} else {
				e.expectNoMatch("db diff", out, re)
			}
		}
	}
	head := func() string { return e.rawDeployments()[0]["checksum"].(string) }
	booted := head()
	// Upstream's booted commit stays deployed; here a ref keeps it from
	// being pruned once no deployment has it.
	e.ostreeOut("refs", "--repo="+e.sysrootRepo(), booted, "--create=upstream-db/booted")

	// Upstream's "ok setup": the layered commit becomes an update.
	e.mustStrata("install", rpm("pkg-to-remove-1.0-1.noarch"), rpm("pkg-to-replace-1.0-1.noarch"), rpm("pkg-to-replace-archtrans-1.0-1.noarch"))
	layeredSetup := head()
	e.mustStrata("reset")
	e.commitBaseTree(layeredSetup, "3.0", time.Now().Add(time.Hour))
	e.mustStrata("upgrade")
	pending := head()
	check(diff(booted, pending), true, `\+pkg-to-remove`, `\+pkg-to-replace`, `\+pkg-to-replace-archtrans`)

	// "ok db diff".
	e.mustStrata("override", "remove", "pkg-to-remove")
	e.mustStrata("override", "replace", rpm("pkg-to-replace-2.0-1.noarch"), rpm("pkg-to-replace-archtrans-2.0-1.noarch"))
	e.mustStrata("install", rpm("pkg-to-overlay-1.0-1.noarch"))
	layered := head()
	out := diff(booted, layered)
	check(out, true, `\+pkg-to-overlay-1\.0-1\.noarch`, `\+pkg-to-replace-2\.0`, `\+pkg-to-replace-archtrans-2\.0`)
	check(out, false, `=pkg-to-overlay`, `!pkg-to-overlay`, `-pkg-to-overlay`)
	check(diff(pending, layered), true, `\+pkg-to-overlay-1\.0-1\.noarch`, `-pkg-to-remove`,
		`!pkg-to-replace-1\.0`, `=pkg-to-replace-2\.0`, `!pkg-to-replace-archtrans-1\.0`, `=pkg-to-replace-archtrans-2\.0`)
	// --base compares the bases: the setup's update against the layered
	// deployment's base, which is that same commit.
	check(e.mustStrata("db", "diff", "--format=diff", "--base", pending, layered), false, `pkg-to-`)
}
