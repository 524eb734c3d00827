package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

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

// polkitd's bus name, object and interface.
const (
	polkitName          = "org.freedesktop.PolicyKit1"
	polkitAuthorityPath = "/org/freedesktop/PolicyKit1/Authority"
	polkitAuthority     = "org.freedesktop.PolicyKit1.Authority"
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
		return caller{}, dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{refusal(gatedMethod(), err)})
	}
	return caller{sender: sender, uid: uid, ok: true}, nil
}

// refusal words an authorization failure as rpm-ostreed does, because
// scripts (and rpm-ostree's own tests) match on it: "rpmostreed OS operation
// PkgChange not allowed for user" when the answer is no, "Authorization
// error: …" when no answer could be had; strata's explanation follows.
func refusal(method string, err error) string {
	var unanswered *unansweredError
	if errors.As(err, &unanswered) {
		return "Authorization error: " + err.Error()
	}
	if method == "" {
		return err.Error()
	}
	return method + " not allowed for user: " + err.Error()
}

// unansweredError is a refusal because polkit gave no answer (not running,
// failing, timed out), as opposed to polkit saying no.
type unansweredError struct{ msg string }

func (e *unansweredError) Error() string { return e.msg }

// gatedMethod names the exported D-Bus method that called gate, as
// "rpmostreed OS operation PkgChange" (rpm-ostreed's wording), from the
// call stack: naming it here keeps the method name out of the 20-odd call
// sites. The outermost daemon method is the one the bus called (PkgChange
// calls UpdateDeployment, which calls gate).
func gatedMethod() string {
	pcs := make([]uintptr, 16)
	n := runtime.Callers(3, pcs) // skip Callers, gatedMethod, gate
	frames := runtime.CallersFrames(pcs[:n])
	named := ""
	for {
		f, more := frames.Next()
		if m := daemonMethod(f.Function); m != "" {
			named = m
		} else if named != "" || !more {
			return named
		}
		if !more {
			return named
		}
	}
}

// daemonMethod turns a function name such as
// "github.com/strata-os/strata/daemon.(*osObject).PkgChange" into rpm-ostreed's
// "rpmostreed OS operation PkgChange", or "" for anything but a D-Bus method.
func daemonMethod(fn string) string {
	ifaces := map[string]string{"(*osObject)": "OS", "(*sysrootObject)": "Sysroot", "(*osExperimental)": "OSExperimental"}
	for recv, iface := range ifaces {
		_, method, ok := strings.Cut(fn, "/daemon."+recv+".")
		if ok && method != "" && method[0] >= 'A' && method[0] <= 'Z' {
			return "rpmostreed " + iface + " operation " + method
		}
	}
	return ""
}

// authorize returns the caller's uid when it may perform every action: root
// always may (as with rpm-ostree); anyone else needs polkit's yes for each,
// and for at least one: an empty list authorizes nobody but root. Every
// failure to get an answer (polkitd not running, an agent that never
// answers) is a refusal.
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
	for _, action := range actions {
		if err := d.checkAuthorization(sender, uid, action); err != nil {
			return 0, err
		}
	}
	return uid, nil
}

// DefaultPolkitTimeout bounds one polkit question. With user interaction
// allowed, polkitd waits for the caller's authentication agent, and an agent
// may never answer (a prompt nobody sees, a hung agent); the method call, and
// the client behind it, would wait forever. Five minutes leave a person time
// to type a password.
const DefaultPolkitTimeout = 5 * time.Minute

// polkitSubject is polkit's (sa{sv}) subject.
type polkitSubject struct {
	Kind    string
	Details map[string]dbus.Variant
}

// checkAuthorization asks polkitd whether the bus connection sender (of
// user uid) may perform action, allowing polkit to ask the caller's agent
// for a password, and gives up after the configured timeout.
func (d *Daemon) checkAuthorization(sender string, uid uint32, action string) error {
	timeout := d.cfg.PolkitTimeout
	if timeout <= 0 {
		timeout = DefaultPolkitTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	authority := d.conn.Object(polkitName, polkitAuthorityPath)
	// The subject is the bus name, not a pid: polkitd resolves it itself,
	// so a caller cannot race us by exiting and recycling its pid.
	subject := polkitSubject{"system-bus-name", map[string]dbus.Variant{"name": dbus.MakeVariant(sender)}}
	// A cancellation id lets us withdraw the question when we stop waiting,
	// so polkitd also stops waiting on the agent. It only has to be unique
	// among this daemon's pending questions.
	cancelID := fmt.Sprintf("stratad-%s-%s-%d", sender, action, time.Now().UnixNano())
	var result struct {
		IsAuthorized, IsChallenge bool
		Details                   map[string]string
	}
	err := authority.CallWithContext(ctx, polkitAuthority+".CheckAuthorization", 0,
		subject, action, map[string]string{}, uint32(polkitAllowUserInteraction), cancelID).Store(&result)
	switch {
	case err != nil && ctx.Err() != nil:
		// Withdraw the question; polkitd answers the cancellation at once.
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if cerr := authority.CallWithContext(cctx, polkitAuthority+".CancelCheckAuthorization", 0, cancelID).Err; cerr != nil {
			d.log.WithError(cerr).WithField("action", action).Warn("withdrawing a timed-out polkit question")
		}
		return &unansweredError{fmt.Sprintf("not authorized for %s (uid %d): no answer from polkit within %s (is an authentication agent waiting for a password?); run the command as root, or authenticate sooner", action, uid, timeout)}
	case err != nil && isNoService(err):
		return &unansweredError{fmt.Sprintf("not authorized for %s (uid %d): polkit is not running (%s has no owner), so only root may do this; start polkit (systemctl start polkit) or run the command as root", action, uid, polkitName)}
	case err != nil:
		return &unansweredError{fmt.Sprintf("not authorized for %s (uid %d): asking polkit failed: %v; run the command as root or check that polkit runs", action, uid, err)}
	case !result.IsAuthorized && result.IsChallenge:
		return fmt.Errorf("not authorized for %s (uid %d): authentication is required and no polkit agent provided it; run the command as root, or from a session with a polkit agent (pkttyagent)", action, uid)
	case !result.IsAuthorized:
		return fmt.Errorf("not authorized for %s (uid %d); run the command as root or ask an administrator", action, uid)
	}
	return nil
}

// isNoService tells whether a call failed because nobody owns the name.
func isNoService(err error) bool {
	var name string
	var derr dbus.Error
	var pderr *dbus.Error
	switch {
	case errors.As(err, &derr):
		name = derr.Name
	case errors.As(err, &pderr):
		name = pderr.Name
	}
	return name == "org.freedesktop.DBus.Error.ServiceUnknown" || name == "org.freedesktop.DBus.Error.NameHasNoOwner"
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
