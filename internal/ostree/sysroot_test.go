package ostree

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusEntry is one deployment as `ostree admin status` prints it.
type statusEntry struct {
	osname, csum string
	serial       int
	refspec      string
	pinned       bool
}

var statusLine = regexp.MustCompile(`^\s*\*?\s*(\S+) ([0-9a-f]{64})\.(\d+)`)

func adminStatus(t *testing.T, sysroot string) []statusEntry {
	t.Helper()
	var out []statusEntry
	for _, line := range strings.Split(run(t, "ostree", "admin", "status", "--sysroot="+sysroot), "\n") {
		if m := statusLine.FindStringSubmatch(line); m != nil {
			serial, _ := strconv.Atoi(m[3])
			out = append(out, statusEntry{osname: m[1], csum: m[2], serial: serial})
			continue
		}
		if len(out) == 0 {
			continue
		}
		cur := &out[len(out)-1]
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "origin refspec: "); ok {
			cur.refspec = v
		}
		if line == "Pinned: yes" {
			cur.pinned = true
		}
	}
	return out
}

// bootOptions collects the "options" lines of the current boot loader entries.
func bootOptions(t *testing.T, sysroot string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(sysroot, "boot/loader/entries/*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no boot loader entries: %v", err)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "options "); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// checkMatchesStatus compares Deployments() with the CLI's view.
func checkMatchesStatus(t *testing.T, s *Sysroot) {
	t.Helper()
	deps := s.Deployments()
	status := adminStatus(t, s.Path())
	if len(deps) != len(status) {
		t.Fatalf("Deployments() has %d entries, ostree admin status %d", len(deps), len(status))
	}
	opts := bootOptions(t, s.Path())
	for i, d := range deps {
		st := status[i]
		if d.Index != i || d.Osname != st.osname || d.Checksum != st.csum || d.Serial != st.serial || d.Pinned != st.pinned {
			t.Errorf("deployment %d = %+v, ostree admin status says %+v", i, d, st)
		}
		if !strings.Contains(d.Origin, "refspec="+st.refspec) {
			t.Errorf("deployment %d origin %q, status refspec %q", i, d.Origin, st.refspec)
		}
		if d.Booted || d.Staged {
			t.Errorf("deployment %d booted=%t staged=%t in a test sysroot", i, d.Booted, d.Staged)
		}
		if !contains(opts, d.Kargs) {
			t.Errorf("deployment %d kargs %q not among boot entries %q", i, d.Kargs, opts)
		}
	}
}

