package ostree

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPull(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	v2 := remote.commit(t, "2.0")
	dir := newLocalRepo(t, remote.serve(t))
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	var mu sync.Mutex
	var snaps []PullProgress
	start := time.Now()
	err = r.Pull(context.Background(), PullOptions{Remote: "demo", Refs: []string{"demo/stable"}}, func(p PullProgress) {
		mu.Lock()
		snaps = append(snaps, p)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.ResolveRev("demo:demo/stable", false); err != nil || got != v2 {
		t.Fatalf("demo:demo/stable = %q, %v; want %q", got, err, v2)
	}
	if len(snaps) == 0 {
		t.Fatal("progress never called")
	}
	last := snaps[len(snaps)-1]
	if last.FetchedObjects == 0 || last.RequestedObjects == 0 || last.BytesTransferred == 0 {
		t.Errorf("final progress = %+v, want fetched objects and bytes", last)
	}
	if last.StartTime.Before(start.Add(-time.Second)) || last.StartTime.After(time.Now()) {
		t.Errorf("StartTime = %v, pull started at %v", last.StartTime, start)
	}
	// Depth 0: only the tip commit is there, not its parent.
	if _, err := r.ReadCommit(v1); err == nil {
		t.Error("parent commit pulled with Depth 0")
	}
	fsck(t, dir)

	// Commit-only pull of a specific older commit of the ref.
	dir2 := newLocalRepo(t, remote.serve(t))
	r2, err := OpenRepo(dir2)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	err = r2.Pull(context.Background(), PullOptions{
		Remote: "demo", Refs: []string{"demo/stable"}, OverrideCommitIDs: []string{v1}, CommitOnly: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r2.ReadCommit(v1); err != nil || c.Version != "1.0" {
		t.Errorf("ReadCommit(v1) after commit-only pull = %+v, %v", c, err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "state", v1+".commitpartial")); err != nil {
		t.Errorf("commit-only pull left no commitpartial marker: %v", err)
	}

	// Full history.
	dir3 := newLocalRepo(t, remote.serve(t))
	r3, err := OpenRepo(dir3)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if err := r3.Pull(context.Background(), PullOptions{Remote: "demo", Refs: []string{"demo/stable"}, Depth: -1}, nil); err != nil {
		t.Fatal(err)
	}
	if c, err := r3.ReadCommit(v1); err != nil || c.Version != "1.0" {
		t.Errorf("ReadCommit(v1) after Depth -1 = %+v, %v", c, err)
	}
	fsck(t, dir3)

	err = r3.Pull(context.Background(), PullOptions{Remote: "demo", Refs: []string{"a", "b"}, OverrideCommitIDs: []string{v1}}, nil)
	if err == nil {
		t.Error("Pull with mismatched override-commit-ids succeeded")
	}
}

func TestPullCancelled(t *testing.T) {
	requireRoot(t)
	// A server that never answers: every request hangs until the client goes.
	url := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		<-req.Context().Done()
	}))
	dir := newLocalRepo(t, url)
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err = r.Pull(ctx, PullOptions{Remote: "demo", Refs: []string{"demo/stable"}}, func(PullProgress) {})
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Pull error = %v, want context.Canceled", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("cancelled pull took %v", elapsed)
	}
	// An already-cancelled context does not start a pull at all.
	if err := r.Pull(ctx, PullOptions{Remote: "demo", Refs: []string{"demo/stable"}}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Pull with a done ctx = %v", err)
	}
	fsck(t, dir)
}

func TestPullCorruptObject(t *testing.T) {
	requireRoot(t)
	remote, _ := newRemote(t)
	// Corrupt the object holding usr/bin/hello: give it the (valid,
	// compressed) bytes of os-release, so only its checksum is wrong.
	objPath := func(file string) (string, string) {
		fields := strings.Fields(run(t, "ostree", "--repo="+remote.dir, "ls", "-C", "demo/stable", file))
		csum := fields[len(fields)-2]
		return csum, filepath.Join(remote.dir, "objects", csum[:2], csum[2:]+".filez")
	}
	objName, victim := objPath("/usr/bin/hello")
	_, other := objPath("/usr/etc/os-release")
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}

	dir := newLocalRepo(t, remote.serve(t))
	r, err := OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Pull(context.Background(), PullOptions{Remote: "demo", Refs: []string{"demo/stable"}}, nil)
	if err == nil {
		t.Fatal("pull of a corrupt remote succeeded")
	}
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Message == "" {
		t.Errorf("error %v does not carry the GError", err)
	}
	if !strings.Contains(err.Error(), "demo/stable") || !strings.Contains(err.Error(), objName) {
		t.Errorf("error = %q, want it to name the ref and the corrupt object %s", err, objName)
	}
	t.Logf("corrupt pull error: %v", err)
	if got, _ := r.ResolveRev("demo:demo/stable", true); got != "" {
		t.Errorf("ref set to %s despite the failed pull", got)
	}
	fsck(t, dir)
}
