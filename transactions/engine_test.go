package transactions

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
)

const stable = "demo:demo/stable"

// host1 is a booted host on commit v1 of demo:demo/stable, whose remote
// serves head (one of v0 older, v1, v2 newer).
func host1(t *testing.T, head string, edit func(o *origin.Origin)) *memSysroot {
	m := newMem(t)
	m.commit("v0", "", "0.9", 50)
	m.commit("v1", "v0", "1.0", 100)
	m.commit("v2", "v1", "2.0", 200)
	m.repo.refs[stable] = "v1"
	m.repo.remote[stable] = head
	m.deploy("demo", "v1", true, originWith(stable, edit))
	return m
}

func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	pinned := func(o *origin.Origin) { o.SetOverrideCommit("v1") }
	for _, tt := range []struct {
		name    string
		head    string
		edit    func(*origin.Origin)
		opts    UpgradeOptions
		want    string // deployed commits afterwards
		said    string // a message, "" for none expected
		err     string
		changed bool
	}{
		{"no update", "v1", nil, UpgradeOptions{}, "v1", "No upgrade available.", "", false},
		{"newer head", "v2", nil, UpgradeOptions{}, "v2 v1", "", "", true},
		{"older head refused", "v0", nil, UpgradeOptions{}, "v1", "", "is chronologically older than current revision", false},
		{"older head allowed", "v0", nil, UpgradeOptions{AllowDowngrade: true}, "v0 v1", "", "", true},
		{"download only", "v2", nil, UpgradeOptions{DownloadOnly: true}, "v1", "Update v2 downloaded", "", false},
		// Same commit, but the pin from `deploy` goes: a new deployment.
		{"unpin", "v1", pinned, UpgradeOptions{}, "v1 v1", "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := host1(t, tt.head, tt.edit)
			p := &recorder{}
			res, err := testEngine(m).Upgrade(ctx, "demo", tt.opts, p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := checksums(m.deps); got != tt.want {
				t.Errorf("deployments %q, want %q", got, tt.want)
			}
			if tt.said != "" && !p.said(tt.said) {
				t.Errorf("messages %q, want %q", p.messages, tt.said)
			}
			if res.Changed != tt.changed {
				t.Errorf("Changed = %v", res.Changed)
			}
			if res.Changed {
				o, err := origin.Parse([]byte(m.deps[0].Origin))
				if err != nil || o.OverrideCommit() != "" || o.Refspec() != stable {
					t.Errorf("new origin %q (%v): want %s, unpinned", m.deps[0].Origin, err, stable)
				}
			}
		})
	}
}

func TestUpgradeCacheOnlyFetchesNothing(t *testing.T) {
	m := host1(t, "v2", nil)
	p := &recorder{}
	if _, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{CacheOnly: true}, p); err != nil {
		t.Fatal(err)
	}
	if len(m.repo.pulls) != 0 || !p.said("No upgrade available.") {
		t.Errorf("pulls %v, messages %q", m.repo.pulls, p.messages)
	}
}

func TestUpgradeReportsDownloads(t *testing.T) {
	m := host1(t, "v2", nil)
	p := &recorder{}
	if _, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{}, p); err != nil {
		t.Fatal(err)
	}
	if p.downloads == 0 {
		t.Error("no DownloadProgress reported")
	}
}

// Layered packages are composed again on the new base, once, and the base is
// held by a ref (libostree keeps deployed commits, not their parents).
func TestUpgradeRecomposesLayers(t *testing.T) {
	m := host1(t, "v2", func(o *origin.Origin) { o.SetRequestedPackages([]string{"hello"}) })
	res, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.composed) != 1 || m.composed[0].Base != "v2" || !reflect.DeepEqual(m.composed[0].Packages, []string{"hello"}) {
		t.Fatalf("composed %+v", m.composed)
	}
	if res.Checksum != "layer1-v2" || m.deps[0].Checksum != "layer1-v2" {
		t.Errorf("deployed %s", checksums(m.deps))
	}
	if m.repo.refs["rpmostree/base/0"] != "v2" || len(m.repo.refs) != 2 {
		t.Errorf("refs %v, want rpmostree/base/0 -> v2 besides the ref", m.repo.refs)
	}
	// Booted into it, its base is what the next upgrade compares with.
	for _, d := range m.deps {
		d.Booted = d.Checksum == "layer1-v2"
	}
	p := &recorder{}
	if _, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{}, p); err != nil {
		t.Fatal(err)
	}
	if !p.said("No upgrade available.") || len(m.composed) != 1 {
		t.Errorf("second upgrade: messages %q, %d compositions", p.messages, len(m.composed))
	}
}

