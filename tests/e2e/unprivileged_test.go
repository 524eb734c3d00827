package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// nobody is the unprivileged user the test runs the CLI as.
const nobody = 65534

// TestDbListUnprivileged: a user who cannot read the sysroot still lists a
// deployment's packages, because the CLI asks the daemon instead of reading
// the rpmdb itself.
func TestDbListUnprivileged(t *testing.T) {
	e := newLayeringEnv(t)
	e.mustStrata("install", "demo-extra")
	d := e.layeredStatus()[0]

	// The sysroot is root's alone; the bus socket and a copy of the CLI are
	// reachable for the user.
	if err := os.Chmod(e.host.Sysroot, 0o700); err != nil {
		t.Fatal(err)
	}
	socket := strings.TrimPrefix(e.bus.Address, "unix:path=")
	for dir := filepath.Dir(socket); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, st.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(socket, 0o666); err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(t.TempDir(), "strata")
	copyExecutable(t, bins.strata, cli)
	for _, dir := range []string{filepath.Dir(cli), filepath.Dir(filepath.Dir(cli))} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	asNobody := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(e.ctx, name, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS=" + e.bus.Address}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	rpmdbDir := filepath.Join(e.host.Sysroot, "ostree/deploy", fixture.OSName, "deploy", d.Checksum+"."+strconv.Itoa(d.Serial), "usr/share/rpm")
	if out, err := asNobody("ls", rpmdbDir); err == nil {
		t.Fatalf("the test user can read the sysroot (%s), so this test proves nothing:\n%s", rpmdbDir, out)
	}
	out, err := asNobody(cli, "db", "list", d.Checksum)
	if err != nil {
		t.Fatalf("strata db list as an unprivileged user: %v\n%s", err, out)
	}
	for _, want := range []string{"demo-extra-1.0-1.noarch", baseFiles1} {
		if !strings.Contains(out, want) {
			t.Errorf("unprivileged db list lacks %s:\n%s", want, out)
		}
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
