package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// pkgOS is an OS object on a private bus that records what the package
// methods receive, as plain Go values.
type pkgOS struct {
	mu      sync.Mutex
	method  string
	mods    map[string]any
	opts    map[string]any
	added   []string
	removed []string
	diff    []diffRow // what GetDeploymentsRpmDiff returns
	diffIDs []string
}

func plain(m map[string]dbus.Variant) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v.Value()
	}
	return out
}

// UpdateDeployment records name-only calls; calls carrying fds go to
// rawDaemon (see rawbus_test.go for why).
func (o *pkgOS) UpdateDeployment(mods, opts map[string]dbus.Variant) (string, *dbus.Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.method, o.mods, o.opts = "UpdateDeployment", plain(mods), plain(opts)
	return "unix:path=/nonexistent", nil
}

func (o *pkgOS) PkgChange(opts map[string]dbus.Variant, added, removed []string) (string, *dbus.Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.method, o.opts, o.added, o.removed = "PkgChange", plain(opts), added, removed
	return "unix:path=/nonexistent", nil
}

func (o *pkgOS) GetDeploymentsRpmDiff(id0, id1 string) ([]diffRow, *dbus.Error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.diffIDs = []string{id0, id1}
	return o.diff, nil
}

// startPkgDaemon serves a Sysroot and a pkgOS under the daemon's name on a
// private bus and returns a connected client.
func startPkgDaemon(t *testing.T, o *pkgOS) *Client {
	t.Helper()
	addr := startBus(t)
	srv, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	osPath := dbus.ObjectPath("/org/projectatomic/rpmostree1/fedora")
	if err := srv.Export(&testSysroot{osPath: osPath}, SysrootPath, SysrootInterface); err != nil {
		t.Fatal(err)
	}
	if err := srv.Export(o, osPath, OSInterface); err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Export(srv, osPath, prop.Map{OSInterface: {"Name": {Value: "fedora"}}}); err != nil {
		t.Fatal(err)
	}
	if reply, err := srv.RequestName(BusName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
	c, err := ConnectAddress(context.Background(), addr, "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func keys(m map[string]any) string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

func TestUpdateDeploymentSendsModifiersAndFiles(t *testing.T) {
	addr := startBus(t)
	d := startRawDaemon(t, addr, "/org/projectatomic/rpmostree1/fedora", false)
	ctx := context.Background()
	c, err := ConnectAddress(ctx, addr, "cli")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Conn().SupportsUnixFDs() {
		t.Fatal("the private bus connection did not negotiate fd passing")
	}
	osObj, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local1 := filepath.Join(dir, "foo-1.0-1.noarch.rpm")
	local2 := filepath.Join(dir, "bar-2.0-1.noarch.rpm")
	repl := filepath.Join(dir, "base-9-1.noarch.rpm")
	for p, content := range map[string]string{local1: "first rpm", local2: "second rpm", repl: "replacement"} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err = osObj.UpdateDeployment(ctx, Modifiers{
		InstallPackages:              []string{"vim"},
		UninstallPackages:            []string{"htop"},
		InstallLocalPackages:         []string{local1, local2},
		OverrideRemovePackages:       []string{"nano"},
		OverrideReplaceLocalPackages: []string{repl},
		UninstallAll:                 true,
	}, UpdateOptions{DryRun: true, Idempotent: true, AllowInactive: true, NoPullBase: true, InitiatingCommandLine: "install vim"})
	if err != nil {
		t.Fatal(err)
	}
	m := <-d.got
	if member := m.Headers[dbus.FieldMember].Value(); member != "UpdateDeployment" {
		t.Fatalf("method %v", member)
	}
	if sig := m.Headers[dbus.FieldSignature].Value().(dbus.Signature).String(); sig != "a{sv}a{sv}" {
		t.Fatalf("signature %s", sig)
	}
	mods := m.Body[0].(map[string]dbus.Variant)
	opts := plain(m.Body[1].(map[string]dbus.Variant))
	for key, want := range map[string][]string{
		"install-local-packages":          {"first rpm", "second rpm"},
		"override-replace-local-packages": {"replacement"},
	} {
		got, err := d.fileContents(m, mods, key)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: file contents %q, want %q", key, got, want)
		}
		delete(mods, key)
	}
	wantMods := map[string]any{
		"install-packages":         []string{"vim"},
		"uninstall-packages":       []string{"htop"},
		"override-remove-packages": []string{"nano"},
	}
	if got := plain(mods); !reflect.DeepEqual(got, wantMods) {
		t.Errorf("modifiers %#v, want %#v", got, wantMods)
	}
	if got, want := keys(opts), "allow-inactive,allow-inactive-requests,cache-only,download-only,dry-run,idempotent-layering,initiating-command-line,lock-finalization,no-initramfs,no-layering,no-overrides,no-pull-base,reboot"; got != want {
		t.Errorf("option keys %s, want %s", got, want)
	}
	for k, want := range map[string]any{"dry-run": true, "idempotent-layering": true, "allow-inactive": true,
		"no-pull-base": true, "no-layering": true, "no-overrides": false, "reboot": false,
		"initiating-command-line": "install vim"} {
		if opts[k] != want {
			t.Errorf("option %s = %#v, want %#v", k, opts[k], want)
		}
	}
}

func TestUpdateDeploymentFallsBackToPaths(t *testing.T) {
	addr := startBus(t)
	d := startRawDaemon(t, addr, "/org/projectatomic/rpmostree1/fedora", true)
	ctx := context.Background()
	c, err := ConnectAddress(ctx, addr, "cli")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	osObj, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local := filepath.Join(dir, "foo-1.0-1.noarch.rpm")
	if err := os.WriteFile(local, []byte("rpm"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A relative path must reach the daemon absolute.
	t.Chdir(dir)
	txn, err := osObj.UpdateDeployment(ctx, Modifiers{InstallPackages: []string{"vim"}, InstallLocalPackages: []string{"./foo-1.0-1.noarch.rpm"}}, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if txn.Address != "unix:path=/nonexistent" {
		t.Fatalf("transaction %q", txn.Address)
	}
	first, second := <-d.got, <-d.got
	if _, ok := first.Body[0].(map[string]dbus.Variant)["install-local-packages"]; !ok {
		t.Fatalf("first call lacks the fds: %v", first.Body[0])
	}
	want := map[string]any{"install-packages": []string{"vim"}, "install-local-package-paths": []string{local}}
	if got := plain(second.Body[0].(map[string]dbus.Variant)); !reflect.DeepEqual(got, want) {
		t.Fatalf("retry modifiers %#v, want %#v", got, want)
	}
	if _, ok := second.Headers[dbus.FieldUnixFDs]; ok {
		t.Fatal("the retry still carries fds")
	}
}

func TestUpdateDeploymentNamesOnly(t *testing.T) {
	o := &pkgOS{}
	c := startPkgDaemon(t, o)
	ctx := context.Background()
	osObj, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := osObj.UpdateDeployment(ctx, Modifiers{OverrideResetPackages: []string{"nano"}, OverrideResetAll: false},
		UpdateOptions{CacheOnly: true}); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if want := map[string]any{"override-reset-packages": []string{"nano"}}; !reflect.DeepEqual(o.mods, want) {
		t.Fatalf("modifiers %#v, want %#v", o.mods, want)
	}
	if o.opts["cache-only"] != true || o.opts["no-overrides"] != false {
		t.Fatalf("options %v", o.opts)
	}
}

func TestUpdateDeploymentMissingLocalFile(t *testing.T) {
	o := &pkgOS{}
	c := startPkgDaemon(t, o)
	ctx := context.Background()
	osObj, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = osObj.UpdateDeployment(ctx, Modifiers{InstallLocalPackages: []string{"/nonexistent/x.rpm"}}, UpdateOptions{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/x.rpm") {
		t.Fatalf("error %v, want a not-exist error naming the path", err)
	}
	if o.method != "" {
		t.Fatalf("the daemon was called (%s) although a file could not be opened", o.method)
	}
}

func TestPkgChangeSendsLists(t *testing.T) {
	o := &pkgOS{}
	c := startPkgDaemon(t, o)
	ctx := context.Background()
	osObj, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := osObj.PkgChange(ctx, UpdateOptions{CacheOnly: true}, nil, []string{"htop"}, true); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.method != "PkgChange" || len(o.added) != 0 || !reflect.DeepEqual(o.removed, []string{"htop"}) {
		t.Fatalf("got %s added=%q removed=%q", o.method, o.added, o.removed)
	}
	if o.opts["no-layering"] != true || o.opts["cache-only"] != true {
		t.Fatalf("options %v", o.opts)
	}
}

// diffRow and pkgTriple give godbus the a(sua{sv}) and (sss) signatures.
type diffRow struct {
	Name    string
	Type    uint32
	Details map[string]dbus.Variant
}

type pkgTriple struct{ Name, EVR, Arch string }

func diffEntry(name string, typ uint32, prev, nw []string) diffRow {
	d := map[string]dbus.Variant{}
	if prev != nil {
		d["PreviousPackage"] = dbus.MakeVariant(pkgTriple{prev[0], prev[1], prev[2]})
	}
	if nw != nil {
		d["NewPackage"] = dbus.MakeVariant(pkgTriple{nw[0], nw[1], nw[2]})
	}
	return diffRow{name, typ, d}
}

func TestGetDeploymentsRpmDiff(t *testing.T) {
	o := &pkgOS{diff: []diffRow{
		diffEntry("foo", 0, nil, []string{"foo", "1.0-1", "noarch"}),
		diffEntry("nano", 1, []string{"nano", "7.2-1", "x86_64"}, nil),
		diffEntry("bash", 2, []string{"bash", "5.1-1", "x86_64"}, []string{"bash", "1:5.2-1", "x86_64"}),
	}}
	c := startPkgDaemon(t, o)
	ctx := context.Background()
	osObj, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := osObj.GetDeploymentsRpmDiff(ctx, "fedora-a.0", "fedora-b.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []PkgChange{
		{Name: "foo", Type: ChangeAdded, New: &PkgRef{"foo", "1.0-1", "noarch"}},
		{Name: "nano", Type: ChangeRemoved, Previous: &PkgRef{"nano", "7.2-1", "x86_64"}},
		{Name: "bash", Type: ChangeUpgraded, Previous: &PkgRef{"bash", "5.1-1", "x86_64"}, New: &PkgRef{"bash", "1:5.2-1", "x86_64"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(o.diffIDs, []string{"fedora-a.0", "fedora-b.1"}) {
		t.Fatalf("ids sent %q", o.diffIDs)
	}
	if got[2].New.NEVRA() != "bash-1:5.2-1.x86_64" {
		t.Fatalf("NEVRA %q", got[2].New.NEVRA())
	}
}

func TestDecodeRpmDiffRejectsMalformed(t *testing.T) {
	for _, raw := range [][][]any{
		{{"foo", uint32(0)}},
		{{"foo", "0", map[string]dbus.Variant{}}},
		{{"foo", uint32(0), map[string]dbus.Variant{"NewPackage": dbus.MakeVariant("foo-1.0")}}},
	} {
		if _, err := DecodeRpmDiff(raw); err == nil {
			t.Errorf("DecodeRpmDiff(%v) accepted a malformed entry", raw)
		}
	}
}
