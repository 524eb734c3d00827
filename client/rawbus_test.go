package client

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"
)

// rawDaemon owns the daemon's bus name on a private bus with a hand-rolled
// connection instead of a godbus Conn. The reason: godbus v5.2.4 cannot
// receive an array of file descriptors ('ah') that really carries fds — its
// decoder builds a []UnixFDIndex and then stores UnixFD values into it, and
// the resulting panic kills the process from godbus's reader goroutine. So
// this receiver reads the wire itself: it collects the SCM_RIGHTS fds,
// decodes each message with godbus's fd-less decoder (which yields the fd
// indexes) and maps the indexes to the received fds.
type rawDaemon struct {
	t      *testing.T
	conn   *net.UnixConn
	osPath dbus.ObjectPath

	mu     sync.Mutex
	serial uint32
	buf    []byte
	fds    []int
	calls  []*dbus.Message
	msgFDs map[*dbus.Message][]int
	// got receives each method call on the OS interface, after its reply.
	got chan *dbus.Message
	// refuseFDs answers calls carrying fds with NotSupported, as a bus does
	// for a destination that cannot receive them.
	refuseFDs bool
}

func startRawDaemon(t *testing.T, busAddr string, osPath dbus.ObjectPath, refuseFDs bool) *rawDaemon {
	t.Helper()
	path := strings.TrimPrefix(strings.Split(busAddr, ",")[0], "unix:path=")
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	d := &rawDaemon{t: t, conn: c, osPath: osPath, msgFDs: map[*dbus.Message][]int{}, got: make(chan *dbus.Message, 8), refuseFDs: refuseFDs}
	t.Cleanup(func() { c.Close() })
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
	d.authLine("\x00AUTH EXTERNAL "+uid+"\r\n", "OK ")
	d.authLine("NEGOTIATE_UNIX_FD\r\n", "AGREE_UNIX_FD")
	if _, err := c.Write([]byte("BEGIN\r\n")); err != nil {
		t.Fatal(err)
	}
	d.call("Hello")
	d.call("RequestName", BusName, uint32(dbus.NameFlagDoNotQueue))
	// Wait for the RequestName reply so that the client finds the name.
	for replies := 0; replies < 2; {
		m := d.read()
		if m.Type == dbus.TypeMethodReply {
			replies++
		}
	}
	go d.serve()
	return d
}

func (d *rawDaemon) authLine(send, want string) {
	if _, err := d.conn.Write([]byte(send)); err != nil {
		d.t.Fatal(err)
	}
	var line []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if _, err := d.conn.Read(b); err != nil {
			d.t.Fatalf("auth: %v", err)
		}
		line = append(line, b[0])
	}
	if !strings.HasPrefix(string(line), want) {
		d.t.Fatalf("auth: got %q, want %q", line, want)
	}
}

// send writes msg with the next serial. godbus keeps a message's serial
// private, so it is patched into the encoded header (bytes 8..11).
func (d *rawDaemon) send(msg *dbus.Message) {
	var b bytes.Buffer
	if err := msg.EncodeTo(&b, binary.LittleEndian); err != nil {
		panic(fmt.Sprintf("encoding %v: %v", msg, err))
	}
	d.mu.Lock()
	d.serial++
	raw := b.Bytes()
	binary.LittleEndian.PutUint32(raw[8:], d.serial)
	d.mu.Unlock()
	if _, err := d.conn.Write(raw); err != nil {
		return // the test is over
	}
}

func (d *rawDaemon) call(member string, args ...any) {
	msg := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:        dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/DBus")),
		dbus.FieldDestination: dbus.MakeVariant("org.freedesktop.DBus"),
		dbus.FieldInterface:   dbus.MakeVariant("org.freedesktop.DBus"),
		dbus.FieldMember:      dbus.MakeVariant(member),
	}, Body: args}
	if len(args) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	d.send(msg)
}

func (d *rawDaemon) reply(to *dbus.Message, args ...any) {
	sender, _ := to.Headers[dbus.FieldSender].Value().(string)
	msg := &dbus.Message{Type: dbus.TypeMethodReply, Flags: dbus.FlagNoReplyExpected, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(to.Serial()),
		dbus.FieldDestination: dbus.MakeVariant(sender),
	}, Body: args}
	if len(args) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	d.send(msg)
}

