package main

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"

	"github.com/strata-os/strata/client"
	"github.com/strata-os/strata/internal/p2p"
)

// testDaemon serves a Sysroot and an OS object on a private bus, answers
// GetDeploymentsRpmDiff from a fixed diff, and hands out the address of a
// transaction peer that finishes successfully at once. calls records the
// OS methods called, with their arguments.
type testDaemon struct {
	mu      sync.Mutex
	calls   []string
	diff    []diffRow
	txnAddr string
	// after runs when a transaction is started, to change the deployments
	// the way the real transaction would.
	after func()
	// packages answers ListDeploymentPackages, by deployment id.
	packages map[string][]pkgTuple
}

// pkgTuple is the (sstsss) of ListDeploymentPackages.
type pkgTuple struct {
	NEVRA, Name string
	Epoch       uint64
	Version     string
	Release     string
	Arch        string
}

type diffRow struct {
	Name    string
	Type    uint32
	Details map[string]dbus.Variant
}

type pkgTriple struct{ Name, EVR, Arch string }

func (d *testDaemon) record(s string) {
	d.mu.Lock()
	d.calls = append(d.calls, s)
	d.mu.Unlock()
}

type tdSysroot struct{ d *testDaemon }

func (s tdSysroot) RegisterClient(map[string]dbus.Variant) *dbus.Error   { return nil }
func (s tdSysroot) UnregisterClient(map[string]dbus.Variant) *dbus.Error { return nil }
func (s tdSysroot) Reload() *dbus.Error                                  { return nil }
func (s tdSysroot) GetOS(string) (dbus.ObjectPath, *dbus.Error) {
	return "/org/projectatomic/rpmostree1/fedora", nil
}

type tdOS struct{ d *testDaemon }

func (o tdOS) ListDeploymentPackages(id string) ([]pkgTuple, *dbus.Error) {
	o.d.record("ListDeploymentPackages " + id)
	pkgs, ok := o.d.packages[id]
	if !ok {
		return nil, dbus.NewError("org.projectatomic.rpmostreed.Error.Failed", []any{"no deployment with id " + id})
	}
	return append([]pkgTuple{}, pkgs...), nil
}

func (o tdOS) GetDeploymentsRpmDiff(a, b string) ([]diffRow, *dbus.Error) {
	o.d.record("GetDeploymentsRpmDiff " + a + " " + b)
	return o.d.diff, nil
}

func (o tdOS) PkgChange(opts map[string]dbus.Variant, added, removed []string) (string, *dbus.Error) {
	o.d.record("PkgChange +" + strings.Join(added, ",") + " -" + strings.Join(removed, ","))
	if o.d.after != nil {
		o.d.after()
	}
	return o.d.txnAddr, nil
}

func (o tdOS) UpdateDeployment(mods, opts map[string]dbus.Variant) (string, *dbus.Error) {
	var ks []string
	for k := range mods {
		ks = append(ks, k)
	}
	o.d.record("UpdateDeployment " + strings.Join(ks, ","))
	if o.d.after != nil {
		o.d.after()
	}
	return o.d.txnAddr, nil
}

func startTestBus(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// startFinishingPeer serves transactions (with the daemon's own p2p
// listener) that print one message and succeed as soon as started.
func startFinishingPeer(t *testing.T) string {
	t.Helper()
	l, err := p2p.Listen(filepath.Join(t.TempDir(), "txn"), func(uint32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); l.Close() })
	go func() {
		for {
			peer, err := l.Accept(ctx)
			if err != nil {
				return
			}
			peer.Conn.Export(&finishingTxn{peer.Conn}, "/", client.TransactionInterface)
			peer.Start()
		}
	}()
	return l.Address()
}

type finishingTxn struct{ conn *dbus.Conn }

func (f *finishingTxn) Start() (bool, *dbus.Error) {
	go func() {
		time.Sleep(20 * time.Millisecond)
		f.conn.Emit("/", client.TransactionInterface+".Message", "working")
		f.conn.Emit("/", client.TransactionInterface+".Finished", true, "")
	}()
	return true, nil
}

