package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// This file holds a real peer-to-peer D-Bus server for tests: a unix socket,
// the server half of SASL EXTERNAL, and a godbus connection exporting a
// Transaction object whose behaviour each test scripts.

// peerTxn is the object exported at "/" on each accepted connection.
type peerTxn struct {
	conn    *dbus.Conn
	started bool // value Start returns
	title   string
	// onStart runs (in its own goroutine) after Start has replied.
	onStart func(p *peerTxn)
	// onCancel runs (in its own goroutine) when Cancel is called.
	onCancel func(p *peerTxn)
	cancels  chan struct{}
}

func (p *peerTxn) Start() (bool, *dbus.Error) {
	if p.onStart != nil {
		go func() {
			// Let the Start reply go out first, as a daemon does when it
			// begins work after answering.
			time.Sleep(20 * time.Millisecond)
			p.onStart(p)
		}()
	}
	return p.started, nil
}

func (p *peerTxn) Cancel() *dbus.Error {
	select {
	case p.cancels <- struct{}{}:
	default:
	}
	if p.onCancel != nil {
		go p.onCancel(p)
	}
	return nil
}

func (p *peerTxn) emit(member string, args ...any) {
	if err := p.conn.Emit("/", TransactionInterface+"."+member, args...); err != nil {
		panic(fmt.Sprintf("emit %s: %v", member, err))
	}
}

// peerProps serves org.freedesktop.DBus.Properties.Get for the transaction.
type peerProps struct{ p *peerTxn }

func (pp peerProps) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	if iface == TransactionInterface && name == "Title" {
		return dbus.MakeVariant(pp.p.title), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{name})
}

// startPeerServer listens on a fresh socket; each accepted connection gets a
// peerTxn configured by setup. It returns the transaction address.
func startPeerServer(t *testing.T, setup func(p *peerTxn)) (addr string, cancels chan struct{}) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "txn.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cancels = make(chan struct{}, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []*dbus.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			if err := serverHandshake(nc); err != nil {
				nc.Close()
				continue
			}
			p := &peerTxn{started: true, title: "test", cancels: cancels}
			setup(p)
			conn, err := serverConn(nc, func(conn *dbus.Conn) error {
				p.conn = conn
				if err := conn.Export(p, "/", TransactionInterface); err != nil {
					return err
				}
				return conn.Export(peerProps{p}, "/", "org.freedesktop.DBus.Properties")
			})
			if err != nil {
				nc.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	return "unix:path=" + sock, cancels
}

// serverHandshake is the server half of SASL EXTERNAL. It reads one byte at
// a time so that nothing after BEGIN is consumed.
func serverHandshake(c net.Conn) error {
	nul := make([]byte, 1)
	if _, err := io.ReadFull(c, nul); err != nil || nul[0] != 0 {
		return errors.New("missing nul byte")
	}
	for {
		line, err := readAuthLine(c)
		if err != nil {
			return err
		}
		var reply string
		switch {
		case line == "BEGIN":
			return nil
		case strings.HasPrefix(line, "AUTH EXTERNAL"):
			reply = "OK 0123456789abcdef0123456789abcdef"
		case line == "NEGOTIATE_UNIX_FD":
			reply = "ERROR" // our test connection carries no fds
		default:
			reply = "REJECTED EXTERNAL"
		}
		if _, err := io.WriteString(c, reply+"\r\n"); err != nil {
			return err
		}
	}
}

func readAuthLine(c net.Conn) (string, error) {
	var b strings.Builder
	one := make([]byte, 1)
	for {
		if _, err := io.ReadFull(c, one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		b.WriteByte(one[0])
	}
}

// serverConn turns an authenticated socket into a godbus connection. godbus
// only starts reading messages after its own (client-side) Auth, so we let it
// run Auth against scripted replies and then pass bytes through untouched.
// Objects are exported (by export) before any message is read, so the
// client can never call into an empty connection.
func serverConn(nc net.Conn, export func(*dbus.Conn) error) (*dbus.Conn, error) {
	shim := &authShim{Conn: nc}
	conn, err := dbus.NewConn(shim)
	if err != nil {
		return nil, err
	}
	if err := export(conn); err != nil {
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal("0")}); err != nil {
		return nil, err
	}
	return conn, nil
}

type authShim struct {
	net.Conn
	mu      sync.Mutex
	replies []byte
	through bool
}

func (s *authShim) Write(b []byte) (int, error) {
	s.mu.Lock()
	through := s.through
	if !through {
		line := strings.TrimSpace(strings.TrimLeft(string(b), "\x00"))
		switch {
		case line == "AUTH":
			s.replies = append(s.replies, "REJECTED EXTERNAL\r\n"...)
		case strings.HasPrefix(line, "AUTH "):
			s.replies = append(s.replies, "OK 0123456789abcdef0123456789abcdef\r\n"...)
		case line == "BEGIN":
			s.through = true
		}
	}
	s.mu.Unlock()
	if through {
		return s.Conn.Write(b)
	}
	return len(b), nil
}

func (s *authShim) Read(b []byte) (int, error) {
	s.mu.Lock()
	if len(s.replies) > 0 {
		n := copy(b, s.replies)
		s.replies = s.replies[n:]
		s.mu.Unlock()
		return n, nil
	}
	s.mu.Unlock()
	return s.Conn.Read(b)
}