func TestDeploy(t *testing.T) {
	ctx := context.Background()
	m := host1(t, "v2", nil)
	e := testEngine(m)
	res, err := e.Deploy(ctx, "demo", "version=0.9", DeployOptions{}, &recorder{})
	if err != nil || res.Checksum != "v0" {
		t.Fatalf("Deploy = %+v, %v", res, err)
	}
	o, _ := origin.Parse([]byte(m.deps[0].Origin))
	if o.OverrideCommit() != "v0" {
		t.Errorf("origin not pinned: %q", m.deps[0].Origin)
	}
	// The same revision again changes nothing.
	p := &recorder{}
	m.deps[1].Booted, m.deps[0].Booted = false, true
	if res, err := e.Deploy(ctx, "demo", "version=0.9", DeployOptions{}, p); err != nil || res.Changed || !p.said("No change.") {
		t.Errorf("second Deploy = %+v, %v, %q", res, err, p.messages)
	}
	if _, err := e.Deploy(ctx, "demo", "version=7", DeployOptions{}, p); err == nil || !strings.Contains(err.Error(), "not found in the history") {
		t.Errorf("unknown version: %v", err)
	}
	// An older commit with downgrades disallowed.
	m2 := host1(t, "v2", nil)
	if _, err := testEngine(m2).Deploy(ctx, "demo", "version=0.9", DeployOptions{DisallowDowngrade: true}, p); err == nil {
		t.Error("downgrade accepted")
	}
}

func TestRebase(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		opts     RebaseOptions
		wantRefs []string // local refs afterwards (besides base refs)
		wantPkgs []string
	}{
		{"old ref purged", RebaseOptions{}, []string{"demo:demo/next"}, nil},
		{"skip purge", RebaseOptions{SkipPurge: true}, []string{"demo:demo/next", stable}, nil},
		{"with packages", RebaseOptions{Packages: []string{"hello", "hello"}}, []string{"demo:demo/next"}, []string{"hello"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := host1(t, "v1", nil)
			m.commit("n1", "", "next-1", 300)
			m.repo.remote["demo:demo/next"] = "n1"
			res, err := testEngine(m).Rebase(ctx, "demo", "demo/next", tt.opts, &recorder{})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed || checksums(m.deps) != "n1 v1" && len(tt.wantPkgs) == 0 {
				t.Errorf("deployments %q", checksums(m.deps))
			}
			o, _ := origin.Parse([]byte(m.deps[0].Origin))
			if o.Refspec() != "demo:demo/next" || !reflect.DeepEqual(o.RequestedPackages(), tt.wantPkgs) {
				t.Errorf("origin %q", m.deps[0].Origin)
			}
			var refs []string
			for r := range m.repo.refs {
				if !strings.HasPrefix(r, baseRefPrefix) {
					refs = append(refs, r)
				}
			}
			if strings.Join(sorted(refs), " ") != strings.Join(sorted(tt.wantRefs), " ") {
				t.Errorf("refs %v, want %v", refs, tt.wantRefs)
			}
		})
	}
}

func TestRebaseNeedsRefspec(t *testing.T) {
	m := host1(t, "v1", nil)
	if _, err := testEngine(m).Rebase(context.Background(), "demo", "", RebaseOptions{}, &recorder{}); err == nil {
		t.Fatal("empty refspec accepted")
	}
	if len(m.repo.pulls) != 0 {
		t.Error("fetched before refusing")
	}
}

func TestNoMergeDeployment(t *testing.T) {
	m := host1(t, "v2", nil)
	_, err := testEngine(m).Upgrade(context.Background(), "other", UpgradeOptions{}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "ostree admin deploy --os=other") {
		t.Errorf("err = %v", err)
	}
}

func TestMalformedOriginNamesTheFile(t *testing.T) {
	m := host1(t, "v2", nil)
	m.deps[0].Origin = "not a keyfile"
	_, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "malformed origin file") {
		t.Errorf("err = %v", err)
	}
}

func TestRollbackThroughEngine(t *testing.T) {
	m := host1(t, "v1", nil)
	m.deps[0].Booted = false
	m.deploy("demo", "v0", false, originWith(stable, nil))
	e := testEngine(m)
	if err := e.Rollback(context.Background(), "demo", &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v0 v1" {
		t.Errorf("after rollback %q", got)
	}
	if err := e.Rollback(context.Background(), "demo", &recorder{}); err != nil || checksums(m.deps) != "v1 v0" {
		t.Errorf("twice: %q, %v", checksums(m.deps), err)
	}
	one := host1(t, "v1", nil)
	if err := testEngine(one).Rollback(context.Background(), "demo", &recorder{}); err == nil {
		t.Error("rollback with one deployment accepted")
	}
}