// withoutOstreeArg drops the ostree= karg, which names the boot version and
// so changes with every bootloader update.
func withoutOstreeArg(kargs string) string {
	var out []string
	for _, a := range strings.Fields(kargs) {
		if !strings.HasPrefix(a, "ostree=") {
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func openSysroot(t *testing.T, dir string) *Sysroot {
	t.Helper()
	s, err := OpenSysroot(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestOpenSysrootNotASysroot(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	_, err := OpenSysroot(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), dir+" is not an OSTree sysroot (no ostree/repo)") {
		t.Fatalf("OpenSysroot(empty dir) error = %v", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap ErrNotExist", err)
	}
}

func TestSysrootDeployments(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	dir := newSysroot(t, remote)
	s := openSysroot(t, dir)

	if s.Path() != dir || s.Repo().Path() != filepath.Join(dir, "ostree/repo") {
		t.Errorf("Path() = %q, Repo().Path() = %q", s.Path(), s.Repo().Path())
	}
	deps := s.Deployments()
	if len(deps) != 1 {
		t.Fatalf("Deployments() = %v", deps)
	}
	d := deps[0]
	if d.Osname != "demo" || d.Checksum != v1 || d.Serial != 0 || d.Index != 0 || d.Kargs == "" {
		t.Errorf("deployment = %+v", d)
	}
	if want := "demo-" + v1 + ".0"; d.ID() != want {
		t.Errorf("ID() = %q, want %q", d.ID(), want)
	}
	checkMatchesStatus(t, s)
	if s.BootedDeployment() != nil {
		t.Error("BootedDeployment() not nil in a test sysroot")
	}
	if m := s.MergeDeployment("demo"); m == nil || m.Checksum != v1 {
		t.Errorf("MergeDeployment(demo) = %+v", m)
	}
	if m := s.MergeDeployment("other"); m != nil {
		t.Errorf("MergeDeployment(other) = %+v, want nil", m)
	}
	if roots, err := s.Stateroots(); err != nil || !reflect.DeepEqual(roots, []string{"demo"}) {
		t.Errorf("Stateroots() = %v, %v", roots, err)
	}
	path := s.DeploymentPath(d)
	if want := filepath.Join(dir, "ostree/deploy/demo/deploy", v1+".0"); path != want {
		t.Errorf("DeploymentPath() = %q, want %q", path, want)
	}
	if _, err := os.Stat(filepath.Join(path, "usr/bin/hello")); err != nil {
		t.Error(err)
	}
	// The sysroot's repo is usable and Close on it is harmless.
	if got, err := s.Repo().ResolveRev("demo:demo/stable", false); err != nil || got != v1 {
		t.Errorf("Repo().ResolveRev = %q, %v", got, err)
	}
	s.Repo().Close()
	if _, err := s.Repo().ResolveRev("demo:demo/stable", false); err != nil {
		t.Errorf("sysroot repo unusable after Close: %v", err)
	}

	// Reload notices changes made by another process.
	ctx := context.Background()
	if changed, err := s.Reload(ctx); err != nil || changed {
		t.Errorf("Reload() with no change = %t, %v", changed, err)
	}
	run(t, "ostree", "admin", "deploy", "--sysroot="+dir, "--os=demo", "--retain", "demo:demo/stable")
	if changed, err := s.Reload(ctx); err != nil || !changed {
		t.Errorf("Reload() after a deploy = %t, %v", changed, err)
	}
	if deps := s.Deployments(); len(deps) != 2 || deps[0].Serial != 1 {
		t.Errorf("Deployments() after reload = %+v", deps)
	}
	checkMatchesStatus(t, s)
}

func TestDeployWriteCleanup(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	dir := newSysroot(t, remote)
	v2 := remote.commit(t, "2.0")
	s := openSysroot(t, dir)
	ctx := context.Background()

	// Pull v2 through the sysroot's repo (file:// remote: local import).
	if err := s.Repo().Pull(ctx, PullOptions{Remote: "demo", Refs: []string{"demo/stable"}}, nil); err != nil {
		t.Fatal(err)
	}
	old := s.Deployments()[0]
	writeFile(t, filepath.Join(s.DeploymentPath(old), "etc/strata-local.conf"), "kept=yes\n", 0o644)

	merge := s.MergeDeployment("demo")
	origin := "[origin]\nrefspec=demo:demo/stable\n"
	nd, err := s.DeployTree(ctx, "demo", v2, origin, merge, nil)
	if err != nil {
		t.Fatal(err)
	}
	if nd.Checksum != v2 || nd.Osname != "demo" || !strings.Contains(nd.Origin, "refspec=demo:demo/stable") {
		t.Errorf("new deployment = %+v", nd)
	}
	if err := s.SimpleWriteDeployment(ctx, "demo", nd, merge, false); err != nil {
		t.Fatal(err)
	}
	deps := s.Deployments()
	if len(deps) != 2 || deps[0].Checksum != v2 || deps[1].Checksum != v1 {
		t.Fatalf("after SimpleWriteDeployment: %+v", deps)
	}
	if withoutOstreeArg(deps[0].Kargs) != withoutOstreeArg(merge.Kargs) {
		t.Errorf("kargs %q not inherited from merge %q", deps[0].Kargs, merge.Kargs)
	}
	checkMatchesStatus(t, s)
	data, err := os.ReadFile(filepath.Join(s.DeploymentPath(deps[0]), "etc/strata-local.conf"))
	if err != nil || string(data) != "kept=yes\n" {
		t.Errorf("/etc not merged into the new deployment: %q, %v", data, err)
	}
	hello, _ := os.ReadFile(filepath.Join(s.DeploymentPath(deps[0]), "usr/bin/hello"))
	if !strings.Contains(string(hello), "hello 2.0") {
		t.Errorf("new deployment's hello = %q", hello)
	}

	// Rollback: swap the boot order.
	if err := s.WriteDeployments(ctx, []*Deployment{deps[1], deps[0]}); err != nil {
		t.Fatal(err)
	}
	deps = s.Deployments()
	if len(deps) != 2 || deps[0].Checksum != v1 || deps[1].Checksum != v2 {
		t.Fatalf("after rollback: %+v", deps)
	}
	checkMatchesStatus(t, s)

	// Origin rewrite.
	if err := s.WriteOrigin(ctx, deps[1], "[origin]\nrefspec=demo:demo/other\n"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(deps[1].Origin, "demo:demo/other") {
		t.Errorf("Origin field not updated: %q", deps[1].Origin)
	}
	if st := adminStatus(t, dir); st[1].refspec != "demo:demo/other" {
		t.Errorf("status after WriteOrigin: %+v", st)
	}
	if _, err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteOrigin(ctx, deps[1], "not a keyfile"); err == nil {
		t.Error("WriteOrigin with garbage succeeded")
	}

	// Pinning.
	deps = s.Deployments()
	if err := s.SetPinned(ctx, deps[1], true); err != nil {
		t.Fatal(err)
	}
	if deps := s.Deployments(); !deps[1].Pinned || deps[0].Pinned {
		t.Errorf("after SetPinned: %+v", deps)
	}
	checkMatchesStatus(t, s)
	if err := s.SetPinned(ctx, s.Deployments()[1], false); err != nil {
		t.Fatal(err)
	}

	// Drop v2 and clean up: its deployment dir goes away.
	deps = s.Deployments()
	gone := s.DeploymentPath(deps[1])
	if err := s.WriteDeployments(ctx, deps[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Cleanup: %v", gone, err)
	}
	if st := adminStatus(t, dir); len(st) != 1 || st[0].csum != v1 {
		t.Errorf("status after cleanup: %+v", st)
	}
	checkMatchesStatus(t, s)

	// Deploying a commit that is not there fails with libostree's message.
	if _, err := s.DeployTree(ctx, "demo", strings.Repeat("a", 64), origin, nil, nil); err == nil || !strings.Contains(err.Error(), "deploying "+strings.Repeat("a", 64)) {
		t.Errorf("DeployTree(missing) error = %v", err)
	}
}

func TestDeployTreeKargs(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	dir := newSysroot(t, remote)
	s := openSysroot(t, dir)
	ctx := context.Background()
	merge := s.MergeDeployment("demo")
	nd, err := s.DeployTree(ctx, "demo", v1, "[origin]\nrefspec=demo:demo/stable\n", merge, []string{"quiet", "strata.test=1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SimpleWriteDeployment(ctx, "demo", nd, merge, true); err != nil {
		t.Fatal(err)
	}
	deps := s.Deployments()
	if len(deps) != 2 || deps[0].Serial != 1 || !strings.Contains(deps[0].Kargs, "quiet strata.test=1") {
		t.Errorf("after deploy with kargs: %+v", deps)
	}
	checkMatchesStatus(t, s)
}

func TestSysrootLock(t *testing.T) {
	requireRoot(t)
	remote, _ := newRemote(t)
	dir := newSysroot(t, remote)
	a := openSysroot(t, dir)
	b := openSysroot(t, dir)

	if err := a.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(); err != nil || ok {
		t.Fatalf("TryLock while held elsewhere = %t, %v", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock while held elsewhere = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("cancelled Lock took %v", time.Since(start))
	}
	// A waiting Lock gets the lock once it is released.
	done := make(chan error, 1)
	go func() { done <- b.Lock(context.Background()) }()
	time.Sleep(150 * time.Millisecond)
	a.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock did not return after Unlock")
	}
	if ok, err := a.TryLock(); err != nil || ok {
		t.Errorf("TryLock while b holds it = %t, %v", ok, err)
	}
	b.Unlock()
	if ok, err := a.TryLock(); err != nil || !ok {
		t.Errorf("TryLock after release = %t, %v", ok, err)
	}
	a.Unlock()
}
