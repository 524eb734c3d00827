package daemon

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// polkit action ids, as rpm-ostree's policy file names them, so that site
// policies written for rpm-ostree apply to strata too.
const (
	actionPrefix   = "org.projectatomic.rpmostree1."
	actionUpgrade  = actionPrefix + "upgrade"
	actionRebase   = actionPrefix + "rebase"
	actionDeploy   = actionPrefix + "deploy"
	actionRollback = actionPrefix + "rollback"
	actionCleanup  = actionPrefix + "cleanup"
)

// polkitAllowUserInteraction lets polkit ask an agent for a password.
const polkitAllowUserInteraction = 1

// authorize returns the caller's uid when it may perform every action: root
// always may (as with rpm-ostree); anyone else needs polkit's yes for each.
func (d *Daemon) authorize(sender string, actions []string) (uint32, error) {
	uid, err := d.callerUID(sender)
	if err != nil {
		return 0, err
	}
	if uid == 0 {
		return 0, nil
	}
	authority := d.conn.Object("org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority")
	subject := struct {
		Kind    string
		Details map[string]dbus.Variant
	}{"system-bus-name", map[string]dbus.Variant{"name": dbus.MakeVariant(sender)}}
	for _, action := range actions {
		var result struct {
			IsAuthorized, IsChallenge bool
			Details                   map[string]string
		}
		err := authority.Call("org.freedesktop.PolicyKit1.Authority.CheckAuthorization", 0,
			subject, action, map[string]string{}, uint32(polkitAllowUserInteraction), "").Store(&result)
		if err != nil {
			return 0, fmt.Errorf("asking polkit about %s: %w; run the command as root or start polkitd", action, err)
		}
		if !result.IsAuthorized {
			return 0, fmt.Errorf("not authorized for %s (uid %d); run the command as root or ask an administrator", action, uid)
		}
	}
	return uid, nil
}

// callerUID asks the bus which user a connection belongs to.
func (d *Daemon) callerUID(sender string) (uint32, error) {
	var uid uint32
	err := d.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, sender).Store(&uid)
	if err != nil {
		return 0, fmt.Errorf("identifying caller %s: %w", sender, err)
	}
	return uid, nil
}