func TestKernelArgsThroughEngine(t *testing.T) {
	ctx := context.Background()
	m := host1(t, "v1", nil)
	p := &recorder{}
	if res, err := testEngine(m).KernelArgs(ctx, "demo", KargsChange{AppendIfMissing: []string{"quiet"}}, p); err != nil || res.Changed || !p.said("unchanged") {
		t.Fatalf("no-op kargs = %+v, %v, %q", res, err, p.messages)
	}
	res, err := testEngine(m).KernelArgs(ctx, "demo", KargsChange{Append: []string{"nosmt"}}, p)
	if err != nil || !res.Changed || res.Checksum != "v1" {
		t.Fatalf("kargs = %+v, %v", res, err)
	}
	if got := m.deps[0].Kargs; got != "ostree=x root=/dev/vda quiet nosmt" {
		t.Errorf("new kargs %q", got)
	}
}

func TestCleanupThroughEngine(t *testing.T) {
	ctx := context.Background()
	m := host1(t, "v1", nil)
	m.deps = nil
	m.deploy("demo", "v2", false, originWith(stable, nil))
	m.deploy("demo", "v1", true, originWith(stable, nil))
	m.deploy("demo", "v0", false, originWith(stable, nil))
	m.repo.refs["rpmostree/base/0"] = "gone"
	if err := testEngine(m).Cleanup(ctx, "demo", []string{CleanupRollback}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v2 v1" || m.cleanups != 1 {
		t.Errorf("kept %q, %d prunes", got, m.cleanups)
	}
	if _, ok := m.repo.refs["rpmostree/base/0"]; ok {
		t.Error("stale base ref kept")
	}
	if err := testEngine(m).Cleanup(ctx, "demo", []string{"bogus"}, &recorder{}); err == nil {
		t.Error("unknown element accepted")
	}
}

func TestChangePackages(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		requested []string
		ch        PackageChanges
		err       string
		said      string
		composed  int
		wantNew   []string
		deployed  bool
	}{
		{"install", nil, PackageChanges{Install: []string{"hello"}}, "", "", 1, []string{"hello"}, true},
		{"already requested", []string{"hello"}, PackageChanges{Install: []string{"hello"}}, "already requested", "", 0, nil, false},
		{"idempotent", []string{"hello"}, PackageChanges{Install: []string{"hello"}, Idempotent: true}, "", "No change.", 0, nil, false},
		{"dry run composes, deploys nothing", nil, PackageChanges{Install: []string{"hello"}, DryRun: true}, "", "", 1, []string{"hello"}, false},
		{"uninstall the last: the base again", []string{"hello"}, PackageChanges{Uninstall: []string{"hello"}}, "", "", 0, nil, true},
		{"uninstall unknown", nil, PackageChanges{Uninstall: []string{"nope"}}, "not currently requested", "", 0, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := host1(t, "v1", func(o *origin.Origin) { o.SetRequestedPackages(tt.requested) })
			p := &recorder{}
			res, err := testEngine(m).ChangePackages(ctx, "demo", tt.ch, p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.said != "" && !p.said(tt.said) {
				t.Errorf("messages %q", p.messages)
			}
			if len(m.composed) != tt.composed {
				t.Fatalf("%d compositions, want %d", len(m.composed), tt.composed)
			}
			if tt.composed > 0 && (!reflect.DeepEqual(m.composed[0].NewPackages, tt.wantNew) || m.composed[0].Base != "v1" || m.composed[0].DryRun != tt.ch.DryRun) {
				t.Errorf("compose request %+v", m.composed[0])
			}
			if res.Changed != tt.deployed || (len(m.deps) == 2) != tt.deployed {
				t.Errorf("Changed %v, deployments %q", res.Changed, checksums(m.deps))
			}
		})
	}
}

