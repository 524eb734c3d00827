package ostree

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// libostree's curl fetcher (the HTTP backend Debian and Fedora build) never
// looks at the GCancellable: a pull waiting on a stalled server does not
// return until the server answers. To make cancellation real, Pull remembers
// which TCP sockets the process had before it started, and after ctx ends
// shuts down (never closes: the fds stay curl's) every TCP socket opened
// since. curl then sees the connection drop, the request fails and the pull
// returns. Limits: a socket still in connect() is not affected (curl's own
// 30 s connect timeout applies), and TCP sockets opened concurrently by other
// code in this process during a cancelled pull are cut too, which is why the
// daemon runs one transaction at a time.

// sockKey names an open socket; the inode guards against fd reuse.
type sockKey struct {
	fd  int
	ino uint64
}

// tcpSockets lists this process's open IPv4/IPv6 stream sockets.
func tcpSockets() map[sockKey]bool {
	out := map[sockKey]bool{}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return out
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			continue
		}
		dom, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err1 != nil || err2 != nil || typ != unix.SOCK_STREAM || (dom != unix.AF_INET && dom != unix.AF_INET6) {
			continue
		}
		out[sockKey{fd, st.Ino}] = true
	}
	return out
}

// shutdownNewSockets shuts down every TCP socket not in before.
func shutdownNewSockets(before map[sockKey]bool) {
	for k := range tcpSockets() {
		if !before[k] {
			// Errors (ENOTCONN for a socket still connecting) are expected.
			_ = unix.Shutdown(k.fd, unix.SHUT_RDWR)
		}
	}
}
