package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// The systemd units that run automatic updates. On a host where strata
// stands in for rpm-ostree, rpm-ostreed-automatic.{timer,service} are
// aliases of these.
const (
	AutomaticTimerUnit   = "strata-automatic.timer"
	AutomaticServiceUnit = "strata-automatic.service"
)

// AutomaticRun is the daemon's record of the last automatic update run
// (Sysroot property LastAutomaticUpdate, a strata extension).
type AutomaticRun struct {
	Start time.Time
	End   time.Time // zero while it runs
	// Mode is check or stage.
	Mode    string
	Success bool
	// Message says what the run did, or why it failed.
	Message string
}

// decodeAutomaticRun reads LastAutomaticUpdate; nil when nothing ran since
// boot (or the daemon is not strata).
func decodeAutomaticRun(p map[string]dbus.Variant) *AutomaticRun {
	v, ok := p["LastAutomaticUpdate"]
	if !ok {
		return nil
	}
	m, ok := v.Value().(map[string]dbus.Variant)
	if !ok || len(m) == 0 {
		return nil
	}
	r := &AutomaticRun{Mode: str(m, "mode"), Success: boolean(m, "success"), Message: str(m, "message")}
	if us := num(m, "start-usec"); us > 0 {
		r.Start = time.UnixMicro(int64(us))
	}
	if us := num(m, "end-usec"); us > 0 {
		r.End = time.UnixMicro(int64(us))
	}
	return r
}

// TimerState is systemd's view of the automatic update units, as rpm-ostree
// reads it for `status`.
type TimerState int

const (
	// TimerUnknown: systemd answered but did not say (or could not be
	// asked at all; see AutomaticTimer).
	TimerUnknown TimerState = iota
	TimerInactive
	ServiceFailed
	ServiceRunning
	// ServiceExited: the service is not running; LastRun says when its
	// last run ended (zero: none since boot).
	ServiceExited
)

// AutomaticTimer asks systemd (org.freedesktop.systemd1 on the client's
// bus) about the automatic update timer and service: the timer's
// ActiveState, the service's ActiveState and ExecMainExitTimestamp. It
// returns ErrNoSystemd when systemd is not on the bus (a container, a test
// bus), so the caller can fall back on the daemon's own record.
func (c *Client) AutomaticTimer(ctx context.Context) (state TimerState, lastRun time.Time, err error) {
	mgr := c.conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	unitPath := func(name string) (dbus.ObjectPath, error) {
		var p dbus.ObjectPath
		if err := mgr.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.LoadUnit", 0, name).Store(&p); err != nil {
			var derr dbus.Error
			if errors.As(err, &derr) && (derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || derr.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
				return "", ErrNoSystemd
			}
			return "", fmt.Errorf("asking systemd for %s: %w", name, err)
		}
		return p, nil
	}
	prop := func(path dbus.ObjectPath, iface, name string) (dbus.Variant, error) {
		var v dbus.Variant
		err := c.conn.Object("org.freedesktop.systemd1", path).CallWithContext(ctx, propertiesInterface+".Get", 0, iface, name).Store(&v)
		return v, err
	}
	timer, err := unitPath(AutomaticTimerUnit)
	if err != nil {
		return TimerUnknown, time.Time{}, err
	}
	v, err := prop(timer, "org.freedesktop.systemd1.Unit", "ActiveState")
	if err != nil {
		return TimerUnknown, time.Time{}, nil // as rpm-ostree: unknown, not an error
	}
	if s, _ := v.Value().(string); s == "inactive" {
		return TimerInactive, time.Time{}, nil
	}
	service, err := unitPath(AutomaticServiceUnit)
	if err != nil {
		return TimerUnknown, time.Time{}, err
	}
	if v, err := prop(service, "org.freedesktop.systemd1.Unit", "ActiveState"); err == nil {
		switch s, _ := v.Value().(string); s {
		case "failed":
			return ServiceFailed, time.Time{}, nil
		case "active", "activating":
			return ServiceRunning, time.Time{}, nil
		}
	}
	if v, err := prop(service, "org.freedesktop.systemd1.Service", "ExecMainExitTimestamp"); err == nil {
		if us, _ := v.Value().(uint64); us > 0 {
			lastRun = time.UnixMicro(int64(us))
		}
	}
	return ServiceExited, lastRun, nil
}

// ErrNoSystemd says systemd is not on the bus.
var ErrNoSystemd = errors.New("systemd is not on this bus")
