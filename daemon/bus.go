package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/godbus/dbus/v5"
)

const defaultSystemBus = "unix:path=/var/run/dbus/system_bus_socket"

// connectSystemBus connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS when
// set) WITHOUT unix fd passing. godbus 5.2.4 panics in its reader goroutine
// when a message carries an array of fds ("ah"), which any local user could
// send to take the daemon down; a connection that never negotiates fd passing
// makes the bus refuse such messages instead. Local packages therefore
// arrive by path (see receivePackages).
func connectSystemBus() (*dbus.Conn, error) {
	address := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	if starter := os.Getenv("DBUS_STARTER_ADDRESS"); starter != "" && os.Getenv("DBUS_STARTER_BUS_TYPE") == "system" {
		// Started by D-Bus activation: serve the bus that started us.
		address = starter
	}
	if address == "" {
		address = defaultSystemBus
	}
	var lastErr error
	for _, entry := range strings.Split(address, ";") {
		network, addr, err := unixAddress(entry)
		if err != nil {
			lastErr = err
			continue
		}
		sock, err := net.Dial(network, addr)
		if err != nil {
			lastErr = err
			continue
		}
		conn, err := dbus.NewConn(sock) // a generic transport: no fd passing
		if err != nil {
			sock.Close()
			return nil, err
		}
		if err := conn.Auth(nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("authenticating to %s: %w", entry, err)
		}
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("saying hello to %s: %w", entry, err)
		}
		return conn, nil
	}
	return nil, fmt.Errorf("connecting to system bus %q: %w", address, lastErr)
}

// unixAddress understands the unix transports of a D-Bus address entry.
func unixAddress(entry string) (network, addr string, err error) {
	transport, params, ok := strings.Cut(entry, ":")
	if !ok || transport != "unix" {
		return "", "", fmt.Errorf("unsupported bus address %q (only unix: is supported)", entry)
	}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := dbus.UnescapeBusAddressValue(v)
		if err != nil {
			return "", "", err
		}
		switch k {
		case "path":
			return "unix", v, nil
		case "abstract":
			return "unix", "@" + v, nil
		}
	}
	return "", "", fmt.Errorf("bus address %q names no unix path", entry)
}