// serve exports d with the given sysroot path and deployments and returns an
// app connected to it.
func (d *testDaemon) serve(t *testing.T, sysroot string, deps []map[string]dbus.Variant) (*app, *strings.Builder, *strings.Builder, func([]map[string]dbus.Variant)) {
	t.Helper()
	addr := startTestBus(t)
	d.txnAddr = startFinishingPeer(t)
	srv, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	osPath := dbus.ObjectPath("/org/projectatomic/rpmostree1/fedora")
	srv.Export(tdSysroot{d}, client.SysrootPath, client.SysrootInterface)
	srv.Export(tdOS{d}, osPath, client.OSInterface)
	sysProps, err := prop.Export(srv, client.SysrootPath, prop.Map{client.SysrootInterface: {
		"Booted": {Value: osPath}, "Path": {Value: sysroot},
		"ActiveTransaction": {Value: []any{"", "", ""}}, "ActiveTransactionPath": {Value: ""},
		"AutomaticUpdatePolicy": {Value: "none"}, "Deployments": {Value: deps},
	}})
	if err != nil {
		t.Fatal(err)
	}
	none := map[string]dbus.Variant{}
	osProps, err := prop.Export(srv, osPath, prop.Map{client.OSInterface: {
		"Name": {Value: "fedora"}, "DefaultDeployment": {Value: deps[0]}, "BootedDeployment": {Value: none},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := srv.RequestName(client.BusName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
	setDeps := func(n []map[string]dbus.Variant) {
		sysProps.SetMust(client.SysrootInterface, "Deployments", n)
		osProps.SetMust(client.OSInterface, "DefaultDeployment", n[0])
	}
	var out, errb strings.Builder
	a := &app{prog: "strata", stdout: &out, stderr: &errb, columns: 80, cmdline: "test",
		connect: func(ctx context.Context) (*client.Client, error) { return client.ConnectAddress(ctx, addr, "cli") }}
	return a, &out, &errb, setDeps
}

func deployDict(csum string, serial int32, booted bool) map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"id": v("fedora-" + csum + "." + string(rune('0'+serial))), "osname": v("fedora"), "serial": v(serial),
		"checksum": v(csum), "origin": v("fedora:fedora/stable"), "booted": v(booted), "timestamp": v(uint64(0)),
	}
}

func TestDBListAsksTheDaemon(t *testing.T) {
	ctx := context.Background()
	deps := []map[string]dbus.Variant{deployDict(sumB, 1, false), deployDict(sumA, 0, false)}
	// Only the second deployment has packages: listing must ask for the
	// right one. The daemon sends them in the rpmdb's order.
	d := &testDaemon{packages: map[string][]pkgTuple{
		"fedora-" + sumA + ".0": {
			{"Beta-tools-0.9-1.noarch", "Beta-tools", 0, "0.9", "1", "noarch"},
			{"alpha-2.1-3.noarch", "alpha", 0, "2.1", "3", "noarch"},
			{"zeta-1.0-1.noarch", "zeta", 0, "1.0", "1", "noarch"},
		},
		"fedora-" + sumB + ".1": {},
	}}
	a, out, errb, _ := d.serve(t, t.TempDir(), deps)

	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"db", "list", "1"}, "ostree commit: 1 (" + sumA + ")\n Beta-tools-0.9-1.noarch\n alpha-2.1-3.noarch\n zeta-1.0-1.noarch\n"},
		{[]string{"db", "list", sumA, "ALPHA", "zeta-1.0-1"}, "ostree commit: " + sumA + "\n alpha-2.1-3.noarch\n zeta-1.0-1.noarch\n"},
		{[]string{"db", "list", "fedora-" + sumA + ".0", "beta*.noarch"}, "ostree commit: fedora-" + sumA + ".0 (" + sumA + ")\n Beta-tools-0.9-1.noarch\n"},
		{[]string{"db", "list", "0"}, "ostree commit: 0 (" + sumB + ")\n"},
		// No revision: the default deployment on a host not booted from it.
		{[]string{"db", "list"}, "ostree commit: default deployment (" + sumB + ")\n"},
	} {
		out.Reset()
		errb.Reset()
		if code := a.run(ctx, tc.argv); code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.argv, code, errb.String())
		}
		if out.String() != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.argv, out.String(), tc.want)
		}
	}
}

