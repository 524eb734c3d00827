// Package p2p owns the server side of peer-to-peer D-Bus connections on a
// unix socket: the socket itself, SASL EXTERNAL authentication checked
// against the kernel's peer credentials, and handing each authenticated
// connection to godbus. It knows nothing about which objects are exported on
// a connection or what they do; that belongs to the daemon.
//
// strata's transactions are served this way (as rpm-ostree's are): each
// transaction listens on its own socket and clients talk to it directly,
// without going through the bus daemon.
package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/sirupsen/logrus"
)

// maxPendingHandshakes bounds how many connections may be authenticating at
// once, so a flood of silent clients cannot grow goroutines without limit.
const maxPendingHandshakes = 16

// Peer is one authenticated peer-to-peer connection.
//
// Its Conn does not read messages until Start is called, so that objects can
// be exported before the peer's first call arrives: clients typically call a
// method the moment they connect. Send nothing on Conn before Start.
type Peer struct {
	// Conn has no bus behind it, so no names or match rules: signals emitted
	// on it go to this peer. It already answers org.freedesktop.DBus.Hello at
	// /org/freedesktop/DBus (see helloResponder); export nothing else there.
	Conn *dbus.Conn
	// UID is the peer's uid as reported by the kernel (SO_PEERCRED).
	UID uint32

	startOnce sync.Once
	startErr  error
}

// Start makes Conn begin reading and dispatching the peer's messages. Call it
// once the peer's objects are exported; later calls return the first result.
//
// godbus (v5.2.4) only implements the client side of authentication, and the
// goroutine that reads incoming messages is started only by Conn.Auth. The
// real handshake is already done (serverHandshake), so Conn's transport is an
// authShim that plays the server's part of godbus's client Auth locally with
// canned answers, never touching the socket, and then passes bytes straight
// through. godbus reads its auth answers through a bufio.Reader that it
// throws away afterwards; because the shim serves those reads only from its
// canned replies, that buffer can never swallow bytes of the real stream.
func (p *Peer) Start() error {
	p.startOnce.Do(func() {
		// The identity is irrelevant: the shim accepts any EXTERNAL attempt.
		if err := p.Conn.Auth([]dbus.Auth{dbus.AuthExternal("0")}); err != nil {
			p.Conn.Close()
			p.startErr = fmt.Errorf("starting D-Bus connection: %w", err)
		}
	})
	return p.startErr
}

// Listener accepts authenticated peer-to-peer D-Bus connections on a unix socket.
type Listener struct {
	ln    *net.UnixListener
	path  string
	guid  string
	allow func(uid uint32) bool
	log   *logrus.Entry

	peers     chan *Peer
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	serveDone chan struct{} // closed when the accept loop has returned
	serveErr  error         // why the accept loop returned; read after serveDone
	nextPeer  atomic.Uint64 // numbers the synthetic unique names given by Hello
	wg        sync.WaitGroup
}

// Listen creates a unix socket at path, which must not exist yet, with mode
// 0600, and starts accepting connections. (The socket is bound under a
// temporary name 10 bytes longer than path first, so path must be at least
// that much shorter than the 107-byte limit of unix socket paths.) Widening the mode or changing the
// owner is the caller's decision. Only peers whose kernel uid passes allow
// are authenticated; a nil allow admits every uid.
func Listen(path string, allow func(uid uint32) bool) (*Listener, error) {
	guid, err := newGUID()
	if err != nil {
		return nil, err
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		ln:        ln,
		path:      path,
		guid:      guid,
		allow:     allow,
		log:       logrus.WithField("socket", path),
		peers:     make(chan *Peer),
		closing:   make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	go l.serve()
	return l, nil
}

// listenPrivate binds the socket under a temporary name, restricts its mode,
// and only then links it to path, so nobody can connect through a window in
// which the socket has the umask's mode. link(2) also refuses to replace an
// existing file, unlike rename(2).
func listenPrivate(path string) (*net.UnixListener, error) {
	suffix, err := newGUID()
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+suffix[:8])
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// We unlink path ourselves in Close; the listener only knows tmp.
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fail(err)
	}
	if err := os.Remove(tmp); err != nil {
		os.Remove(path)
		return fail(err)
	}
	return ln, nil
}

// newGUID returns 16 random bytes in hex, the form of a D-Bus server GUID.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating server GUID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Address returns the D-Bus address clients connect to.
func (l *Listener) Address() string {
	return "unix:path=" + dbus.EscapeBusAddressValue(l.path)
}

// Accept returns the next authenticated peer. Connections that fail the
// handshake (bad protocol, wrong identity, uid refused by allow, timeout) are
// dropped inside the listener and never returned. The peer's messages are
// not read until its Start is called: export its objects first.
func (l *Listener) Accept(ctx context.Context) (*Peer, error) {
	select {
	case p := <-l.peers:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.closing:
		return nil, fmt.Errorf("accepting on %s: %w", l.path, net.ErrClosed)
	case <-l.serveDone:
		return nil, fmt.Errorf("accepting on %s: %w", l.path, l.serveErr)
	}
}

// Close stops accepting, drops connections still authenticating or not yet
// taken by Accept, and removes the socket file. Peers already returned by
// Accept stay open; closing them is their owner's job.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closing)
		err = l.ln.Close()
		if rmErr := os.Remove(l.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
			err = rmErr
		}
		<-l.serveDone
		l.wg.Wait()
		if err != nil {
			err = fmt.Errorf("closing %s: %w", l.path, err)
		}
	})
	return err
}

