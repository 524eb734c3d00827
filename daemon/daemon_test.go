package daemon

import (
	"reflect"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/transactions"
)

func TestObjectName(t *testing.T) {
	for in, want := range map[string]string{
		"fedora":         "fedora",
		"fedora-coreos":  "fedora_coreos",
		"os.v2":          "os_v2",
		"already_under1": "already_under1",
	} {
		if got := objectName(in); got != want {
			t.Errorf("objectName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFlagsTitleListsTrueFlagsInOrder(t *testing.T) {
	got := flagsTitle(map[string]dbus.Variant{
		"reboot":          dbus.MakeVariant(false),
		"allow-downgrade": dbus.MakeVariant(true),
		"cache-only":      dbus.MakeVariant(true),
		"revision":        dbus.MakeVariant("x"),
	})
	if want := " --allow-downgrade --cache-only"; got != want {
		t.Errorf("flagsTitle = %q, want %q", got, want)
	}
}

func TestDescribeChanges(t *testing.T) {
	got := describeChanges(transactions.PackageChanges{
		Install: []string{"a", "b"}, Uninstall: []string{"c"}, OverrideRemove: []string{"d"}, OverrideResetAll: true,
	})
	if want := "install a b; uninstall c; override remove d; override reset --all"; got != want {
		t.Errorf("describeChanges = %q, want %q", got, want)
	}
}

func TestRpmDiffWireShape(t *testing.T) {
	old := &nevra.Package{Name: "a", Version: "1", Release: "1", Arch: "noarch"}
	nw := &nevra.Package{Name: "a", Epoch: 2, Version: "1", Release: "2", Arch: "noarch"}
	got := rpmDiff([]nevra.Change{
		{Name: "a", Type: nevra.Upgraded, Old: old, New: nw},
		{Name: "b", Type: nevra.Added, New: &nevra.Package{Name: "b", Version: "3", Release: "1", Arch: "x86_64"}},
	})
	if len(got) != 2 || got[0].Type != 2 || got[1].Type != 0 {
		t.Fatalf("rpmDiff = %+v", got)
	}
	if got[0].Details["PreviousPackage"].Value() != (pkgVariant{"a", "1-1", "noarch"}) ||
		got[0].Details["NewPackage"].Value() != (pkgVariant{"a", "2:1-2", "noarch"}) {
		t.Errorf("upgrade details = %v", got[0].Details)
	}
	if _, ok := got[1].Details["PreviousPackage"]; ok {
		t.Errorf("an added package has no previous package: %v", got[1].Details)
	}
	if sig := dbus.SignatureOf(got).String(); sig != "a(sua{sv})" {
		t.Errorf("wire signature %s, want a(sua{sv})", sig)
	}
}

func TestUnixAddress(t *testing.T) {
	for _, tt := range []struct {
		entry, network, addr string
		ok                   bool
	}{
		{"unix:path=/run/dbus/system_bus_socket", "unix", "/run/dbus/system_bus_socket", true},
		{"unix:abstract=/tmp/dbus-x,guid=abc", "unix", "@/tmp/dbus-x", true},
		{"unix:path=/tmp/with%20space", "unix", "/tmp/with space", true},
		{"tcp:host=localhost,port=1", "", "", false},
		{"unix:guid=abc", "", "", false},
	} {
		network, addr, err := unixAddress(tt.entry)
		if (err == nil) != tt.ok || network != tt.network || addr != tt.addr {
			t.Errorf("unixAddress(%q) = %q, %q, %v", tt.entry, network, addr, err)
		}
	}
}

func TestUpdateActions(t *testing.T) {
	v := dbus.MakeVariant
	none := map[string]dbus.Variant{}
	for _, c := range []struct {
		name               string
		modifiers, options map[string]dbus.Variant
		want               []string
	}{
		{"nothing at all still needs the broadest action", none, none, []string{actionInstall}},
		{"an unknown modifier too", map[string]dbus.Variant{"bogus": v(1)}, none, []string{actionInstall}},
		{"install", map[string]dbus.Variant{"install-packages": v([]string{"a"})}, none, []string{actionInstall}},
		{"even an empty list names the action", map[string]dbus.Variant{"uninstall-packages": v([]string{})}, none, []string{actionInstall}},
		{"rebase with packages", map[string]dbus.Variant{"set-refspec": v("r"), "install-packages": v([]string{"a"})}, none, []string{actionRebase, actionInstall}},
		{"deploy", map[string]dbus.Variant{"set-revision": v("abc")}, none, []string{actionDeploy}},
		{"local paths", map[string]dbus.Variant{"install-local-package-paths": v([]string{"/x.rpm"})}, none, []string{actionInstallLocal}},
		{"override replace local", map[string]dbus.Variant{"override-replace-local-package-paths": v([]string{"/x.rpm"})}, none, []string{actionOverride, actionInstallLocal}},
		{"options alone", none, map[string]dbus.Variant{"no-layering": v(true), "no-overrides": v(true)}, []string{actionInstall, actionOverride}},
		{"a false option is no request", none, map[string]dbus.Variant{"no-overrides": v(false)}, []string{actionInstall}},
	} {
		if got := updateActions(c.modifiers, c.options); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: updateActions = %q, want %q", c.name, got, c.want)
		}
	}
}
