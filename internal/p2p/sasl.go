package p2p

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits on the authentication conversation. A real client needs a handful of
// short lines; anything beyond these is a confused or hostile peer and is
// dropped rather than allowed to pin a goroutine or memory.
const (
	saslMaxLineLen   = 512
	saslMaxLines     = 32
	handshakeTimeout = 10 * time.Second
)

// saslState is where the server is in the SASL conversation, named after the
// states in the D-Bus specification's "Authentication state diagrams".
type saslState int

const (
	waitingForAuth saslState = iota
	waitingForData
	waitingForBegin
)

// errSASLAbort is returned when the spec says the server must disconnect
// (for example BEGIN before OK).
var errSASLAbort = errors.New("client sent BEGIN before authenticating")

// saslServer is the server side of the SASL EXTERNAL conversation as a pure
// state machine: it sees one command line at a time and says what to answer.
// It does no I/O so the conversation can be tested as a table.
type saslServer struct {
	guid    string
	peerUID uint32 // from the kernel (SO_PEERCRED), never from the client
	allow   func(uid uint32) bool
	state   saslState
}

const rejected = "REJECTED EXTERNAL"

// step consumes one command line (without its "\r\n") and returns the reply
// line to send (without "\r\n"; never empty), whether BEGIN completed the
// handshake, or an error when the connection must be dropped.
func (s *saslServer) step(line string) (reply string, done bool, err error) {
	cmd, args, _ := strings.Cut(line, " ")
	switch s.state {
	case waitingForAuth:
		switch cmd {
		case "AUTH":
			return s.auth(args), false, nil
		case "BEGIN":
			return "", false, errSASLAbort
		case "ERROR", "CANCEL":
			return rejected, false, nil
		}
	case waitingForData:
		switch cmd {
		case "DATA":
			return s.verify(args), false, nil
		case "BEGIN":
			return "", false, errSASLAbort
		case "CANCEL", "ERROR":
			s.state = waitingForAuth
			return rejected, false, nil
		}
	case waitingForBegin:
		switch cmd {
		case "BEGIN":
			if args != "" {
				return "ERROR", false, nil
			}
			return "", true, nil
		case "CANCEL", "ERROR":
			s.state = waitingForAuth
			return rejected, false, nil
		case "NEGOTIATE_UNIX_FD":
			// godbus's generic transport cannot carry file descriptors and
			// transactions never need them, so we decline; clients then
			// carry on without fd passing.
			return "ERROR", false, nil
		}
	}
	return "ERROR", false, nil
}

// auth handles "AUTH [mechanism [initial-response]]" in waitingForAuth.
func (s *saslServer) auth(args string) string {
	mech, resp, hasResp := strings.Cut(args, " ")
	if mech != "EXTERNAL" {
		// Bare AUTH asks which mechanisms we support; any other mechanism
		// gets the same answer.
		return rejected
	}
	if !hasResp {
		// sd-bus sends "AUTH EXTERNAL" with no identity and answers our
		// empty challenge with "DATA", meaning "whoever the kernel says I am".
		s.state = waitingForData
		return "DATA"
	}
	return s.verify(resp)
}

// verify checks the claimed identity (hex of the ASCII decimal uid, or empty
// for "use my credentials") against the kernel's and the allow policy, and
// moves to waitingForBegin on success or back to waitingForAuth on failure.
func (s *saslServer) verify(hexID string) string {
	if strings.Contains(hexID, " ") {
		return "ERROR"
	}
	id, err := hex.DecodeString(hexID)
	if err != nil {
		return "ERROR"
	}
	s.state = waitingForAuth
	if len(id) > 0 {
		// Only plain decimal digits: strconv would accept "+0" as well.
		for _, c := range id {
			if c < '0' || c > '9' {
				return rejected
			}
		}
		claimed, err := strconv.ParseUint(string(id), 10, 32)
		if err != nil || uint32(claimed) != s.peerUID {
			return rejected
		}
	}
	if s.allow != nil && !s.allow(s.peerUID) {
		return rejected
	}
	s.state = waitingForBegin
	return "OK " + s.guid
}

// peerUID returns the uid of the process at the other end of a unix socket,
// as recorded by the kernel when it connected.
func peerUID(conn net.Conn) (uint32, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("connection %T has no file descriptor for SO_PEERCRED", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("getting raw connection: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return 0, fmt.Errorf("reading SO_PEERCRED: %w", err)
	}
	return cred.Uid, nil
}

// serverHandshake runs the server side of D-Bus SASL EXTERNAL authentication
// on a freshly accepted unix socket connection and returns the peer's
// kernel-verified uid. Peers for which allow returns false are REJECTED.
// The whole conversation must finish within timeout.
//
// It reads one byte at a time on purpose: the client may pipeline its first
// D-Bus message right behind "BEGIN\r\n", and those bytes belong to the
// message reader that takes over the connection afterwards.
func serverHandshake(conn net.Conn, guid string, allow func(uid uint32) bool, timeout time.Duration) (uint32, error) {
	uid, err := peerUID(conn)
	if err != nil {
		return 0, err
	}
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, fmt.Errorf("setting handshake deadline: %w", err)
	}
	var one [1]byte
	if _, err := io.ReadFull(conn, one[:]); err != nil {
		return 0, fmt.Errorf("reading initial NUL byte: %w", err)
	}
	if one[0] != 0 {
		return 0, fmt.Errorf("first byte is %#x, not NUL", one[0])
	}
	s := &saslServer{guid: guid, peerUID: uid, allow: allow}
	for n := 0; n < saslMaxLines; n++ {
		line, err := readAuthLine(conn)
		if err != nil {
			return 0, err
		}
		var reply string
		var done bool
		if l, ok := bytes.CutSuffix(line, []byte("\r")); ok {
			reply, done, err = s.step(string(l))
		} else {
			reply = "ERROR" // the spec requires "\r\n" line ends
		}
		if err != nil {
			return 0, err
		}
		if done {
			if err := conn.SetDeadline(time.Time{}); err != nil {
				return 0, fmt.Errorf("clearing handshake deadline: %w", err)
			}
			return uid, nil
		}
		if _, err := conn.Write([]byte(reply + "\r\n")); err != nil {
			return 0, fmt.Errorf("writing %q: %w", reply, err)
		}
	}
	return 0, fmt.Errorf("no BEGIN after %d lines", saslMaxLines)
}

// readAuthLine reads up to and including '\n', one byte at a time so nothing
// past the line is consumed, and returns the line without the '\n'.
func readAuthLine(conn net.Conn) ([]byte, error) {
	var line []byte
	var one [1]byte
	for {
		if _, err := io.ReadFull(conn, one[:]); err != nil {
			return nil, fmt.Errorf("reading auth line: %w", err)
		}
		if one[0] == '\n' {
			return line, nil
		}
		if len(line) >= saslMaxLineLen {
			return nil, fmt.Errorf("auth line longer than %d bytes", saslMaxLineLen)
		}
		line = append(line, one[0])
	}
}
