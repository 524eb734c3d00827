package e2e

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// pendingElsewhere are members of rpm-ostree's API that may be missing
// while another branch brings them; once present they must match like
// everything else. Empty: the whole API is served.
var pendingElsewhere = []string{}

// strataExtensions are members strata serves beyond rpm-ostree's API.
var strataExtensions = []string{
	"org.projectatomic.rpmostree1.OS method ListDeploymentPackages",
	"org.projectatomic.rpmostree1.Sysroot property LastAutomaticUpdate",
}

// TestAPISurface diffs the live introspection of stratad, over the real bus
// and a real transaction's peer connection, against rpm-ostree's API as
// recorded in testdata/rpmostree1-api.txt: names, types, argument names and
// directions.
func TestAPISurface(t *testing.T) {
	e := newEnv(t, envOptions{})
	want := readAPIList(t, "testdata/rpmostree1-api.txt")

	conn, err := dbus.Connect(e.bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got []string
	for _, path := range []dbus.ObjectPath{sysrootPath, osPath, "/org/projectatomic/rpmostree1"} {
		node, err := introspect.Call(conn.Object(busName, path))
		if err != nil {
			t.Fatalf("introspecting %s: %v", path, err)
		}
		got = append(got, apiLines(node)...)
	}
	got = append(got, apiLines(introspectTransaction(t, conn))...)

	missing, extra := diffAPI(want, got)
	for _, m := range missing {
		if slices.Contains(pendingElsewhere, memberOf(m)) {
			t.Logf("not served yet (another branch brings it): %s", m)
			continue
		}
		t.Errorf("missing: %s", m)
	}
	for _, x := range extra {
		if slices.Contains(strataExtensions, memberOf(x)) {
			continue
		}
		t.Errorf("not in rpm-ostree's API (or with another signature): %s", x)
	}
}

// introspectTransaction starts a harmless transaction (Cleanup of the
// rpm-md cache), introspects "/" on its peer connection and leaves without
// Start, which drops it.
func introspectTransaction(t *testing.T, bus *dbus.Conn) *introspect.Node {
	t.Helper()
	var addr string
	if err := bus.Object(busName, osPath).Call("org.projectatomic.rpmostree1.OS.Cleanup", 0, []string{"repomd"}).Store(&addr); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	peer, err := dbus.Dial(addr)
	if err != nil {
		t.Fatalf("connecting to transaction %s: %v", addr, err)
	}
	defer peer.Close()
	if err := peer.Auth(nil); err != nil {
		t.Fatalf("authenticating to transaction: %v", err)
	}
	node, err := introspect.Call(peer.Object("", "/"))
	if err != nil {
		t.Fatalf("introspecting the transaction: %v", err)
	}
	return node
}

// apiLines renders the rpm-ostree and ObjectManager interfaces of a node in
// the testdata's format; the other standard interfaces are godbus's.
func apiLines(n *introspect.Node) []string {
	var out []string
	for _, iface := range n.Interfaces {
		if !strings.HasPrefix(iface.Name, "org.projectatomic.rpmostree1.") && iface.Name != "org.freedesktop.DBus.ObjectManager" {
			continue
		}
		for _, p := range iface.Properties {
			out = append(out, strings.Join([]string{iface.Name, "property", p.Name, p.Type}, " "))
		}
		for _, m := range iface.Methods {
			fields := []string{iface.Name, "method", m.Name}
			for _, dir := range []string{"in", "out"} {
				for _, a := range m.Args {
					d := a.Direction
					if d == "" {
						d = "in" // the introspection format's default for methods
					}
					if d == dir {
						fields = append(fields, dir+":"+a.Type+":"+a.Name)
					}
				}
			}
			out = append(out, strings.Join(fields, " "))
		}
		for _, s := range iface.Signals {
			fields := []string{iface.Name, "signal", s.Name}
			for _, a := range s.Args {
				fields = append(fields, a.Type+":"+a.Name)
			}
			out = append(out, strings.Join(fields, " "))
		}
	}
	return out
}

func readAPIList(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.Join(strings.Fields(sc.Text()), " ")
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffAPI returns the lines only in want and only in got.
func diffAPI(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

// memberOf is "<interface> <kind> <name>" of a line.
func memberOf(line string) string {
	f := strings.Fields(line)
	if len(f) < 3 {
		return line
	}
	return strings.Join(f[:3], " ")
}
