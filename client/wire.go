package client

import (
	"errors"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Raw wire values, for callers that show what this package does not decode
// (e.g. `status --json` printing CachedUpdate as received). They are godbus's
// types under our names, so such callers need not import godbus.
type (
	// Variant is one D-Bus variant.
	Variant = dbus.Variant
	// Dict is an a{sv} dictionary.
	Dict = map[string]dbus.Variant
)

// busErrorPrefix names errors raised by the bus or the D-Bus library rather
// than by the daemon.
const busErrorPrefix = "org.freedesktop.DBus.Error."

// DaemonErrorText returns the daemon's own wording of err when err is an
// error reply from the daemon (not from the bus itself: no daemon, policy
// denial), so that a CLI can show it as rpm-ostree's does, without call-site
// context or the D-Bus error name.
func DaemonErrorText(err error) (string, bool) {
	var de dbus.Error
	if errors.As(err, &de) && !strings.HasPrefix(de.Name, busErrorPrefix) {
		return errorText(de), true
	}
	var dep *dbus.Error
	if errors.As(err, &dep) && dep != nil && !strings.HasPrefix(dep.Name, busErrorPrefix) {
		return errorText(*dep), true
	}
	return "", false
}

func errorText(e dbus.Error) string {
	if len(e.Body) > 0 {
		if s, ok := e.Body[0].(string); ok && s != "" {
			return s
		}
	}
	return e.Name
}
