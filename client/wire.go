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
	if errors.As(err, &de) && fromDaemon(de) {
		return errorText(de), true
	}
	var dep *dbus.Error
	if errors.As(err, &dep) && dep != nil && fromDaemon(*dep) {
		return errorText(*dep), true
	}
	return "", false
}

// fromDaemon tells the daemon's error replies from the bus's own. The
// daemon's authorization refusals carry the bus's AccessDenied name (as
// rpm-ostreed's do) but rpm-ostreed's wording, which scripts match on.
func fromDaemon(e dbus.Error) bool {
	if !strings.HasPrefix(e.Name, busErrorPrefix) {
		return true
	}
	text := errorText(e)
	return e.Name == "org.freedesktop.DBus.Error.AccessDenied" &&
		(strings.HasPrefix(text, "Authorization error: ") || strings.HasPrefix(text, "rpmostreed "))
}

func errorText(e dbus.Error) string {
	if len(e.Body) > 0 {
		if s, ok := e.Body[0].(string); ok && s != "" {
			return s
		}
	}
	return e.Name
}