func TestSnapshot(t *testing.T) {
	m := host1(t, "v2", func(o *origin.Origin) {
		o.SetRequestedPackages([]string{"hello"})
		o.SetRequestedLocalPackages([]string{"abc:local-1-1.noarch"})
		o.SetOverrideRemove([]string{"nano"})
	})
	// The booted deployment is a layer over v1; its update v2 was fetched.
	m.commit("layer", "v1", "", 150)
	m.repo.commits["layer"].Metadata["rpmostree.clientlayer"] = true
	m.deps[0].Checksum = "layer"
	m.repo.refs[stable] = "v2"
	m.deploy("demo", "pruned", false, nil)
	m.deploy("other", "v0", false, originWith("other:x", nil))

	st := snapshot(m)
	if st.BootedOS != "demo" || st.DefaultOS != "demo" || !reflect.DeepEqual(st.Stateroots, []string{"demo", "other"}) {
		t.Errorf("state %+v", st)
	}
	got := st.Deployments[0]
	want := Deployment{
		ID: "demo-layer.0", OSName: "demo", Checksum: "layer", Booted: true, Kargs: "root=/dev/vda quiet",
		CommitKnown: true, Timestamp: time.Unix(150, 0),
		BaseChecksum: "v1", BaseKnown: true, BaseVersion: "1.0", BaseTimestamp: time.Unix(100, 0),
		BaseCommitMeta: map[string]any{}, LayeredCommitMeta: map[string]any{"rpmostree.clientlayer": true},
		// The fetched update shows as the pending base, as in rpm-ostree.
		PendingBaseChecksum: "v2", PendingBaseVersion: "2.0", PendingBaseTimestamp: time.Unix(200, 0),
		Origin: &DeploymentOrigin{Refspec: stable, RequestedPackages: []string{"hello"},
			RequestedLocalPackages: []string{"local-1-1.noarch"}, OverrideRemove: []string{"nano"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deployment\n got %+v\nwant %+v", got, want)
	}
	if d := st.Deployments[1]; d.CommitKnown || d.BaseChecksum != "" || d.Origin != nil {
		t.Errorf("pruned deployment without origin: %+v", d)
	}
	if u := st.Updates["demo"]; u == nil || u.Checksum != "v2" || u.Version != "2.0" || u.Refspec != stable {
		t.Errorf("update %+v", u)
	}
	if _, ok := st.Updates["other"]; ok {
		t.Error("update for a stateroot whose ref is unknown")
	}
	if st.Booted() == nil || st.Booted().ID != "demo-layer.0" {
		t.Errorf("Booted() = %+v", st.Booted())
	}
}

func TestCachedUpdate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		local string // the local ref's commit
		edit  func(*origin.Origin)
		want  string // update checksum, "" for none
	}{
		{"none fetched", "v1", nil, ""},
		{"newer fetched", "v2", nil, "v2"},
		{"older is no update", "v0", nil, ""},
		{"pinned deployments have none", "v2", func(o *origin.Origin) { o.SetOverrideCommit("v1") }, ""},
		{"ref unknown", "", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := host1(t, "v2", tt.edit)
			if tt.local == "" {
				delete(m.repo.refs, stable)
			} else {
				m.repo.refs[stable] = tt.local
			}
			got := ""
			if u := cachedUpdate(m, "demo"); u != nil {
				got = u.Checksum
			}
			if got != tt.want {
				t.Errorf("cachedUpdate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSyncBaseRefs(t *testing.T) {
	m := newMem(t)
	m.commit("b1", "", "", 1)
	m.commit("b2", "", "", 2)
	for _, l := range []struct{ csum, base string }{{"l1", "b1"}, {"l2", "b2"}, {"l3", "b1"}} {
		m.commit(l.csum, l.base, "", 3)
		m.repo.commits[l.csum].Metadata["rpmostree.clientlayer"] = true
	}
	deps := []*ostree.Deployment{{Checksum: "l1"}, {Checksum: "b2"}, {Checksum: "l2"}, {Checksum: "l3"}}
	m.repo.refs["rpmostree/base/0"] = "b1"
	m.repo.refs["rpmostree/base/7"] = "old"
	if err := syncBaseRefs(m.repo, deps, "extra"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rpmostree/base/0": "b1", "rpmostree/base/1": "b2", "rpmostree/base/2": "extra"}
	if !reflect.DeepEqual(m.repo.refs, want) {
		t.Errorf("refs %v, want %v", m.repo.refs, want)
	}
}

func TestLocalNEVRAs(t *testing.T) {
	got := localNEVRAs([]string{"abc:foo-1-1.noarch", "def:bar-2-1.x86_64"})
	if want := []string{"foo-1-1.noarch", "bar-2-1.x86_64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("localNEVRAs = %v", got)
	}
	if localNEVRAs(nil) != nil {
		t.Error("no entries must stay nil")
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
