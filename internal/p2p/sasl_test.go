package p2p

import (
	"encoding/hex"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testGUID = "0123456789abcdef0123456789abcdef"

// socketPair returns both ends of a connected unix socket pair, so that
// SO_PEERCRED works (a net.Pipe has no kernel credentials).
func socketPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatalf("FileConn: %v", err)
		}
		conns[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// hexID is how an EXTERNAL client spells a uid: hex of its decimal digits.
func hexID(uid int) string { return hex.EncodeToString([]byte(strconv.Itoa(uid))) }

type exchange struct {
	send string // written by the client as is
	want string // exact bytes the server must answer with ("" for none)
}

func TestServerHandshake(t *testing.T) {
	me := hexID(os.Getuid())
	ok := "OK " + testGUID + "\r\n"
	rej := "REJECTED EXTERNAL\r\n"
	allowAll := func(uint32) bool { return true }
	cases := []struct {
		name    string
		allow   func(uint32) bool
		steps   []exchange
		wantErr string // substring; "" means the handshake must succeed
	}{
		{name: "godbus client", steps: []exchange{
			{"\x00AUTH\r\n", rej},
			{"AUTH EXTERNAL " + me + "\r\n", ok},
			{"BEGIN\r\n", ""},
		}},
		{name: "sd-bus pipelined", steps: []exchange{
			{"\x00AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n", "DATA\r\n" + ok + "ERROR\r\n"},
		}},
		{name: "DATA with identity", steps: []exchange{
			{"\x00AUTH EXTERNAL\r\n", "DATA\r\n"},
			{"DATA " + me + "\r\n", ok},
			{"BEGIN\r\n", ""},
		}},
		{name: "nil allow admits", allow: nil, steps: []exchange{
			{"\x00AUTH EXTERNAL " + me + "\r\nBEGIN\r\n", ok},
		}},
		{name: "other uid claimed then ours", steps: []exchange{
			{"\x00AUTH EXTERNAL " + hexID(os.Getuid()+4242) + "\r\n", rej},
			{"AUTH EXTERNAL " + me + "\r\n", ok},
			{"BEGIN\r\n", ""},
		}},
		{name: "other uid in DATA", steps: []exchange{
			{"\x00AUTH EXTERNAL\r\n", "DATA\r\n"},
			{"DATA " + hexID(os.Getuid()+1) + "\r\n", rej},
			{"BEGIN\r\n", ""},
		}, wantErr: "BEGIN before"},
		{name: "signed uid is not a uid", steps: []exchange{
			{"\x00AUTH EXTERNAL " + hex.EncodeToString([]byte("+"+strconv.Itoa(os.Getuid()))) + "\r\n", rej},
		}, wantErr: "EOF"},
		{name: "refused by allow", allow: func(uint32) bool { return false }, steps: []exchange{
			{"\x00AUTH EXTERNAL " + me + "\r\n", rej},
			{"AUTH EXTERNAL\r\n", "DATA\r\n"},
			{"DATA\r\n", rej},
		}, wantErr: "EOF"},
		{name: "other mechanisms", steps: []exchange{
			{"\x00AUTH DBUS_COOKIE_SHA1 " + me + "\r\n", rej},
			{"AUTH ANONYMOUS\r\n", rej},
			{"AUTH EXTERNAL " + me + "\r\nBEGIN\r\n", ok},
		}},
		{name: "unknown and misplaced commands", steps: []exchange{
			{"\x00FOO\r\n", "ERROR\r\n"},
			{"DATA 30\r\n", "ERROR\r\n"},
			{"NEGOTIATE_UNIX_FD\r\n", "ERROR\r\n"},
			{"OK " + testGUID + "\r\n", "ERROR\r\n"},
			{"ERROR\r\n", rej},
			{"CANCEL\r\n", rej},
			{"AUTH EXTERNAL " + me + "\r\nBEGIN\r\n", ok},
		}},
		{name: "bad hex", steps: []exchange{
			{"\x00AUTH EXTERNAL zz\r\n", "ERROR\r\n"},
			{"AUTH EXTERNAL\r\n", "DATA\r\n"},
			{"DATA 3\r\n", "ERROR\r\n"},
			{"DATA " + me + "\r\n", ok},
			{"BEGIN\r\n", ""},
		}},
		{name: "cancel while waiting for data", steps: []exchange{
			{"\x00AUTH EXTERNAL\r\n", "DATA\r\n"},
			{"CANCEL\r\n", rej},
			{"AUTH EXTERNAL " + me + "\r\nBEGIN\r\n", ok},
		}},
		{name: "cancel and error after OK", steps: []exchange{
			{"\x00AUTH EXTERNAL " + me + "\r\n", ok},
			{"CANCEL\r\n", rej},
			{"AUTH EXTERNAL " + me + "\r\n", ok},
			{"ERROR\r\n", rej},
			{"BEGIN\r\n", ""},
		}, wantErr: "BEGIN before"},
		{name: "BEGIN with argument", steps: []exchange{
			{"\x00AUTH EXTERNAL " + me + "\r\n", ok},
			{"BEGIN now\r\n", "ERROR\r\n"},
			{"BEGIN\r\n", ""},
		}},
		{name: "line without CR", steps: []exchange{
			{"\x00AUTH EXTERNAL " + me + "\n", "ERROR\r\n"},
			{"AUTH EXTERNAL " + me + "\r\nBEGIN\r\n", ok},
		}},
		{name: "BEGIN first", steps: []exchange{{"\x00BEGIN\r\n", ""}}, wantErr: "BEGIN before"},
		{name: "missing NUL", steps: []exchange{{"AUTH\r\n", ""}}, wantErr: "not NUL"},
		{name: "line too long", steps: []exchange{
			{"\x00AUTH " + strings.Repeat("X", saslMaxLineLen+1), ""},
		}, wantErr: "longer than"},
		{name: "too many lines", steps: []exchange{
			{"\x00" + strings.Repeat("AUTH\r\n", saslMaxLines), strings.Repeat(rej, saslMaxLines)},
		}, wantErr: "no BEGIN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allow := tc.allow
			if allow == nil && tc.name != "nil allow admits" {
				allow = allowAll
			}
			server, client := socketPair(t)
			type result struct {
				uid uint32
				err error
			}
			done := make(chan result, 1)
			go func() {
				uid, err := serverHandshake(server, testGUID, allow, 5*time.Second)
				if err != nil {
					server.Close() // as the Listener does
				}
				done <- result{uid, err}
			}()
			client.SetDeadline(time.Now().Add(5 * time.Second))
			for _, ex := range tc.steps {
				if _, err := io.WriteString(client, ex.send); err != nil {
					t.Fatalf("writing %q: %v", ex.send, err)
				}
				got := make([]byte, len(ex.want))
				if _, err := io.ReadFull(client, got); err != nil {
					t.Fatalf("after %q: reading %q: %v (got %q)", ex.send, ex.want, err, got)
				}
				if string(got) != ex.want {
					t.Fatalf("after %q: server said %q, want %q", ex.send, got, ex.want)
				}
			}
			if tc.wantErr == "EOF" {
				// The server waits for more; hanging up must end it.
				client.Close()
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("handshake did not finish")
			}
			if tc.wantErr == "" {
				if r.err != nil {
					t.Fatalf("handshake failed: %v", r.err)
				}
				if r.uid != uint32(os.Getuid()) {
					t.Errorf("uid = %d, want %d", r.uid, os.Getuid())
				}
				return
			}
			if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
				t.Fatalf("handshake error = %v, want one containing %q", r.err, tc.wantErr)
			}
		})
	}
}

// TestHandshakeLeavesMessageBytes checks that bytes pipelined after BEGIN
// stay in the socket for whoever reads next.
func TestHandshakeLeavesMessageBytes(t *testing.T) {
	server, client := socketPair(t)
	go io.WriteString(client, "\x00AUTH EXTERNAL "+hexID(os.Getuid())+"\r\nBEGIN\r\nl\x01\x00\x01rest")
	if _, err := serverHandshake(server, testGUID, nil, 5*time.Second); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("l\x01\x00\x01rest"))
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "l\x01\x00\x01rest" {
		t.Errorf("after handshake read %q, %v; want the pipelined bytes", got, err)
	}
}

func TestHandshakeTimesOutOnSilence(t *testing.T) {
	server, client := socketPair(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	go io.WriteString(client, "\x00AUTH") // a started line, never finished
	_, err := serverHandshake(server, testGUID, nil, timeout)
	if err == nil {
		t.Fatal("handshake with a silent client succeeded")
	}
	if d := time.Since(start); d < timeout || d > timeout+5*time.Second {
		t.Errorf("silent handshake ended after %v, want about %v", d, timeout)
	}
}
