// Command strata-image-proxy fetches container images for stratad, which
// starts one per pull and talks to it over its stdin, stdout and fd 3 (see
// internal/image/proxy.go). It keeps containers/image out of the daemon.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-os/strata/internal/imageproxy"
)

func main() {
	// SIGPIPE on the blob pipe is an error to report, not a reason to die.
	signal.Ignore(syscall.SIGPIPE)
	f := os.NewFile(3, "fds")
	c, err := net.FileConn(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata-image-proxy: fd 3 is not the daemon's socket (this helper is started by stratad): %v\n", err)
		os.Exit(2)
	}
	f.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		fmt.Fprintln(os.Stderr, "strata-image-proxy: fd 3 is not a unix socket (this helper is started by stratad)")
		os.Exit(2)
	}
	if err := imageproxy.Serve(context.Background(), os.Stdin, os.Stdout, uc); err != nil {
		fmt.Fprintf(os.Stderr, "strata-image-proxy: %v\n", err)
		os.Exit(1)
	}
}
