package client

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// startBus runs a private dbus-daemon and returns its address.
func startBus(t *testing.T) string {
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
		t.Fatalf("reading bus address: %v", err)
	}
	return strings.TrimSpace(line)
}

// testSysroot is the Sysroot object a test serves on the private bus.
type testSysroot struct {
	mu      sync.Mutex
	calls   []string
	osPath  dbus.ObjectPath
	txnAddr string
}

func (s *testSysroot) record(c string) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *testSysroot) RegisterClient(o map[string]dbus.Variant) *dbus.Error {
	s.record("RegisterClient:" + o["id"].Value().(string))
	return nil
}
func (s *testSysroot) UnregisterClient(o map[string]dbus.Variant) *dbus.Error {
	s.record("UnregisterClient:" + o["id"].Value().(string))
	return nil
}
func (s *testSysroot) ReloadConfig() *dbus.Error { s.record("ReloadConfig"); return nil }
func (s *testSysroot) GetOS(name string) (dbus.ObjectPath, *dbus.Error) {
	s.record("GetOS:" + name)
	return s.osPath, nil
}

type testOS struct{ s *testSysroot }

func (o testOS) Upgrade(opts map[string]dbus.Variant) (string, *dbus.Error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	o.s.record("Upgrade:" + strings.Join(sorted(keys), ","))
	return o.s.txnAddr, nil
}
func (o testOS) Deploy(rev string, opts map[string]dbus.Variant) (string, *dbus.Error) {
	return "", dbus.NewError("org.projectatomic.rpmostreed.Error.Failed", []any{"cannot deploy " + rev})
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func sampleDeployment(booted bool, serial int32) map[string]dbus.Variant {
	return map[string]dbus.Variant{
		"id":        dbus.MakeVariant("fedora-abc." + string(rune('0'+serial))),
		"osname":    dbus.MakeVariant("fedora"),
		"serial":    dbus.MakeVariant(serial),
		"checksum":  dbus.MakeVariant(strings.Repeat("a", 64)),
		"version":   dbus.MakeVariant("2.0"),
		"timestamp": dbus.MakeVariant(uint64(1767225600)),
		"origin":    dbus.MakeVariant("fedora:fedora/stable"),
		"booted":    dbus.MakeVariant(booted),
		"packages":  dbus.MakeVariant([]string{"vim", "htop"}),
	}
}

func TestClientOverRealBus(t *testing.T) {
	addr := startBus(t)
	txnAddr, _ := startPeerServer(t, func(p *peerTxn) {
		p.onStart = func(p *peerTxn) { p.emit("Message", "upgrading"); p.emit("Finished", true, "") }
	})

	srv, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	osPath := dbus.ObjectPath("/org/projectatomic/rpmostree1/fedora")
	sys := &testSysroot{osPath: osPath, txnAddr: txnAddr}
	if err := srv.Export(sys, SysrootPath, SysrootInterface); err != nil {
		t.Fatal(err)
	}
	if err := srv.Export(testOS{sys}, osPath, OSInterface); err != nil {
		t.Fatal(err)
	}
	deps := []map[string]dbus.Variant{sampleDeployment(false, 1), sampleDeployment(true, 0)}
	if _, err := prop.Export(srv, SysrootPath, prop.Map{SysrootInterface: {
		"Booted":                {Value: osPath},
		"Path":                  {Value: "/"},
		"ActiveTransaction":     {Value: []any{"", "", ""}},
		"ActiveTransactionPath": {Value: ""},
		"AutomaticUpdatePolicy": {Value: "none"},
		"Deployments":           {Value: deps},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Export(srv, osPath, prop.Map{OSInterface: {
		"Name":              {Value: "fedora"},
		"DefaultDeployment": {Value: deps[0]},
		"CachedUpdate":      {Value: map[string]dbus.Variant{}},
	}}); err != nil {
		t.Fatal(err)
	}
	if reply, err := srv.RequestName(BusName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}

	ctx := context.Background()
	c, err := ConnectAddress(ctx, addr, "test-agent")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Busy() || st.Booted != osPath || st.AutomaticUpdatePolicy != "none" || len(st.Deployments) != 2 {
		t.Fatalf("unexpected status %+v", st)
	}
	if b := st.BootedDeployment(); b == nil || b.Serial != 0 || !reflect.DeepEqual(b.Packages, []string{"vim", "htop"}) {
		t.Fatalf("booted deployment: %+v", b)
	}
	o, err := c.OS(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if name, err := o.Name(ctx); err != nil || name != "fedora" {
		t.Fatalf("Name = %q, %v", name, err)
	}
	if d, err := o.DefaultDeployment(ctx); err != nil || d == nil || d.Serial != 1 {
		t.Fatalf("DefaultDeployment = %+v, %v", d, err)
	}
	if cu, err := o.CachedUpdate(ctx); err != nil || len(cu) != 0 {
		t.Fatalf("CachedUpdate = %v, %v", cu, err)
	}
	if rb, err := o.RollbackDeployment(ctx); err == nil || rb != nil {
		t.Fatalf("a property the daemon lacks must be an error, got %+v", rb)
	}
	txn, err := o.Upgrade(ctx, UpgradeOptions{Reboot: true, InitiatingCommandLine: "upgrade -r"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Event
	if err := txn.Run(ctx, func(e Event) { msgs = append(msgs, e) }); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != (Message{Text: "upgrading"}) {
		t.Fatalf("events %#v", msgs)
	}
	_, err = o.Deploy(ctx, "1.0", DeployOptions{})
	if err == nil || !strings.Contains(err.Error(), "cannot deploy 1.0") {
		t.Fatalf("daemon error not passed through: %v", err)
	}
	if err := c.ReloadConfig(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"RegisterClient:test-agent", "GetOS:",
		"Upgrade:allow-downgrade,cache-only,download-only,initiating-command-line,lock-finalization,reboot",
		"ReloadConfig", "UnregisterClient:test-agent",
	}
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if !reflect.DeepEqual(sys.calls, want) {
		t.Fatalf("calls:\n got %q\nwant %q", sys.calls, want)
	}
}

func TestDecodeDeploymentIsLenient(t *testing.T) {
	m := map[string]dbus.Variant{
		"id":            dbus.MakeVariant("x-1.0"),
		"serial":        dbus.MakeVariant(int32(3)),
		"timestamp":     dbus.MakeVariant(uint64(42)),
		"booted":        dbus.MakeVariant("yes"), // wrong type: ignored
		"pinned":        dbus.MakeVariant(true),
		"base-checksum": dbus.MakeVariant("b"),
		"base-removals": dbus.MakeVariant([]dbus.Variant{
			dbus.MakeVariant([]any{"foo-1:2.0-3.x86_64", "foo", uint64(1), "2.0", "3", "x86_64"}),
			dbus.MakeVariant("garbage"),
		}),
		"base-local-replacements": dbus.MakeVariant([][]any{{
			dbus.MakeVariant([]any{"bar-2-1.noarch", "bar", uint64(0), "2", "1", "noarch"}),
			dbus.MakeVariant([]any{"bar-1-1.noarch", "bar", uint64(0), "1", "1", "noarch"}),
		}}),
		"requested-packages": dbus.MakeVariant([]string{}),
	}
	d := DecodeDeployment(m)
	if d.ID != "x-1.0" || d.Serial != 3 || d.Timestamp != 42 || d.Booted || !d.Pinned || d.BaseChecksum != "b" {
		t.Fatalf("decoded %+v", d)
	}
	if len(d.BaseRemovals) != 1 || d.BaseRemovals[0].Name != "foo" || d.BaseRemovals[0].EVR() != "1:2.0-3" {
		t.Fatalf("base removals %+v", d.BaseRemovals)
	}
	if len(d.BaseLocalReplacements) != 1 || d.BaseLocalReplacements[0].Old.EVR() != "1-1" {
		t.Fatalf("replacements %+v", d.BaseLocalReplacements)
	}
	if d.RequestedPackages != nil {
		t.Fatalf("empty lists decode as nil, got %#v", d.RequestedPackages)
	}
	if len(d.Raw) != len(m) {
		t.Fatal("Raw must keep every key")
	}
}

func TestNormalizeRevision(t *testing.T) {
	sum := strings.Repeat("0123456789abcdef", 4)
	for in, want := range map[string]string{
		sum:                  sum,
		"revision=" + sum:    "revision=" + sum,
		"Version=1.2":        "Version=1.2",
		"1.2":                "version=1.2",
		"foo=bar":            "version=foo=bar",
		strings.ToUpper(sum): "version=" + strings.ToUpper(sum), // ostree checksums are lowercase
	} {
		if got := NormalizeRevision(in); got != want {
			t.Errorf("NormalizeRevision(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestToJSON(t *testing.T) {
	v := map[string]dbus.Variant{
		"s":     dbus.MakeVariant("x"),
		"t":     dbus.MakeVariant(uint64(18446744073709551615)),
		"ay":    dbus.MakeVariant([]byte{1, 2}),
		"o":     dbus.MakeVariant(dbus.ObjectPath("/a")),
		"av":    dbus.MakeVariant([]dbus.Variant{dbus.MakeVariant(int32(1)), dbus.MakeVariant("two")}),
		"tup":   dbus.MakeVariant([]any{"a", uint32(2)}),
		"dict":  dbus.MakeVariant(map[string]dbus.Variant{"k": dbus.MakeVariant(true)}),
		"a{us}": dbus.MakeVariant(map[uint32]string{7: "seven"}),
	}
	b, err := json.Marshal(ToJSON(v))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"av":[1,"two"],"ay":[1,2],"a{us}":{"7":"seven"},"dict":{"k":true},"o":"/a","s":"x","t":18446744073709551615,"tup":["a",2]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