func TestDBDiffAndInstallOverBus(t *testing.T) {
	ctx := context.Background()
	d := &testDaemon{diff: []diffRow{
		{"foo", 0, map[string]dbus.Variant{"NewPackage": v(pkgTriple{"foo", "1.0-1", "noarch"})}},
		{"nano", 1, map[string]dbus.Variant{"PreviousPackage": v(pkgTriple{"nano", "7.2-1", "x86_64"})}},
	}}
	old := deployDict(sumA, 0, false)
	a, out, errb, setDeps := d.serve(t, t.TempDir(), []map[string]dbus.Variant{old})

	// db diff with one deployment: nothing to compare with.
	if code := a.run(ctx, []string{"db", "diff"}); code != 1 || !strings.Contains(errb.String(), "No pending or rollback deployment to diff against") {
		t.Fatalf("db diff alone: exit %d, stderr %q", code, errb.String())
	}

	// install makes a new default deployment: the diff from the previous
	// default is printed, then the hint.
	newer := deployDict(sumB, 1, false)
	d.after = func() { setDeps([]map[string]dbus.Variant{newer, old}) }
	out.Reset()
	errb.Reset()
	if code := a.run(ctx, []string{"install", "foo"}); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errb.String())
	}
	// Removed comes before Added in rpm-ostree's block.
	want := "working\nRemoved:\n  nano-7.2-1.x86_64\nAdded:\n  foo-1.0-1.noarch\n" +
		"Changes queued for next boot. Run \"systemctl reboot\" to start a reboot\n"
	if out.String() != want {
		t.Errorf("install output\n got %q\nwant %q", out.String(), want)
	}

	// Nothing changes now: exit 77 when asked, 0 otherwise.
	d.after = nil
	if code := a.run(ctx, []string{"install", "--idempotent", "--unchanged-exit-77", "foo"}); code != exitUnchanged {
		t.Errorf("unchanged install: exit %d, want 77", code)
	}
	out.Reset()
	if code := a.run(ctx, []string{"uninstall", "-n", "foo"}); code != 0 || !strings.HasSuffix(out.String(), "Exiting because of '--dry-run' option\n") {
		t.Errorf("dry run: exit %d, output %q", code, out.String())
	}
	out.Reset()
	if code := a.run(ctx, []string{"override", "reset", "--all"}); code != 0 {
		t.Errorf("override reset --all: exit %d: %s", code, errb.String())
	}

	// db diff now has a rollback to compare with; by index too.
	out.Reset()
	if code := a.run(ctx, []string{"db", "diff", "1", "0"}); code != 0 {
		t.Fatalf("db diff: exit %d: %s", code, errb.String())
	}
	if want := "ostree diff commit from: 1 (" + sumA + ")\nostree diff commit to:   0 (" + sumB + ")\n" +
		"Removed:\n  nano-7.2-1.x86_64\nAdded:\n  foo-1.0-1.noarch\n"; out.String() != want {
		t.Errorf("db diff\n got %q\nwant %q", out.String(), want)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	idA, idB := "fedora-"+sumA+".0", "fedora-"+sumB+".1"
	wantCalls := []string{
		"PkgChange +foo -",
		"GetDeploymentsRpmDiff " + idA + " " + idB,
		"PkgChange +foo -",
		"PkgChange + -foo",
		"UpdateDeployment ",
		"GetDeploymentsRpmDiff " + idA + " " + idB,
	}
	if strings.Join(d.calls, "\n") != strings.Join(wantCalls, "\n") {
		t.Errorf("calls\n got %q\nwant %q", d.calls, wantCalls)
	}
}
