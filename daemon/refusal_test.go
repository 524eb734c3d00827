package daemon

import (
	"errors"
	"testing"
)

func TestDaemonMethodNames(t *testing.T) {
	for fn, want := range map[string]string{
		"github.com/strata-os/strata/daemon.(*osObject).PkgChange":         "rpmostreed OS operation PkgChange",
		"github.com/strata-os/strata/daemon.(*sysrootObject).ReloadConfig": "rpmostreed Sysroot operation ReloadConfig",
		"github.com/strata-os/strata/daemon.(*osExperimental).LiveFs":      "rpmostreed OSExperimental operation LiveFs",
		"github.com/strata-os/strata/daemon.(*osObject).updateBase":        "", // not a D-Bus method
		"github.com/strata-os/strata/daemon.(*Daemon).gate":                "",
		"github.com/godbus/dbus/v5.(*Conn).handleCall":                     "",
	} {
		if got := daemonMethod(fn); got != want {
			t.Errorf("daemonMethod(%q) = %q, want %q", fn, got, want)
		}
	}
}

func TestRefusalWording(t *testing.T) {
	denied := errors.New("not authorized for x (uid 1)")
	if got, want := refusal("rpmostreed OS operation PkgChange", denied), "rpmostreed OS operation PkgChange not allowed for user: not authorized for x (uid 1)"; got != want {
		t.Errorf("refusal = %q, want %q", got, want)
	}
	unanswered := &unansweredError{"polkit is not running"}
	if got, want := refusal("rpmostreed OS operation PkgChange", unanswered), "Authorization error: polkit is not running"; got != want {
		t.Errorf("refusal = %q, want %q", got, want)
	}
	if got := refusal("", denied); got != denied.Error() {
		t.Errorf("refusal without a method = %q", got)
	}
}
