package e2e

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/client"
	"github.com/strata-os/strata/tests/fixture"
)

// TestRepoQueriesOverBus calls ListRepos, Search, WhatProvides and
// GetPackages as an rpm-ostree client would, against the fixture's real
// rpm-md repo (metadata cached by refresh-md).
func TestRepoQueriesOverBus(t *testing.T) {
	e := newEnv(t, envOptions{packages: true})
	e.mustStrata("refresh-md")
	conn, err := dbus.Connect(e.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	obj := conn.Object(busName, osPath)
	call := func(method string, args ...any) []map[string]dbus.Variant {
		t.Helper()
		var out []map[string]dbus.Variant
		if err := obj.Call("org.projectatomic.rpmostree1.OS."+method, 0, args...).Store(&out); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return out
	}
	str := func(d map[string]dbus.Variant, k string) string { s, _ := d[k].Value().(string); return s }

	repos := call("ListRepos")
	if len(repos) != 1 || str(repos[0], "id") != fixture.PackageRepoID || repos[0]["is-enabled"].Value() != true {
		t.Errorf("ListRepos = %v, want the enabled %s", repos, fixture.PackageRepoID)
	}

	got := call("GetPackages", []string{"demo-app", "no-such-package"})
	if len(got) != 1 || str(got[0], "name") != "demo-app" || str(got[0], "key") != "demo-app" ||
		str(got[0], "reponame") != fixture.PackageRepoID || !strings.HasPrefix(str(got[0], "nevra"), "demo-app-1.0-") ||
		!strings.Contains(str(got[0], "summary"), "demo-app") {
		t.Errorf("GetPackages(demo-app) = %v", got)
	}
	if _, ok := got[0]["epoch"].Value().(uint64); !ok {
		t.Errorf("epoch is %T, want t (uint64)", got[0]["epoch"].Value())
	}

	got = call("WhatProvides", []string{"pkgconfig(demolib)"})
	if len(got) != 1 || str(got[0], "name") != "demo-lib" {
		t.Errorf("WhatProvides(pkgconfig(demolib)) = %v, want demo-lib", got)
	}

	got = call("Search", []string{"demo-app"})
	groups := map[string][]string{}
	for _, p := range got {
		groups[str(p, "key")] = append(groups[str(p, "key")], str(p, "name"))
	}
	if g := groups["match_group_b"]; len(g) == 0 || g[0] != "demo-app" {
		t.Errorf("Search(demo-app) name matches = %v, want demo-app first (all: %v)", g, groups)
	}
	if err := obj.Call("org.projectatomic.rpmostree1.OS.Search", 0, []string{}).Err; err == nil || !strings.Contains(err.Error(), "Must specify a term for search") {
		t.Errorf("Search([]) = %v, want rpm-ostree's refusal", err)
	}

	out, _, code := e.strata("search", "demo-lib")
	if code != 0 || !strings.Contains(out, "demo-lib") {
		t.Errorf("strata search demo-lib: exit %d\n%s", code, out)
	}
}

// TestUnsupportedAndExperimental checks Moo, the clear NotSupported answers
// and the ObjectManager.
func TestUnsupportedAndExperimental(t *testing.T) {
	e := newEnv(t, envOptions{})
	conn, err := dbus.Connect(e.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	obj := conn.Object(busName, osPath)
	var moo string
	if err := obj.Call("org.projectatomic.rpmostree1.OSExperimental.Moo", 0, true).Store(&moo); err != nil || moo != "🐄\n" {
		t.Errorf("Moo(true) = %q, %v", moo, err)
	}
	for _, c := range []struct {
		method string
		args   []any
	}{
		{"OSExperimental.LiveFs", []any{map[string]dbus.Variant{}}},
		{"OSExperimental.DownloadPackages", []any{[]string{"x"}, "repo"}},
	} {
		err := obj.Call("org.projectatomic.rpmostree1."+c.method, 0, c.args...).Err
		var derr dbus.Error
		if de, ok := err.(dbus.Error); ok {
			derr = de
		}
		if derr.Name != "org.freedesktop.DBus.Error.NotSupported" {
			t.Errorf("%s: %v, want org.freedesktop.DBus.Error.NotSupported", c.method, err)
		}
	}

	var managed map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := conn.Object(busName, "/org/projectatomic/rpmostree1").Call("org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&managed); err != nil {
		t.Fatal(err)
	}
	if name := managed[osPath]["org.projectatomic.rpmostree1.OS"]["Name"].Value(); name != fixture.OSName {
		t.Errorf("GetManagedObjects: OS Name = %v, want %s (%v)", name, fixture.OSName, managed)
	}
	if _, ok := managed[sysrootPath]["org.projectatomic.rpmostree1.Sysroot"]["Deployments"]; !ok {
		t.Errorf("GetManagedObjects lacks the Sysroot's Deployments: %v", managed)
	}

	for _, args := range [][]string{{"usroverlay"}} {
		_, stderr, code := e.strata(args...)
		if code == 0 || !strings.Contains(stderr, "not supported") {
			t.Errorf("strata %v: exit %d, want a clear refusal\n%s", args, code, stderr)
		}
	}
}

// TestRebaseAndDeployPreviews fetches previews through the daemon and reads
// them back, as Cockpit does before it offers a rebase or a deploy.
func TestRebaseAndDeployPreviews(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, err := client.ConnectAddress(e.ctx, e.bus.Address, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o, err := c.OS(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	obj := c.Conn().Object(busName, osPath)
	cached := func(method, arg string) map[string]dbus.Variant {
		t.Helper()
		var diff []any
		var details map[string]dbus.Variant
		if err := obj.Call("org.projectatomic.rpmostree1.OS."+method, 0, arg, []string{}).Store(&diff, &details); err != nil {
			t.Fatalf("%s(%s): %v", method, arg, err)
		}
		return details
	}
	develRefspec := fixture.Remote + ":" + fixture.DevelRef
	if d := cached("GetCachedRebaseRpmDiff", develRefspec); len(d) != 0 {
		t.Errorf("rebase preview before fetching = %v, want empty", d)
	}
	txn, err := o.DownloadRebaseRpmDiff(e.ctx, develRefspec)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Run(e.ctx, nil); err != nil {
		t.Fatalf("DownloadRebaseRpmDiff: %v", err)
	}
	if d := cached("GetCachedRebaseRpmDiff", develRefspec); d["version"].Value() != "10.0" || d["origin"].Value() != develRefspec {
		t.Errorf("rebase preview = %v, want version 10.0 of %s", d, develRefspec)
	}

	txn, err = o.DownloadDeployRpmDiff(e.ctx, "version=1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Run(e.ctx, nil); err != nil {
		t.Fatalf("DownloadDeployRpmDiff: %v", err)
	}
	if d := cached("GetCachedDeployRpmDiff", "1.0"); d["version"].Value() != "1.0" {
		t.Errorf("deploy preview = %v, want version 1.0", d)
	}

	txn, err = o.ClearRollbackTarget(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Run(e.ctx, nil); err != nil {
		t.Fatalf("ClearRollbackTarget: %v", err)
	}
}
