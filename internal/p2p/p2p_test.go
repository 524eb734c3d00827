package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

const testIface = "com.example.Test"

// echoObject is the tiny object every accepted peer gets exported at "/".
type echoObject struct{}

func (echoObject) Echo(s string) (string, *dbus.Error) { return s, nil }

// testIntrospection is built afresh for each use: introspect.NewIntrospectable
// appends the Introspectable and Peer interfaces to the node it is given (and
// duplicates one of them if the node already lists either), so a node must be
// passed without them and never shared.
func testIntrospection() *introspect.Node {
	return &introspect.Node{Interfaces: []introspect.Interface{
		{
			Name: testIface,
			Methods: []introspect.Method{{
				Name: "Echo",
				Args: []introspect.Arg{
					{Name: "in", Type: "s", Direction: "in"},
					{Name: "out", Type: "s", Direction: "out"},
				},
			}},
			Signals: []introspect.Signal{{
				Name: "Changed",
				Args: []introspect.Arg{{Name: "what", Type: "s"}},
			}},
		},
	}}
}

// testServer is a Listener whose accepted peers serve echoObject; accepted
// peers are also sent on peers so tests can see (or not see) them.
type testServer struct {
	l     *Listener
	peers chan *Peer
}

func startServer(t *testing.T, allow func(uint32) bool) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "txn.sock")
	l, err := Listen(path, allow)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	s := &testServer{l: l, peers: make(chan *Peer, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := l.Accept(ctx)
			if err != nil {
				return
			}
			if err := p.Conn.Export(echoObject{}, "/", testIface); err != nil {
				t.Errorf("Export: %v", err)
			}
			if err := p.Conn.Export(introspect.NewIntrospectable(testIntrospection()), "/", "org.freedesktop.DBus.Introspectable"); err != nil {
				t.Errorf("Export introspectable: %v", err)
			}
			if err := p.Start(); err != nil {
				t.Errorf("Start: %v", err)
			}
			s.peers <- p
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("socket %s still exists after Close (stat: %v)", path, err)
		}
		close(s.peers)
		for p := range s.peers {
			p.Conn.Close()
		}
	})
	return s
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func TestBusctlCall(t *testing.T) {
	s := startServer(t, nil)
	out, err := run(t, "busctl", "--address="+s.l.Address(), "call", "com.example.Dest", "/", testIface, "Echo", "s", "hi")
	if err != nil {
		t.Fatalf("busctl call: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) != `s "hi"` {
		t.Errorf("busctl call output = %q, want %q", out, `s "hi"`)
	}
}

func TestBusctlIntrospect(t *testing.T) {
	s := startServer(t, nil)
	out, err := run(t, "busctl", "--address="+s.l.Address(), "introspect", "com.example.Dest", "/")
	if err != nil {
		t.Fatalf("busctl introspect: %v\n%s", err, out)
	}
	for _, want := range []string{testIface, ".Echo", "method", ".Changed", "signal"} {
		if !strings.Contains(out, want) {
			t.Errorf("busctl introspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestGdbusCall(t *testing.T) {
	s := startServer(t, nil)
	out, err := run(t, "gdbus", "call", "--address", s.l.Address(), "--dest", "com.example.Dest", "--object-path", "/", "--method", testIface+".Echo", "hi")
	if err != nil {
		t.Fatalf("gdbus call: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) != "('hi',)" {
		t.Errorf("gdbus call output = %q, want %q", out, "('hi',)")
	}
	out, err = run(t, "gdbus", "introspect", "--address", s.l.Address(), "--dest", "com.example.Dest", "--object-path", "/")
	if err != nil {
		t.Fatalf("gdbus introspect: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Echo(") {
		t.Errorf("gdbus introspect output lacks Echo:\n%s", out)
	}
}

func TestGodbusClientCallAndSignal(t *testing.T) {
	s := startServer(t, nil)
	client, err := dbus.Dial(s.l.Address())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	if err := client.Auth(nil); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	signals := make(chan *dbus.Signal, 1)
	client.Signal(signals)

	var got string
	if err := client.Object("", "/").Call(testIface+".Echo", 0, "hello").Store(&got); err != nil {
		t.Fatalf("Echo: %v", err)
	}
	if got != "hello" {
		t.Errorf("Echo = %q, want %q", got, "hello")
	}

	var peer *Peer
	select {
	case peer = <-s.peers:
	case <-time.After(5 * time.Second):
		t.Fatal("no peer accepted")
	}
	if peer.UID != uint32(os.Getuid()) {
		t.Errorf("peer UID = %d, want %d", peer.UID, os.Getuid())
	}
	if err := peer.Conn.Emit("/", testIface+".Changed", "deployments"); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	select {
	case sig := <-signals:
		if sig.Name != testIface+".Changed" || len(sig.Body) != 1 || sig.Body[0] != "deployments" {
			t.Errorf("signal = %s %v, want %s [deployments]", sig.Name, sig.Body, testIface+".Changed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("signal not received")
	}

	// The peer's connection ends when the client goes away.
	client.Close()
	select {
	case <-peer.Conn.Context().Done():
	case <-time.After(5 * time.Second):
		t.Error("server connection still open after client closed")
	}
}

func TestRefusedUIDIsRejected(t *testing.T) {
	var asked []uint32
	var mu sync.Mutex
	s := startServer(t, func(uid uint32) bool {
		mu.Lock()
		asked = append(asked, uid)
		mu.Unlock()
		return false
	})
	out, err := run(t, "busctl", "--address="+s.l.Address(), "call", "com.example.Dest", "/", testIface, "Echo", "s", "hi")
	if err == nil {
		t.Fatalf("busctl call succeeded for a refused uid:\n%s", out)
	}
	client, err := dbus.Dial(s.l.Address())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	if err := client.Auth(nil); err == nil {
		t.Error("godbus Auth succeeded for a refused uid")
	}
	select {
	case p := <-s.peers:
		t.Errorf("Accept returned refused peer uid %d", p.UID)
	case <-time.After(300 * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 || asked[0] != uint32(os.Getuid()) {
		t.Errorf("allow was asked about %v, want our uid %d", asked, os.Getuid())
	}
}

// TestGarbageDoesNotBlockListener connects clients that speak junk, or
// nothing at all, and checks that real clients are still served meanwhile
// and that Close does not wait for the silent ones.
func TestGarbageDoesNotBlockListener(t *testing.T) {
	s := startServer(t, nil)
	path := strings.TrimPrefix(s.l.Address(), "unix:path=")
	junk := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),           // no NUL
		append([]byte{0}, bytes.Repeat([]byte("A"), 4096)...), // endless line
		[]byte("\x00BEGIN\r\n"),                               // BEGIN before auth
		[]byte("\x00AUTH EXTERNAL zz\r\nBEGIN\r\n"),
		append([]byte{0}, bytes.Repeat([]byte("FOO\r\n"), 100)...), // too many lines
		{0}, // then silence
	}
	var conns []net.Conn
	for _, j := range junk {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		if _, err := c.Write(j); err != nil {
			t.Fatalf("write junk: %v", err)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	silent, err := net.Dial("unix", path) // connects, never writes
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer silent.Close()

	out, err := run(t, "busctl", "--address="+s.l.Address(), "call", "com.example.Dest", "/", testIface, "Echo", "s", "still here")
	if err != nil {
		t.Fatalf("busctl call while junk clients are connected: %v\n%s", err, out)
	}
	// Junk connections are closed by the server (EOF, or a reset when it
	// closed with our junk unread), apart from the silent ones which are
	// still within the handshake deadline.
	for i, c := range conns[:len(conns)-1] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("junk client %d: server did not close the connection", i)
		}
	}
	start := time.Now()
	if err := s.l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with silent clients connected", d)
	}
}

// TestNoOverRead sends the SASL conversation and a first message in a single
// write, as a pipelining client may, and checks that the message still
// reaches godbus intact.
func TestNoOverRead(t *testing.T) {
	s := startServer(t, nil)
	path := strings.TrimPrefix(s.l.Address(), "unix:path=")
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	uidHex := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
	var buf bytes.Buffer
	buf.WriteString("\x00AUTH EXTERNAL " + uidHex + "\r\nBEGIN\r\n")
	buf.Write(pingMessage(t))
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") || len(strings.TrimSpace(line)) != len("OK ")+32 {
		t.Fatalf("auth reply = %q, %v; want OK and a 32-character GUID", line, err)
	}
	reply, err := dbus.DecodeMessage(r)
	if err != nil {
		t.Fatalf("decoding reply to pipelined Ping: %v", err)
	}
	if reply.Type != dbus.TypeMethodReply || reply.Headers[dbus.FieldReplySerial].Value() != uint32(1) {
		t.Errorf("reply to Ping = %v, want a method return for serial 1", reply)
	}
}

// pingMessage is a little-endian org.freedesktop.DBus.Peer.Ping call to "/"
// with serial 1, built by hand because godbus cannot set a serial on a
// message it does not send itself.
func pingMessage(t *testing.T) []byte {
	t.Helper()
	var fields bytes.Buffer
	field := func(code byte, sig byte, val string) {
		for fields.Len()%8 != 0 {
			fields.WriteByte(0)
		}
		fields.Write([]byte{code, 1, sig, 0})
		binary.Write(&fields, binary.LittleEndian, uint32(len(val)))
		fields.WriteString(val)
		fields.WriteByte(0)
	}
	field(1, 'o', "/")
	field(2, 's', "org.freedesktop.DBus.Peer")
	field(3, 's', "Ping")
	var msg bytes.Buffer
	msg.Write([]byte{'l', 1, 0, 1})
	binary.Write(&msg, binary.LittleEndian, uint32(0)) // body length
	binary.Write(&msg, binary.LittleEndian, uint32(1)) // serial
	binary.Write(&msg, binary.LittleEndian, uint32(fields.Len()))
	msg.Write(fields.Bytes())
	for msg.Len()%8 != 0 {
		msg.WriteByte(0)
	}
	decoded, err := dbus.DecodeMessage(bytes.NewReader(msg.Bytes()))
	if err != nil || decoded.Serial() != 1 {
		t.Fatalf("hand-built Ping does not decode: %v", err)
	}
	return msg.Bytes()
}

func TestAddressEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space,comma")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(filepath.Join(dir, "s.sock"), nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	addr := l.Address()
	if strings.ContainsAny(addr, " ,") {
		t.Errorf("Address %q is not escaped", addr)
	}
	fi, err := os.Stat(filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want socket with 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the socket", len(entries))
	}
	// Listening again on the same path must fail, not steal the socket.
	if l2, err := Listen(filepath.Join(dir, "s.sock"), nil); err == nil {
		l2.Close()
		t.Error("second Listen on the same path succeeded")
	}
	served := make(chan *Peer, 1)
	defer func() {
		if p := <-served; p != nil {
			p.Conn.Close()
		}
	}()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := l.Accept(ctx)
		served <- p
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		// The client calls as soon as it is connected; its call must wait
		// for Start instead of finding no object.
		time.Sleep(100 * time.Millisecond)
		p.Conn.Export(echoObject{}, "/", testIface)
		if err := p.Start(); err != nil {
			t.Errorf("Start: %v", err)
		}
	}()
	client, err := dbus.Dial(addr)
	if err != nil {
		t.Fatalf("Dial(%q): %v", addr, err)
	}
	defer client.Close()
	if err := client.Auth(nil); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	var got string
	if err := client.Object("", "/").Call(testIface+".Echo", 0, "x").Store(&got); err != nil || got != "x" {
		t.Errorf("Echo over escaped address = %q, %v", got, err)
	}
}

func TestAcceptHonoursContextAndClose(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "s.sock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept with expired context = %v, want DeadlineExceeded", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
