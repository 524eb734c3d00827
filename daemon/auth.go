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
	actionReload   = actionPrefix + "reload-daemon"
)

// polkitAllowUserInteraction lets polkit ask an agent for a password.
const polkitAllowUserInteraction = 1

// caller is who a mutating method acts for, once gate has let them in.
type caller struct {
	sender dbus.Sender
	uid    uint32
	ok     bool // set by gate only: begin refuses a request without it
}

// gate is the first thing every mutating method does, before it looks at a
// single argument: an unauthorized caller learns nothing from validation
// errors ("nothing to change", "no such refspec") and causes nothing. The
// actions are what the method needs for these arguments (for
// UpdateDeployment they depend on the modifiers, see updateActions); a
// method that cannot tell yet asks for its broadest one.
func (d *Daemon) gate(sender dbus.Sender, actions ...string) (caller, *dbus.Error) {
	uid, err := d.authorize(string(sender), actions)
	if err != nil {
		return caller{}, dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{err.Error()})
	}
	return caller{sender: sender, uid: uid, ok: true}, nil
}

// authorize returns the caller's uid when it may perform every action: root
// always may (as with rpm-ostree); anyone else needs polkit's yes for each,
// and for at least one: an empty list authorizes nobody but root.
func (d *Daemon) authorize(sender string, actions []string) (uint32, error) {
	uid, err := d.callerUID(sender)
	if err != nil {
		return 0, err
	}
	if uid == 0 {
		return 0, nil
	}
	if len(actions) == 0 {
		return 0, fmt.Errorf("not authorized (uid %d): only root may do this; run the command as root", uid)
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