// serve accepts connections and authenticates each in its own goroutine, so
// one slow or silent client cannot hold up the others.
func (l *Listener) serve() {
	defer close(l.serveDone)
	sem := make(chan struct{}, maxPendingHandshakes)
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			select {
			case <-l.closing:
				l.serveErr = net.ErrClosed
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends: back off briefly instead of spinning,
			// as net/http does.
			if isTemporary(err) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			l.serveErr = err
			return
		}
		select {
		case sem <- struct{}{}:
		case <-l.closing:
			c.Close()
			l.serveErr = net.ErrClosed
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-sem }()
			l.handle(c)
		}()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// handle authenticates one connection and offers it to Accept.
func (l *Listener) handle(c *net.UnixConn) {
	// Interrupt the handshake if Close is called meanwhile, so Close does
	// not wait for a silent client's handshake deadline.
	finished := make(chan struct{})
	go func() {
		select {
		case <-l.closing:
			c.SetDeadline(time.Now())
		case <-finished:
		}
	}()
	uid, err := serverHandshake(c, l.guid, l.allow, handshakeTimeout)
	close(finished)
	if err != nil {
		l.log.WithError(err).Debug("dropping peer that failed D-Bus authentication")
		c.Close()
		return
	}
	name := fmt.Sprintf(":1.%d", l.nextPeer.Add(1))
	conn, err := newConn(c, l.guid, name)
	if err != nil {
		l.log.WithError(err).Warn("setting up D-Bus connection for authenticated peer")
		c.Close()
		return
	}
	select {
	case l.peers <- &Peer{Conn: conn, UID: uid}:
	case <-l.closing:
		conn.Close()
	}
}

// newConn wraps an authenticated socket in a godbus Conn whose reader is not
// running yet (see Peer.Start).
func newConn(c net.Conn, guid, uniqueName string) (*dbus.Conn, error) {
	conn, err := dbus.NewConn(&authShim{conn: c, guid: guid})
	if err != nil {
		return nil, fmt.Errorf("creating D-Bus connection: %w", err)
	}
	if err := conn.Export(helloResponder{uniqueName}, busPath, busInterface); err != nil {
		conn.Close()
		return nil, fmt.Errorf("exporting Hello responder: %w", err)
	}
	return conn, nil
}

const (
	busPath      = dbus.ObjectPath("/org/freedesktop/DBus")
	busInterface = "org.freedesktop.DBus"
)

// helloResponder answers org.freedesktop.DBus.Hello with a made-up unique
// name. Hello has no meaning without a bus, but sd-bus clients (busctl
// --address=…) send it on every connection and give up if it fails, so
// pretending to be a bus for this one call keeps them working. GDBus and
// godbus clients do not send it on peer-to-peer connections.
type helloResponder struct{ name string }

func (h helloResponder) Hello() (string, *dbus.Error) { return h.name, nil }

// authShim is the io.ReadWriteCloser given to godbus. Until godbus writes
// BEGIN it is a fake SASL server (see Peer.Start); afterwards it is the socket.
type authShim struct {
	conn net.Conn
	guid string
	live atomic.Bool // set once godbus has sent BEGIN

	// Fake phase only; godbus's Auth runs in a single goroutine.
	out []byte // canned server lines godbus has yet to read
	in  []byte // godbus's output not yet ended by "\r\n"
	nul bool   // the leading NUL byte has been seen
}

func (s *authShim) Read(p []byte) (int, error) {
	if s.live.Load() {
		return s.conn.Read(p)
	}
	if len(s.out) == 0 {
		// godbus only reads after sending a command; reading with nothing
		// queued means our model of its Auth is wrong. Fail loudly rather
		// than block or touch the socket.
		return 0, errors.New("p2p: unexpected read during local auth")
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

func (s *authShim) Write(p []byte) (int, error) {
	if s.live.Load() {
		return s.conn.Write(p)
	}
	total := len(p)
	if !s.nul && len(p) > 0 {
		if p[0] != 0 {
			return 0, errors.New("p2p: godbus auth did not start with NUL")
		}
		s.nul = true
		p = p[1:]
	}
	s.in = append(s.in, p...)
	for {
		line, rest, ok := bytes.Cut(s.in, []byte("\r\n"))
		if !ok {
			return total, nil
		}
		s.in = rest
		switch {
		case string(line) == "AUTH":
			s.out = append(s.out, "REJECTED EXTERNAL\r\n"...)
		case bytes.HasPrefix(line, []byte("AUTH EXTERNAL")):
			s.out = append(s.out, "OK "+s.guid+"\r\n"...)
		case string(line) == "BEGIN":
			if len(s.in) > 0 {
				// Not something godbus does, but if it wrote past BEGIN those
				// bytes are real traffic.
				if _, err := s.conn.Write(s.in); err != nil {
					return 0, err
				}
				s.in = nil
			}
			s.live.Store(true)
			return total, nil
		default:
			return 0, fmt.Errorf("p2p: unexpected auth line %q from godbus", line)
		}
	}
}

func (s *authShim) Close() error { return s.conn.Close() }

var _ io.ReadWriteCloser = (*authShim)(nil)
