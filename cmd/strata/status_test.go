package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/client"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	sumA = "9a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
	sumB = "1111111111111111111111111111111111111111111111111111111111111111"
	sumC = "2222222222222222222222222222222222222222222222222222222222222222"
)

func v(x any) dbus.Variant { return dbus.MakeVariant(x) }

// deployment dictionaries as a daemon sends them.
func pendingDict() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"id": v("fedora-" + sumB + ".1"), "osname": v("fedora"), "serial": v(int32(1)),
		"checksum": v(sumB), "version": v("2.0"), "timestamp": v(uint64(1767225600)),
		"origin": v("fedora:fedora/x86_64/coreos/stable"), "booted": v(false), "staged": v(true),
		"pinned": v(false), "signatures": v([]dbus.Variant{}), "packages": v([]string{}),
	}
}

func bootedDict() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"id": v("fedora-" + sumA + ".0"), "osname": v("fedora"), "serial": v(int32(0)),
		"checksum": v(sumA), "version": v("1.0"), "timestamp": v(uint64(1764547200)),
		"origin": v("fedora:fedora/x86_64/coreos/stable"), "booted": v(true),
	}
}

func layeredDict() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"id": v("fedora-" + sumC + ".2"), "osname": v("fedora"), "serial": v(int32(2)),
		"checksum": v(sumC), "base-checksum": v(sumA), "version": v("1.0"),
		"timestamp": v(uint64(1767229200)), "base-timestamp": v(uint64(1764547200)),
		"origin": v("fedora:fedora/x86_64/coreos/stable"), "booted": v(true), "pinned": v(true),
		"packages":                 v([]string{"vim-enhanced", "htop", "Zsh", "strace", "tmux", "git-core", "tcpdump", "nmap-ncat", "wireshark-cli", "bash-completion"}),
		"requested-packages":       v([]string{"vim-enhanced", "htop", "Zsh", "strace", "tmux", "git-core", "tcpdump", "nmap-ncat", "wireshark-cli", "bash-completion", "already-in-base"}),
		"requested-local-packages": v([]string{"mytool-1.0-1.x86_64"}),
		"base-removals": v([]dbus.Variant{
			v([]any{"nano-7.2-1.fc40.x86_64", "nano", uint64(0), "7.2", "1.fc40", "x86_64"}),
			v([]any{"nano-default-editor-7.2-1.fc40.noarch", "nano-default-editor", uint64(0), "7.2", "1.fc40", "noarch"}),
		}),
		"requested-base-removals": v([]string{"nano", "nano-default-editor", "gone"}),
		"unlocked":                v("none"),
		"regenerate-initramfs":    v(true),
		"initramfs-args":          v([]string{"--add", "my module"}),
	}
}

// imageDict is a deployment following a container image, with a package
// layered on it, as rpm-ostree sends it (no "origin").
func imageDict() map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"id": v("fedora-" + sumC + ".0"), "osname": v("fedora"), "serial": v(int32(0)),
		"checksum": v(sumC), "base-checksum": v(sumB), "version": v("41.20261201.0"),
		"timestamp": v(uint64(1767229200)), "base-timestamp": v(uint64(1764547200)),
		"container-image-reference":        v("ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable"),
		"container-image-reference-digest": v("sha256:" + sumA),
		"booted":                           v(true), "packages": v([]string{"htop"}), "requested-packages": v([]string{"htop"}),
	}
}