func (d *rawDaemon) replyError(to *dbus.Message, name, text string) {
	sender, _ := to.Headers[dbus.FieldSender].Value().(string)
	d.send(&dbus.Message{Type: dbus.TypeError, Flags: dbus.FlagNoReplyExpected, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(to.Serial()),
		dbus.FieldDestination: dbus.MakeVariant(sender),
		dbus.FieldErrorName:   dbus.MakeVariant(name),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(text)),
	}, Body: []any{text}})
}

// read returns the next complete message; nil when the connection closed.
func (d *rawDaemon) read() *dbus.Message {
	for {
		if m := d.parse(); m != nil {
			return m
		}
		data := make([]byte, 64<<10)
		oob := make([]byte, syscall.CmsgSpace(16*4))
		n, oobn, _, _, err := d.conn.ReadMsgUnix(data, oob)
		if err != nil {
			return nil
		}
		d.buf = append(d.buf, data[:n]...)
		if oobn > 0 {
			scms, err := syscall.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				d.t.Errorf("parsing control message: %v", err)
				return nil
			}
			for i := range scms {
				fds, err := syscall.ParseUnixRights(&scms[i])
				if err == nil {
					d.fds = append(d.fds, fds...)
				}
			}
		}
	}
}

// parse takes one message off the buffer, with the fds it announced.
func (d *rawDaemon) parse() *dbus.Message {
	if len(d.buf) < 16 {
		return nil
	}
	bodyLen := binary.LittleEndian.Uint32(d.buf[4:])
	fieldsLen := binary.LittleEndian.Uint32(d.buf[12:])
	total := 16 + int(fieldsLen+7)&^7 + int(bodyLen)
	if len(d.buf) < total {
		return nil
	}
	m, err := dbus.DecodeMessage(bytes.NewReader(d.buf[:total]))
	d.buf = d.buf[total:]
	if err != nil {
		d.t.Errorf("decoding a message: %v", err)
		return &dbus.Message{}
	}
	if v, ok := m.Headers[dbus.FieldUnixFDs]; ok {
		n := int(v.Value().(uint32))
		d.msgFDs[m] = d.fds[:n]
		d.fds = d.fds[n:]
	}
	return m
}

func (d *rawDaemon) serve() {
	for {
		m := d.read()
		if m == nil {
			return
		}
		if m.Type != dbus.TypeMethodCall {
			continue
		}
		member, _ := m.Headers[dbus.FieldMember].Value().(string)
		switch member {
		case "RegisterClient", "UnregisterClient":
			d.reply(m)
		case "GetOS":
			d.reply(m, d.osPath)
		case "UpdateDeployment", "PkgChange":
			d.mu.Lock()
			d.calls = append(d.calls, m)
			_, hasFDs := m.Headers[dbus.FieldUnixFDs]
			d.mu.Unlock()
			if hasFDs && d.refuseFDs {
				d.replyError(m, "org.freedesktop.DBus.Error.NotSupported", "Tried to send message with Unix file descriptors to a client that doesn't support that.")
			} else {
				d.reply(m, "unix:path=/nonexistent")
			}
			d.got <- m
		default:
			d.reply(m) // not used by these tests
		}
	}
}

// fileContents reads what each passed fd of modifier key holds.
func (d *rawDaemon) fileContents(m *dbus.Message, mods map[string]dbus.Variant, key string) ([]string, error) {
	v, ok := mods[key]
	if !ok {
		return nil, nil
	}
	idx, ok := v.Value().([]dbus.UnixFDIndex)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want ah", key, v.Signature())
	}
	d.mu.Lock()
	fds := d.msgFDs[m]
	d.mu.Unlock()
	var out []string
	for _, i := range idx {
		if int(i) >= len(fds) {
			return nil, fmt.Errorf("%s: fd index %d out of %d fds", key, i, len(fds))
		}
		f := os.NewFile(uintptr(fds[i]), key)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}
