package daemon

import (
	"github.com/godbus/dbus/v5"
)

// Members strata serves with rpm-ostree's signatures but cannot carry out
// yet. Each one authorizes first, exactly as a working one would (an
// unprivileged caller learns nothing, not even that it is unsupported),
// then answers org.freedesktop.DBus.Error.NotSupported saying what to do.

// osExperimental serves org.projectatomic.rpmostree1.OSExperimental on the
// same object path as the OS interface.
type osExperimental struct{ o *osObject }

// Moo answers as rpm-ostree's does (a cow), so its `ex moo`-style checks
// of a live daemon work: one emoji in UTF-8, else a drawing in ASCII.
func (e *osExperimental) Moo(utf8 bool) (string, *dbus.Error) {
	if utf8 {
		return "🐄\n", nil
	}
	return asciiCow, nil
}

// asciiCow is strata's own drawing.
const asciiCow = `
      ____
     /    \____
    | o  o     |~
     \ ww /-||-|
      ''  ||  ||   moo
`

// LiveFs would apply the pending deployment to the running system.
// Experimental members are for root only, as with no polkit action named.
func (e *osExperimental) LiveFs(sender dbus.Sender, options map[string]dbus.Variant) (string, *dbus.Error) {
	if _, derr := e.o.d.gate(sender); derr != nil {
		return "", derr
	}
	return "", notSupported("applying a deployment live (usroverlay/apply-live) is not supported by strata; reboot into the new deployment instead")
}

// DownloadPackages would fetch packages and hand them back as file
// descriptors, which this daemon's bus connection does not pass.
func (e *osExperimental) DownloadPackages(sender dbus.Sender, queries []string, source string) *dbus.Error {
	if _, derr := e.o.d.gate(sender); derr != nil {
		return derr
	}
	return notSupported("downloading packages through the daemon is not supported by strata yet (it would return file descriptors); fetch them with `dnf download`")
}