func decode(ms ...map[string]dbus.Variant) []client.Deployment {
	var out []client.Deployment
	for _, m := range ms {
		out = append(out, client.DecodeDeployment(m))
	}
	return out
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestStatusGolden(t *testing.T) {
	cached := map[string]dbus.Variant{
		"osname": v("fedora"), "checksum": v(sumC), "version": v("3.0"),
		"timestamp": v(uint64(1769904000)), "origin": v("fedora:fedora/x86_64/coreos/stable"),
		"ref-has-new-commit": v(true),
		"rpm-diff": v(map[string]dbus.Variant{
			"upgraded":   v([][]any{{uint32(3), "kernel", []any{"6.8.1-1", "x86_64"}, []any{"6.9.2-1", "x86_64"}}}),
			"downgraded": v([][]any{}),
			"removed":    v([][]any{{uint32(2), "nano", "7.2-1", "x86_64"}}),
			"added":      v([][]any{{uint32(1), "vim", "9.1-1", "x86_64"}, {uint32(1), "jq", "1.7-1", "x86_64"}}),
		}),
	}
	for _, tc := range []struct {
		name string
		view statusView
		opts statusOpts
	}{
		{"idle-two", statusView{policy: "none", deployments: decode(pendingDict(), bootedDict())}, statusOpts{columns: 80}},
		{"idle-two-verbose", statusView{policy: "none", deployments: decode(pendingDict(), bootedDict())}, statusOpts{verbose: true, columns: 80}},
		{"booted-only", statusView{policy: "none", deployments: decode(pendingDict(), bootedDict())}, statusOpts{onlyBooted: true, columns: 80}},
		{"layered", statusView{policy: "none", deployments: decode(layeredDict(), bootedDict())}, statusOpts{columns: 80}},
		{"image", statusView{policy: "none", deployments: decode(imageDict(), bootedDict())}, statusOpts{columns: 80}},
		{"image-verbose", statusView{policy: "none", deployments: decode(imageDict())}, statusOpts{verbose: true, columns: 80}},
		{"layered-verbose-narrow", statusView{policy: "none", deployments: decode(layeredDict())}, statusOpts{verbose: true, columns: 40}},
		{"busy-with-update", statusView{busy: true, txnTitle: "upgrade", txnInitiator: "client(id:cli dbus:1.42 unit:session-1.scope uid:0)",
			policy: "check", deployments: decode(bootedDict()), cachedUpdate: cached}, statusOpts{columns: 80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeStatus(&b, tc.view, tc.opts)
			checkGolden(t, "status-"+tc.name, b.String())
		})
	}
	t.Run("available-update-preview", func(t *testing.T) {
		var b bytes.Buffer
		writeCachedUpdate(&b, cached, true, false)
		checkGolden(t, "update-preview", b.String())
	})
}

func TestStatusJSON(t *testing.T) {
	minimal := map[string]dbus.Variant{"id": v("x"), "osname": v("fedora"), "checksum": v(sumA)}
	view := statusView{
		deployments:  decode(pendingDict(), bootedDict(), minimal),
		txn:          &client.TransactionInfo{Method: "Upgrade", Sender: ":1.5", Path: "unix:path=/run/t"},
		cachedUpdate: map[string]dbus.Variant{"checksum": v(sumC)},
	}
	var b bytes.Buffer
	if err := writeStatusJSON(&b, view, false); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b.String())
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	if got := strings.Join(sortedStrings(keys), ","); got != "cached-update,deployments,transaction,update-driver" {
		t.Fatalf("top-level keys %s", got)
	}
	if doc["update-driver"] != nil {
		t.Errorf("update-driver must be null")
	}
	if !reflect.DeepEqual(doc["transaction"], []any{"Upgrade", ":1.5", "unix:path=/run/t"}) {
		t.Errorf("transaction %v", doc["transaction"])
	}
	if cu, _ := doc["cached-update"].(map[string]any); cu["checksum"] != sumC {
		t.Errorf("cached-update %v", doc["cached-update"])
	}
	deps := doc["deployments"].([]any)
	if len(deps) != 3 {
		t.Fatalf("%d deployments", len(deps))
	}
	for i, d := range deps {
		m := d.(map[string]any)
		for _, k := range []string{"booted", "staged", "pinned"} {
			if _, ok := m[k].(bool); !ok {
				t.Errorf("deployment %d: %s missing or not a bool: %v", i, k, m[k])
			}
		}
		if _, ok := m["timestamp"].(float64); !ok {
			t.Errorf("deployment %d: timestamp missing", i)
		}
	}
	if p := deps[0].(map[string]any); p["serial"] != float64(1) || p["staged"] != true || p["version"] != "2.0" {
		t.Errorf("pending deployment keys wrong: %v", p)
	}
	if _, ok := deps[0].(map[string]any)["signatures"].([]any); !ok {
		t.Errorf("empty arrays must stay arrays")
	}

	// Idle, no update, --booted.
	b.Reset()
	if err := writeStatusJSON(&b, statusView{deployments: decode(pendingDict(), bootedDict())}, true); err != nil {
		t.Fatal(err)
	}
	doc = nil
	json.Unmarshal(b.Bytes(), &doc)
	if doc["transaction"] != nil || doc["cached-update"] != nil || len(doc["deployments"].([]any)) != 1 {
		t.Errorf("idle --booted document wrong: %s", b.String())
	}
}

