package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// upstreamPkg is one of the small packages upstream's vm_build_rpm makes:
// /usr/bin/NAME prints the package's NEVRA, so a test can tell which
// version a tree holds.
func upstreamPkg(name, version string, requires ...string) fixture.Package {
	nevra := fmt.Sprintf("%s-%s-1.noarch", name, version)
	return fixture.Package{
		Name: name, Version: version, Requires: requires,
		Install: fmt.Sprintf("mkdir -p %%{buildroot}/usr/bin\nprintf '#!/bin/sh\\necho %s\\n' > %%{buildroot}/usr/bin/%s\nchmod 0755 %%{buildroot}/usr/bin/%s\n", nevra, name, name),
		Files:   "/usr/bin/" + name + "\n",
	}
}

// commitBaseTree makes a new commit on the followed ref in the remote whose
// tree is that of commit csum of the sysroot's repo (upstream's
// `ostree commit -b vmcheck --tree=ref=...` in the host's repo). Each call
// gets a later timestamp than the last, as upgrades refuse older commits.
func (e *env) commitBaseTree(csum, version string, when time.Time) {
	e.t.Helper()
	e.ostreeOut("pull-local", "--repo="+e.host.RemoteRepo, e.sysrootRepo(), csum)
	e.ostreeOut("commit", "--repo="+e.host.RemoteRepo, "-b", fixture.StableRef, "--tree=ref="+csum,
		"--add-metadata-string=version="+version, "--owner-uid=0", "--owner-gid=0",
		"--timestamp="+when.UTC().Format("2006-01-02 15:04:05 -0700"))
	e.ostreeOut("summary", "--repo="+e.host.RemoteRepo, "-u")
}

