package daemon

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/transactions"
)

// signatures renders a dict as "key:signature" pairs, sorted: the shape
// clients depend on.
func signatures(d dict) string {
	var out []string
	for k, v := range d {
		out = append(out, k+":"+v.Signature().String())
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// alwaysSent are the keys every deployment dict has (clients such as Cockpit
// read booted, staged, pinned and timestamp unchecked).
const alwaysSent = "base-remote-replacements:a{sv} base-removals:av booted:b checksum:s gpg-enabled:b id:s initramfs-etc:as modules:as osname:s packages:as pinned:b regenerate-initramfs:b " +
	"requested-base-removals:as requested-local-fileoverride-packages:as requested-local-packages:as requested-modules:as requested-modules-enabled:as requested-packages:as " +
	"serial:i signatures:av staged:b timestamp:t unlocked:s"

func withKeys(extra ...string) string {
	keys := append(strings.Fields(alwaysSent), extra...)
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func TestDeploymentDictKeys(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	for _, tt := range []struct {
		name string
		d    transactions.Deployment
		want string
	}{
		{"commit pruned, no origin", transactions.Deployment{ID: "demo-a.0", OSName: "demo", Checksum: "a"}, withKeys()},
		{"commit without version", transactions.Deployment{Checksum: "a", CommitKnown: true, Timestamp: ts}, withKeys()},
		{"versioned commit", transactions.Deployment{Checksum: "a", CommitKnown: true, Timestamp: ts, Version: "1.0"}, withKeys("version:s")},
		{"layered, base pruned", transactions.Deployment{Checksum: "a", CommitKnown: true, BaseChecksum: "b"},
			withKeys("base-checksum:s")},
		// base-version is sent even when empty, as before.
		{"layered, base known", transactions.Deployment{Checksum: "a", CommitKnown: true, BaseChecksum: "b", BaseKnown: true},
			withKeys("base-checksum:s", "base-timestamp:t", "base-version:s")},
		{"plain origin", transactions.Deployment{Checksum: "a", Origin: &transactions.DeploymentOrigin{Refspec: "demo:os"}},
			withKeys("origin:s")},
		// An image deployment, as rpm-ostree sends it: no "origin".
		{"image origin", transactions.Deployment{Checksum: "a", ImageDigest: "sha256:d", Origin: &transactions.DeploymentOrigin{ImageReference: "ostree-unverified-registry:r/os"}},
			withKeys("container-image-reference:s", "container-image-reference-digest:s")},
		{"image origin, commit pruned", transactions.Deployment{Checksum: "a", Origin: &transactions.DeploymentOrigin{ImageReference: "ostree-unverified-registry:r/os"}},
			withKeys("container-image-reference:s")},
		{"full origin", transactions.Deployment{Checksum: "a", Origin: &transactions.DeploymentOrigin{
			Refspec: "demo:os", RequestedPackages: []string{"x"}, RequestedLocalPackages: []string{"l-1-1.noarch"},
			OverrideRemove: []string{"r"}, OverrideReplaceLocal: []string{"n-2-1.noarch"}, OverrideCommit: "c",
		}}, withKeys("origin:s", "requested-base-local-replacements:as", "override-commit:s")},
		{"local replacement", transactions.Deployment{Checksum: "a", LocalReplacements: []transactions.Replacement{{
			New: nevra.Package{Name: "n", Version: "2", Release: "1", Arch: "noarch"},
			Old: nevra.Package{Name: "n", Version: "1", Release: "1", Arch: "noarch"},
		}}}, withKeys("base-local-replacements:a(vv)")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := signatures(deploymentDict(&tt.d)); got != tt.want {
				t.Errorf("keys\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDeploymentDictValues(t *testing.T) {
	d := transactions.Deployment{
		ID: "demo-abc.1", OSName: "demo", Serial: 1, Checksum: "abc", Booted: true, Pinned: true,
		CommitKnown: true, Timestamp: time.Unix(1700000000, 0), Version: "2.0",
		BaseChecksum: "base", BaseKnown: true, BaseVersion: "1.0", BaseTimestamp: time.Unix(1600000000, 0),
		Origin: &transactions.DeploymentOrigin{
			Refspec: "demo:demo/stable", RequestedPackages: []string{"hello"},
			RequestedLocalPackages: []string{"local-1-1.noarch"}, OverrideRemove: []string{"gone"},
			OverrideReplaceLocal: []string{"repl-2-1.noarch"}, OverrideCommit: "pin",
		},
		LayeredCommitMeta: map[string]any{"rpmostree.removed-base-packages": []string{"gone-1:1.0-1.x86_64"}},
		BaseRemovals:      []nevra.Package{{Name: "gone", Epoch: 1, Version: "1.0", Release: "1", Arch: "x86_64"}},
	}
	got := deploymentDict(&d)
	for key, want := range map[string]any{
		"id": "demo-abc.1", "osname": "demo", "serial": int32(1), "checksum": "abc",
		"booted": true, "staged": false, "pinned": true, "unlocked": "none",
		"timestamp": uint64(1700000000), "version": "2.0",
		"base-checksum": "base", "base-version": "1.0", "base-timestamp": uint64(1600000000),
		"origin": "demo:demo/stable", "requested-packages": []string{"hello"}, "packages": []string{"hello"},
		"requested-local-packages":          []string{"local-1-1.noarch"},
		"requested-base-removals":           []string{"gone"},
		"requested-base-local-replacements": []string{"repl-2-1.noarch"},
		"base-removals":                     []dbus.Variant{dbus.MakeVariant(packageTuple{"gone-1:1.0-1.x86_64", "gone", 1, "1.0", "1", "x86_64"})},
		"override-commit":                   "pin",
		"signatures":                        []dbus.Variant{},
		"regenerate-initramfs":              false,
	} {
		if v := got[key].Value(); !reflect.DeepEqual(v, want) {
			t.Errorf("%s = %#v, want %#v", key, v, want)
		}
	}
}

func TestUpdateDict(t *testing.T) {
	got := updateDict(&transactions.Update{Osname: "demo", Refspec: "demo:os", Checksum: "c", Version: "2.0", Timestamp: time.Unix(42, 0)})
	want := "checksum:s gpg-enabled:b origin:s osname:s ref-has-new-commit:b signatures:av timestamp:t version:s"
	if s := signatures(got); s != want {
		t.Errorf("keys %s, want %s", s, want)
	}
	if got["timestamp"].Value() != uint64(42) || got["origin"].Value() != "demo:os" || got["ref-has-new-commit"].Value() != true {
		t.Errorf("values %v", got)
	}
}

func TestUpdateDictImage(t *testing.T) {
	got := updateDict(&transactions.Update{Osname: "demo", Refspec: "ostree-unverified-registry:r/os", IsImage: true, ImageDigest: "sha256:d", Checksum: "c"})
	if got["container-image-reference"].Value() != "ostree-unverified-registry:r/os" || got["container-image-reference-digest"].Value() != "sha256:d" {
		t.Errorf("image update %v", got)
	}
}

func dep(os, csum string, booted bool) transactions.Deployment {
	return transactions.Deployment{ID: os + "-" + csum + ".0", OSName: os, Checksum: csum, Booted: booted}
}

func TestWireSnapshot(t *testing.T) {
	id := func(d dict) string {
		if len(d) == 0 {
			return "-"
		}
		return d["id"].Value().(string)
	}
	for _, tt := range []struct {
		name                       string
		st                         transactions.State
		os                         string
		booted, def, rollback, upd string
	}{
		{"not booted: default first, next is rollback",
			transactions.State{Stateroots: []string{"demo"}, Deployments: []transactions.Deployment{dep("demo", "a", false), dep("demo", "b", false)}},
			"demo", "-", "demo-a.0", "demo-b.0", "-"},
		{"pending above booted: rollback follows booted",
			transactions.State{Stateroots: []string{"demo"}, Deployments: []transactions.Deployment{dep("demo", "a", false), dep("demo", "b", true), dep("demo", "c", false)}},
			"demo", "demo-b.0", "demo-a.0", "demo-c.0", "-"},
		{"other stateroots do not count",
			transactions.State{Stateroots: []string{"demo", "other"}, Deployments: []transactions.Deployment{dep("other", "o", false), dep("demo", "a", true), dep("other", "p", false)}},
			"demo", "demo-a.0", "demo-a.0", "-", "-"},
		{"stateroot without deployments",
			transactions.State{Stateroots: []string{"demo", "empty"}, Deployments: []transactions.Deployment{dep("demo", "a", true)}},
			"empty", "-", "-", "-", "-"},
		{"cached update",
			transactions.State{Stateroots: []string{"demo"}, Deployments: []transactions.Deployment{dep("demo", "a", true)},
				Updates: map[string]*transactions.Update{"demo": {Osname: "demo", Checksum: "new"}}},
			"demo", "demo-a.0", "demo-a.0", "-", "new"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap := wireSnapshot(&tt.st)
			per, ok := snap.perOS[tt.os]
			if !ok {
				t.Fatalf("no state for %s", tt.os)
			}
			upd := "-"
			if c, ok := per.cachedUpdate["checksum"]; ok {
				upd = c.Value().(string)
			}
			got := []string{id(per.booted), id(per.def), id(per.rollback), upd}
			if want := []string{tt.booted, tt.def, tt.rollback, tt.upd}; !reflect.DeepEqual(got, want) {
				t.Errorf("booted/default/rollback/update = %v, want %v", got, want)
			}
			if len(snap.deployments) != len(tt.st.Deployments) {
				t.Errorf("%d deployment dicts for %d deployments", len(snap.deployments), len(tt.st.Deployments))
			}
		})
	}
}

func TestWireSnapshotEmpty(t *testing.T) {
	snap := wireSnapshot(&transactions.State{})
	// aa{sv} must be an empty array, never a nil the encoder would reject.
	if snap.deployments == nil || dbus.SignatureOf(snap.deployments).String() != "aa{sv}" {
		t.Errorf("deployments = %#v", snap.deployments)
	}
	snap = wireSnapshot(&transactions.State{BootedOS: "demo", DefaultOS: "demo", Stateroots: []string{"demo"}})
	if snap.bootedOS != "demo" || snap.defaultOS != "demo" || !reflect.DeepEqual(snap.stateroots, []string{"demo"}) {
		t.Errorf("snapshot = %+v", snap)
	}
}

func TestBootConfigDeployment(t *testing.T) {
	booted := transactions.State{Deployments: []transactions.Deployment{dep("demo", "a", false), dep("demo", "b", true)}}
	notBooted := transactions.State{Deployments: []transactions.Deployment{dep("other", "o", false), dep("demo", "a", false), dep("demo", "b", false)}}
	for _, tt := range []struct {
		name    string
		st      transactions.State
		id      string
		pending bool
		want    string
	}{
		{"by id", booted, "demo-a.0", false, "demo-a.0"},
		{"empty id: booted", booted, "", false, "demo-b.0"},
		{"empty id, pending: the pending one", booted, "", true, "demo-a.0"},
		{"empty id, not booted: the stateroot's default", notBooted, "", false, "demo-a.0"},
		{"empty id, not booted, pending: the stateroot's default", notBooted, "", true, "demo-a.0"},
		{"index", notBooted, "0", false, "other-o.0"},
		{"index ignores pending", booted, "1", true, "demo-b.0"},
		{"index out of range", booted, "2", false, ""},
		{"negative index", booted, "-1", false, ""},
		{"unknown id", booted, "demo-x.0", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			d, err := bootConfigDeployment(&tt.st, "demo", tt.id, tt.pending)
			if d != nil {
				got = d.ID
			}
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Errorf("bootConfigDeployment = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := bootConfigDeployment(&booted, "demo", "5", false); err == nil || !strings.Contains(err.Error(), "Out of range deployment index 5, expected < 2") {
		t.Errorf("out of range: %v", err)
	}
}

func TestPackageTuples(t *testing.T) {
	got := packageTuples([]nevra.Package{
		{Name: "a", Version: "1", Release: "1", Arch: "noarch"},
		{Name: "b", Epoch: 2, Version: "3", Release: "4", Arch: "x86_64"},
	})
	want := []packageTuple{{"a-1-1.noarch", "a", 0, "1", "1", "noarch"}, {"b-2:3-4.x86_64", "b", 2, "3", "4", "x86_64"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packageTuples = %+v", got)
	}
	if sig := dbus.SignatureOf(got).String(); sig != "a(sstsss)" {
		t.Errorf("signature %s, want a(sstsss)", sig)
	}
	if sig := dbus.SignatureOf(packageTuples(nil)).String(); sig != "a(sstsss)" {
		t.Errorf("empty list signature %s", sig)
	}
}

// The introspection data lists what is served, with the same signatures.
func TestIntrospectionListsDeploymentPackages(t *testing.T) {
	for _, m := range osInterface.Methods {
		if m.Name == "ListDeploymentPackages" {
			if len(m.Args) != 2 || m.Args[0].Type != "s" || m.Args[1].Type != "a(sstsss)" {
				t.Errorf("args %+v", m.Args)
			}
			return
		}
	}
	t.Error("ListDeploymentPackages missing from the OS introspection")
}

func TestCommitMetaAndPendingBase(t *testing.T) {
	d := transactions.Deployment{
		Checksum: "l", CommitKnown: true, BaseChecksum: "b", BaseKnown: true,
		BaseCommitMeta: map[string]any{"version": "1.0", "ostree.bootable": true,
			"rpmostree.rpmdb.pkglist": [][5]string{{"a", "0", "1", "1", "noarch"}}},
		LayeredCommitMeta:   map[string]any{"rpmostree.clientlayer": true, "rpmostree.clientlayer_version": uint32(6)},
		PendingBaseChecksum: "p", PendingBaseVersion: "2.0", PendingBaseTimestamp: time.Unix(7, 0),
	}
	got := deploymentDict(&d)
	base, _ := got["base-commit-meta"].Value().(map[string]dbus.Variant)
	if base["version"].Value() != "1.0" || base["ostree.bootable"].Value() != true {
		t.Errorf("base-commit-meta %v", base)
	}
	if _, ok := base["rpmostree.rpmdb.pkglist"]; ok {
		t.Error("base-commit-meta carries the package list (rpm-ostree filters it out)")
	}
	layered, _ := got["layered-commit-meta"].Value().(map[string]dbus.Variant)
	if layered["rpmostree.clientlayer_version"].Value() != uint32(6) {
		t.Errorf("layered-commit-meta %v", layered)
	}
	if got["pending-base-checksum"].Value() != "p" || got["pending-base-version"].Value() != "2.0" || got["pending-base-timestamp"].Value() != uint64(7) {
		t.Errorf("pending base keys: %v", got)
	}
}

// TestSignaturesOnTheWire: a deployment from a gpg-verify remote sends
// gpg-enabled and each signature as libostree's (bbbbbsxxsssssxx) tuple, in
// libostree's field order, and the client decodes it back.
func TestSignaturesOnTheWire(t *testing.T) {
	sig := transactions.Signature{Valid: true, Fingerprint: "FPR", Timestamp: 1700000000, PubkeyAlgo: "EdDSA",
		HashAlgo: "SHA256", UserName: "k", UserEmail: "k@x", FingerprintPrimary: "FPR"}
	d := deploymentDict(&transactions.Deployment{Checksum: "a", GPGEnabled: true, Signatures: []transactions.Signature{sig, {KeyMissing: true, Fingerprint: "OTHER"}}})
	if got := d["gpg-enabled"].Value(); got != true {
		t.Errorf("gpg-enabled = %v", got)
	}
	list, ok := d["signatures"].Value().([]dbus.Variant)
	if !ok || len(list) != 2 {
		t.Fatalf("signatures = %v", d["signatures"])
	}
	if got := list[0].Signature().String(); got != "(bbbbbsxxsssssxx)" {
		t.Errorf("signature type %s, want libostree's (bbbbbsxxsssssxx)", got)
	}
	if got, ok := list[0].Value().(transactions.Signature); !ok || got != sig {
		t.Errorf("first signature = %#v, want %#v", list[0].Value(), sig)
	}
	u := updateDict(&transactions.Update{Checksum: "b", GPGEnabled: true, Signatures: []transactions.Signature{sig}})
	if u["gpg-enabled"].Value() != true || len(u["signatures"].Value().([]dbus.Variant)) != 1 {
		t.Errorf("cached update gpg-enabled %v signatures %v", u["gpg-enabled"], u["signatures"])
	}
}
