package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/transactions"
)

// sysrootObject serves org.projectatomic.rpmostree1.Sysroot.
type sysrootObject struct{ d *Daemon }

// RegisterClient records a client by its bus name (option "id" names it in logs
// and in InitiatingClientDescription).
func (s *sysrootObject) RegisterClient(sender dbus.Sender, options map[string]dbus.Variant) *dbus.Error {
	id, _ := options["id"].Value().(string)
	s.d.mu.Lock()
	s.d.clients[string(sender)] = id
	s.d.lastActivity = time.Now()
	s.d.mu.Unlock()
	s.d.log.WithFields(logrus.Fields{"client": sender, "id": id}).Debug("client registered")
	return nil
}

func (s *sysrootObject) UnregisterClient(sender dbus.Sender, options map[string]dbus.Variant) *dbus.Error {
	s.d.forgetClient(string(sender))
	return nil
}

// Reload re-reads the sysroot (e.g. after `ostree admin` changed it). Like
// rpm-ostree, it needs the reload-daemon action: anyone could otherwise keep
// the daemon busy re-reading the sysroot.
func (s *sysrootObject) Reload(sender dbus.Sender) *dbus.Error {
	if _, err := s.d.gate(sender, actionReload); err != nil {
		return err
	}
	return s.reload()
}

// ReloadConfig re-reads /etc/rpm-ostreed.conf and the sysroot.
func (s *sysrootObject) ReloadConfig(sender dbus.Sender) *dbus.Error {
	if _, err := s.d.gate(sender, actionReload); err != nil {
		return err
	}
	return s.reload()
}

// reload is Reload and ReloadConfig: rpm-ostree's `reload` re-reads both.
func (s *sysrootObject) reload() *dbus.Error {
	problems := s.d.loadHostConfig()
	if err := s.d.refresh(context.Background(), false); err != nil && err != transactions.ErrBusy {
		// (Busy: the running transaction refreshes everything when it ends.)
		return failed(err)
	}
	if len(problems) > 0 {
		// The rest of the file is in force; the caller must learn that
		// part of it is not.
		return failed(fmt.Errorf("%s; the defaults are used for those settings, fix the file and run `strata reload` again", strings.Join(problems, "; ")))
	}
	return nil
}

// GetOS returns the OS object of a stateroot; "" means the booted one, or the
// default deployment's on a host not booted from this sysroot.
func (s *sysrootObject) GetOS(name string) (dbus.ObjectPath, *dbus.Error) {
	// Answered from the last refresh, never by waiting for the sysroot: a
	// client must be able to find the OS (and be told "busy") while a
	// transaction holds it.
	s.d.mu.Lock()
	if name == "" {
		name = s.d.defaultOS
	}
	_, ok := s.d.osObjects[name]
	s.d.mu.Unlock()
	if name == "" {
		return "", dbus.NewError(errorPrefix+"Failed", []any{"the sysroot has no deployments; deploy one with `ostree admin deploy`"})
	}
	if !ok {
		return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"no stateroot named " + name})
	}
	return s.d.osPath(name), nil
}

// watchClients forgets registered clients that leave the bus, so a vanished
// client never holds anything.
func (d *Daemon) watchClients() {
	_ = d.conn.AddMatchSignal(dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"))
	ch := make(chan *dbus.Signal, 16)
	d.conn.Signal(ch)
	go func() {
		for sig := range ch {
			if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
				continue
			}
			name, _ := sig.Body[0].(string)
			newOwner, _ := sig.Body[2].(string)
			if newOwner == "" {
				d.forgetClient(name)
			}
		}
	}()
}

func (d *Daemon) forgetClient(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, known := d.clients[name]; known {
		d.lastActivity = time.Now()
	}
	delete(d.clients, name)
}

func (d *Daemon) clientDescription(sender string) string {
	d.mu.Lock()
	id := d.clients[sender]
	d.mu.Unlock()
	if id == "" {
		return sender
	}
	return id + " (" + sender + ")"
}

// failed turns an error into the D-Bus error clients show to the user.
func failed(err error) *dbus.Error {
	return dbus.NewError(errorPrefix+"Failed", []any{err.Error()})
}