func TestStatusJSONPath(t *testing.T) {
	view := statusView{deployments: decode(pendingDict(), bootedDict())}
	for expr, want := range map[string]string{
		"$.deployments[0].version": `["2.0"]`,
		"$.deployments[-1].booted": `[true]`,
		"$.deployments[*].serial":  `[1,0]`,
		"$['transaction']":         `[null]`,
		"$..osname":                `["fedora","fedora"]`,
		"$.deployments[5]":         `[]`,
	} {
		var b bytes.Buffer
		if err := writeStatusJSONPath(&b, view, false, expr); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var got any
		json.Unmarshal(b.Bytes(), &got)
		compact, _ := json.Marshal(got)
		if string(compact) != want {
			t.Errorf("%s = %s, want %s", expr, compact, want)
		}
	}
	var b bytes.Buffer
	if err := writeStatusJSONPath(&b, view, false, "deployments"); err == nil || !strings.HasPrefix(err.Error(), "While compiling jsonpath") {
		t.Errorf("bad expression must fail, got %v", err)
	}
}

func sortedStrings(s []string) []string {
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

// A pending deployment's block says what changes from the booted one: a
// "Diff:" count, or with -v each package under its kind (rpm-ostree's
// layout); the booted block says nothing of it.
func TestStatusPendingDiff(t *testing.T) {
	v := statusView{
		deployments: []client.Deployment{
			{ID: "p.1", OSName: "demo", Checksum: "bbb", Origin: "demo:os", BaseChecksum: "aaa"},
			{ID: "b.0", OSName: "demo", Checksum: "aaa", Origin: "demo:os", Booted: true},
		},
		pendingDiff: []client.PkgChange{
			{Name: "foo", Type: client.ChangeAdded, New: &client.PkgRef{Name: "foo", EVR: "1.0-1", Arch: "noarch"}},
			{Name: "bar", Type: client.ChangeAdded, New: &client.PkgRef{Name: "bar", EVR: "1.0-1", Arch: "noarch"}},
			{Name: "old", Type: client.ChangeRemoved, Previous: &client.PkgRef{Name: "old", EVR: "2-1", Arch: "noarch"}},
		},
	}
	var b strings.Builder
	writeStatus(&b, v, statusOpts{})
	out := b.String()
	if !strings.Contains(out, "Diff: 1 removed, 2 added\n") || strings.Count(out, "Diff:") != 1 ||
		strings.Index(out, "Diff:") > strings.Index(out, "●") {
		t.Errorf("status lacks the pending deployment's Diff line:\n%s", out)
	}
	b.Reset()
	writeStatus(&b, v, statusOpts{verbose: true})
	out = b.String()
	for _, want := range []string{"Removed: old-2-1.noarch\n", "Added: bar-1.0-1.noarch\n", "foo-1.0-1.noarch\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("status -v lacks %q:\n%s", want, out)
		}
	}
}
