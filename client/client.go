package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// Wire names, as rpm-ostree defines them.
const (
	BusName          = "org.projectatomic.rpmostree1"
	SysrootPath      = dbus.ObjectPath("/org/projectatomic/rpmostree1/Sysroot")
	SysrootInterface = BusName + ".Sysroot"
	OSInterface      = BusName + ".OS"
	// OSExperimentalInterface is on the same object as OSInterface.
	OSExperimentalInterface = BusName + ".OSExperimental"
	TransactionInterface    = BusName + ".Transaction"
	propertiesInterface     = "org.freedesktop.DBus.Properties"
)

// unregisterTimeout bounds the UnregisterClient call made by Close, which has
// no context of its own: a daemon that has gone away must not hang Close.
const unregisterTimeout = 5 * time.Second

// ErrNoActiveTransaction is returned by CancelActive when the daemon runs no
// transaction.
var ErrNoActiveTransaction = errors.New("no active transaction")

// Client is a connection to the daemon's Sysroot object. It is safe for
// concurrent use (godbus connections are).
type Client struct {
	conn       *dbus.Conn
	sysroot    dbus.BusObject
	clientID   string
	registered bool // RegisterClient was called: Close unregisters
}

// Connect connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS overrides the
// default socket, as in libdbus) and registers as a client with id clientID
// (rpm-ostree's CLI uses "cli"). Registering also bus-activates the daemon.
func Connect(ctx context.Context, clientID string) (*Client, error) {
	// No dbus.WithContext: the connection must outlive ctx, e.g. to send
	// Cancel after the caller's context was cancelled by Ctrl-C.
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("connecting to the system bus: %w", err)
	}
	return newClient(ctx, conn, clientID)
}

// ConnectAddress is Connect for a bus at an explicit address (a private test
// bus, or a session bus). It authenticates and says Hello like Connect.
func ConnectAddress(ctx context.Context, address, clientID string) (*Client, error) {
	conn, err := dbus.Connect(address)
	if err != nil {
		return nil, fmt.Errorf("connecting to bus %s: %w", address, err)
	}
	return newClient(ctx, conn, clientID)
}

// ConnectReader connects to the system bus like Connect but registers no
// client: for commands that only read a few properties and leave (status).
// Registration keeps an idle daemon from exiting and names who watches a
// transaction; a reader needs neither, and skipping RegisterClient and
// UnregisterClient saves two of its round trips. The first read still
// bus-activates the daemon.
func ConnectReader(ctx context.Context) (*Client, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return nil, fmt.Errorf("connecting to the system bus: %w", err)
	}
	return &Client{conn: conn, sysroot: conn.Object(BusName, SysrootPath)}, nil
}

// ConnectReaderAddress is ConnectReader for a bus at an explicit address.
func ConnectReaderAddress(ctx context.Context, address string) (*Client, error) {
	conn, err := dbus.Connect(address)
	if err != nil {
		return nil, fmt.Errorf("connecting to bus %s: %w", address, err)
	}
	return &Client{conn: conn, sysroot: conn.Object(BusName, SysrootPath)}, nil
}

func newClient(ctx context.Context, conn *dbus.Conn, clientID string) (*Client, error) {
	c := &Client{conn: conn, sysroot: conn.Object(BusName, SysrootPath), clientID: clientID}
	opts := map[string]dbus.Variant{"id": dbus.MakeVariant(clientID)}
	if err := c.sysroot.CallWithContext(ctx, SysrootInterface+".RegisterClient", 0, opts).Err; err != nil {
		conn.Close()
		if err := noDaemon(err); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("registering client %q with %s: %w", clientID, BusName, err)
	}
	c.registered = true
	return c, nil
}

// noDaemon turns a call's "no one owns the name" error into advice; other
// errors give nil.
func noDaemon(err error) error {
	var dbusErr dbus.Error
	if errors.As(err, &dbusErr) && dbusErr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
		return fmt.Errorf("no daemon serves %s on the system bus: start stratad (e.g. `/usr/libexec/stratad --sysroot=/`) and try again", BusName)
	}
	return nil
}