// Ported from rpm-ostree's tests/vmcheck/test-override-local-replace.sh on
// one host. Upstream's foo, fooext (requiring foo = 1.0-1) and bar are
// built here (noarch, where upstream's are x86_64) and made base packages
// as upstream does: layered, and the layered tree committed as the new
// base. Upstream's `cleanup -p` and reboots are left out: each case starts
// from the default deployment the previous one made.
func TestUpstreamOverrideLocalReplace(t *testing.T) {
	e := newLayeringEnv(t)
	rpms, err := fixture.BuildPackages(e.ctx, t.TempDir(), []fixture.Package{
		upstreamPkg("foo", "1.0"), upstreamPkg("bar", "1.0"), upstreamPkg("fooext", "1.0", "foo = 1.0-1"),
		upstreamPkg("foo", "2.0"), upstreamPkg("fooext", "2.0", "foo = 2.0-1"), upstreamPkg("bar", "0.9"),
		upstreamPkg("baz", "1.0"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rpm := func(nevra string) string { return rpms[nevra+".rpm"] }
	// Later than any commit the fixture made (they are stamped "now").
	clock := time.Now().Add(time.Hour)
	commit := func(csum, version string) {
		t.Helper()
		clock = clock.Add(time.Minute)
		e.commitBaseTree(csum, version, clock)
	}

	// Setup: nothing layered, nothing replaced.
	d := e.rawDeployments()[0]
	e.expectJQ(!jqTruthy(d, "base-checksum"), `.deployments[0]["base-checksum"]|not`, d)
	e.expectJQ(!jqTruthy(d, "pending-base-checksum"), `.deployments[0]["pending-base-checksum"]|not`, d)
	e.expectJQ(jqLen(d, "base-local-replacements") <= 0, `.deployments[0]["base-local-replacements"]|length == 0`, d)
	e.expectJQ(jqLen(d, "requested-base-local-replacements") <= 0, `.deployments[0]["requested-base-local-replacements"]|length == 0`, d)
	withoutFooAndBar := d["checksum"].(string)

	// "ok setup": a base with foo, fooext and bar.
	e.mustStrata("install", rpm("foo-1.0-1.noarch"), rpm("fooext-1.0-1.noarch"), rpm("bar-1.0-1.noarch"))
	withFooAndBar := e.rawDeployments()[0]["checksum"].(string)
	e.mustStrata("reset")
	commit(withFooAndBar, "3.0")
	e.mustStrata("upgrade")
	for _, want := range []string{"foo-1.0-1.noarch", "fooext-1.0-1.noarch", "bar-1.0-1.noarch"} {
		if !contains(e.rpmQA(e.deploymentDir(0)), want) {
			t.Fatalf("%s is not in the new base; its rpmdb: %v", want, e.rpmQA(e.deploymentDir(0)))
		}
	}
	if d := e.rawDeployments()[0]; jqLen(d, "requested-local-packages") > 0 || jqLen(d, "requested-packages") > 0 {
		t.Fatalf("the setup left layered packages: %v", d)
	}

	expectReplaced := func(oldNEVRA, newNEVRA, name string) {
		t.Helper()
		d := e.rawDeployments()[0]
		e.expectJQ(contains(jqTupleNEVRAs(d, "base-local-replacements", true, 0), newNEVRA),
			`[.deployments[0]["base-local-replacements"][][0][0]]|index("`+newNEVRA+`") >= 0`, d)
		e.expectJQ(contains(jqTupleNEVRAs(d, "base-local-replacements", true, 1), oldNEVRA),
			`[.deployments[0]["base-local-replacements"][][1][0]]|index("`+oldNEVRA+`") >= 0`, d)
		e.expectJQ(contains(jqStrings(d, "requested-base-local-replacements"), newNEVRA),
			`.deployments[0]["requested-base-local-replacements"]|index("`+newNEVRA+`") >= 0`, d)
		if !contains(e.rpmQA(e.deploymentDir(0)), newNEVRA) {
			t.Errorf("new pkg not in rpmdb? %s missing from %v", newNEVRA, e.rpmQA(e.deploymentDir(0)))
		}
		e.expectMatch("new pkg in tree: /usr/bin/"+name, e.readDeploymentFile(0, filepath.Join("usr/bin", name)), newNEVRA)
	}
	expectCounts := func(what string, replaced, requested int) {
		t.Helper()
		d := e.rawDeployments()[0]
		got := jqLen(d, "base-local-replacements")
		if got < 0 {
			got = 0
		}
		e.expectJQ(got == replaced, what+`: .deployments[0]["base-local-replacements"]|length == `+itoa(replaced), d)
		got = jqLen(d, "requested-base-local-replacements")
		if got < 0 {
			got = 0
		}
		e.expectJQ(got == requested, what+`: .deployments[0]["requested-base-local-replacements"]|length == `+itoa(requested), d)
	}

	// "ok failed to replace foo without fooext".
	out := e.mustFail("override", "replace", rpm("foo-2.0-1.noarch"))
	e.expectMatch("replacing foo alone", out, `fooext`)

	// "ok override replace foo and fooext".
	e.mustStrata("override", "replace", rpm("foo-2.0-1.noarch"), rpm("fooext-2.0-1.noarch"))
	expectCounts("foo and fooext", 2, 2)
	expectReplaced("foo-1.0-1.noarch", "foo-2.0-1.noarch", "foo")
	expectReplaced("fooext-1.0-1.noarch", "fooext-2.0-1.noarch", "fooext")
	e.expectMatch("status", e.mustStrata("status"), `(foo fooext|fooext foo) 1\.0-1 -> 2\.0-1`)

	// "ok override replace bar": an older version.
	e.mustStrata("override", "replace", rpm("bar-0.9-1.noarch"))
	expectCounts("bar", 3, 3)
	expectReplaced("foo-1.0-1.noarch", "foo-2.0-1.noarch", "foo")
	expectReplaced("fooext-1.0-1.noarch", "fooext-2.0-1.noarch", "fooext")
	expectReplaced("bar-1.0-1.noarch", "bar-0.9-1.noarch", "bar")
	status := e.mustStrata("status")
	e.expectMatch("status", status, `(foo fooext|fooext foo) 1\.0-1 -> 2\.0-1`)
	e.expectMatch("status", status, `bar 1\.0-1 -> 0\.9-1`)

	// "ok override replacements carried through upgrade".
	commit(withFooAndBar, "3.1")
	e.mustStrata("upgrade")
	expectCounts("after upgrade", 3, 3)
	expectReplaced("foo-1.0-1.noarch", "foo-2.0-1.noarch", "foo")
	expectReplaced("fooext-1.0-1.noarch", "fooext-2.0-1.noarch", "fooext")
	expectReplaced("bar-1.0-1.noarch", "bar-0.9-1.noarch", "bar")

	// "ok override reset foo and fooext using name and nevra".
	e.mustStrata("override", "reset", "foo", "fooext-2.0-1.noarch")
	expectCounts("after reset", 1, 1)
	expectReplaced("bar-1.0-1.noarch", "bar-0.9-1.noarch", "bar")

	// "ok override reset --all".
	e.mustStrata("override", "reset", "--all")
	d = e.rawDeployments()[0]
	e.expectJQ(jqLen(d, "base-removals") <= 0, `.deployments[0]["base-removals"]|length == 0`, d)
	e.expectJQ(jqLen(d, "requested-base-removals") <= 0, `.deployments[0]["requested-base-removals"]|length == 0`, d)
	expectCounts("after reset --all", 0, 0)

	// "ok active -> inactive -> active override replace".
	e.mustStrata("override", "replace", rpm("bar-0.9-1.noarch"))
	expectCounts("bar again", 1, 1)
	expectReplaced("bar-1.0-1.noarch", "bar-0.9-1.noarch", "bar")
	commit(withoutFooAndBar, "3.2")
	e.mustStrata("upgrade")
	expectCounts("on a base without bar", 0, 1)
	d = e.rawDeployments()[0]
	e.expectJQ(contains(jqStrings(d, "requested-base-local-replacements"), "bar-0.9-1.noarch"),
		`.deployments[0]["requested-base-local-replacements"]|index("bar-0.9-1.noarch") >= 0`, d)
	commit(withFooAndBar, "3.3")
	e.mustStrata("upgrade")
	expectCounts("on a base with bar again", 1, 1)
	expectReplaced("bar-1.0-1.noarch", "bar-0.9-1.noarch", "bar")

	// "ok local replace and local layering": upstream starts from the
	// booted deployment (no replacement); here the replacement is reset.
	e.mustStrata("override", "reset", "--all")
	e.mustStrata("override", "replace", rpm("bar-0.9-1.noarch"), "--install", rpm("baz-1.0-1.noarch"))
	expectCounts("with baz", 1, 1)
	d = e.rawDeployments()[0]
	e.expectJQ(jqLen(d, "requested-local-packages") == 1, `.deployments[0]["requested-local-packages"]|length == 1`, d)
	e.expectJQ(contains(jqStrings(d, "requested-local-packages"), "baz-1.0-1.noarch"),
		`.deployments[0]["requested-local-packages"]|index("baz-1.0-1.noarch") >= 0`, d)
	expectReplaced("bar-1.0-1.noarch", "bar-0.9-1.noarch", "bar")
}
