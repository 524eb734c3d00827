package e2e

import (
	"testing"
)

// The booted-host harness: libostree in the daemon's namespace sees the
// host booted from its deployment.
func TestBootedHostHarness(t *testing.T) {
	e := newEnv(t, envOptions{booted: true})
	st := e.status()
	if len(st.Deployments) != 1 || !st.Deployments[0].Booted {
		t.Fatalf("deployments %+v, want the one deployment booted\ndaemon log:\n%s", st.Deployments, e.daemonLog())
	}
	out, err := e.daemon.InNamespace(e.ctx, "ostree", "admin", "status")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ostree admin status in the namespace:\n%s", out)
}