// Close unregisters the client (if it registered) and closes the bus
// connection.
func (c *Client) Close() error {
	if !c.registered {
		if err := c.conn.Close(); err != nil {
			return fmt.Errorf("closing the bus connection: %w", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
	defer cancel()
	opts := map[string]dbus.Variant{"id": dbus.MakeVariant(c.clientID)}
	err := c.sysroot.CallWithContext(ctx, SysrootInterface+".UnregisterClient", 0, opts).Err
	if cerr := c.conn.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unregistering client %q: %w", c.clientID, err)
	}
	return nil
}

// Conn exposes the underlying bus connection for calls this package does not
// wrap yet. Do not Close it; use Client.Close.
func (c *Client) Conn() *dbus.Conn { return c.conn }

// Reload asks the daemon to reload its view of the sysroot (Sysroot.Reload).
func (c *Client) Reload(ctx context.Context) error {
	if err := c.sysroot.CallWithContext(ctx, SysrootInterface+".Reload", 0).Err; err != nil {
		return fmt.Errorf("reloading sysroot: %w", err)
	}
	return nil
}

// ReloadConfig asks the daemon to reload its configuration and sysroot
// (Sysroot.ReloadConfig); this is what `rpm-ostree reload` calls.
func (c *Client) ReloadConfig(ctx context.Context) error {
	if err := c.sysroot.CallWithContext(ctx, SysrootInterface+".ReloadConfig", 0).Err; err != nil {
		return fmt.Errorf("reloading configuration: %w", err)
	}
	return nil
}

// Status reads every Sysroot property in one GetAll call and decodes it.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	props, err := getAll(ctx, c.sysroot, SysrootInterface)
	if err != nil {
		if nd := noDaemon(err); nd != nil {
			return nil, nd
		}
		return nil, fmt.Errorf("reading sysroot status: %w", err)
	}
	return decodeStatus(props), nil
}

// ActiveTransaction returns the running transaction, or nil when idle.
func (c *Client) ActiveTransaction(ctx context.Context) (*Transaction, error) {
	var addr string
	if err := getProperty(ctx, c.sysroot, SysrootInterface, "ActiveTransactionPath", &addr); err != nil {
		return nil, fmt.Errorf("reading active transaction: %w", err)
	}
	if addr == "" {
		return nil, nil
	}
	return NewTransaction(addr), nil
}

// CancelActive cancels the running transaction and waits until the daemon
// no longer reports it as active. It returns the cancelled transaction's
// title, or ErrNoActiveTransaction. A transaction that finishes on its own
// while we cancel counts as gone: cancellation races with completion.
func (c *Client) CancelActive(ctx context.Context) (string, error) {
	t, err := c.ActiveTransaction(ctx)
	if err != nil {
		return "", err
	}
	if t == nil {
		return "", ErrNoActiveTransaction
	}
	title, _ := t.Title(ctx) // only informative; the socket may be refused to us
	if err := t.Cancel(ctx); err != nil {
		return title, err
	}
	return title, c.WaitTransactionGone(ctx, t.Address)
}

// WaitTransactionGone polls ActiveTransactionPath until it differs from addr.
func (c *Client) WaitTransactionGone(ctx context.Context, addr string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var cur string
		if err := getProperty(ctx, c.sysroot, SysrootInterface, "ActiveTransactionPath", &cur); err != nil {
			return fmt.Errorf("waiting for transaction %s to end: %w", addr, err)
		}
		if cur != addr {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for transaction %s to end: %w", addr, ctx.Err())
		case <-tick.C:
		}
	}
}

// OS returns the OS object for a stateroot; "" means the booted (or
// default) stateroot, as Sysroot.GetOS defines.
func (c *Client) OS(ctx context.Context, name string) (*OS, error) {
	var path dbus.ObjectPath
	if err := c.sysroot.CallWithContext(ctx, SysrootInterface+".GetOS", 0, name).Store(&path); err != nil {
		if name == "" {
			return nil, fmt.Errorf("looking up the booted OS: %w", err)
		}
		return nil, fmt.Errorf("looking up OS %q: %w", name, err)
	}
	return &OS{Path: path, obj: c.conn.Object(BusName, path), conn: c.conn}, nil
}

func getAll(ctx context.Context, obj caller, iface string) (map[string]dbus.Variant, error) {
	var props map[string]dbus.Variant
	if err := obj.CallWithContext(ctx, propertiesInterface+".GetAll", 0, iface).Store(&props); err != nil {
		return nil, err
	}
	return props, nil
}

// getProperty reads one property live and stores it into out.
func getProperty(ctx context.Context, obj caller, iface, name string, out any) error {
	var v dbus.Variant
	if err := obj.CallWithContext(ctx, propertiesInterface+".Get", 0, iface, name).Store(&v); err != nil {
		return fmt.Errorf("reading property %s.%s: %w", iface, name, err)
	}
	if err := dbus.Store([]any{v.Value()}, out); err != nil {
		return fmt.Errorf("decoding property %s.%s (%s): %w", iface, name, v.Signature(), err)
	}
	return nil
}
