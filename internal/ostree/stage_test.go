package ostree

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Staging needs a host booted from the sysroot (tests/e2e stages on one); on
// any other sysroot StageTree refuses before touching the lock or the disk.
func TestStageTreeRefusesNotBooted(t *testing.T) {
	requireRoot(t)
	remote, v1 := newRemote(t)
	dir := newSysroot(t, remote)
	s := openSysroot(t, dir)
	before, _ := filepath.Glob(filepath.Join(dir, "ostree", "deploy", "demo", "deploy", "*"))
	_, err := s.StageTree(context.Background(), "demo", v1, "[origin]\nrefspec=demo:demo/stable\n", s.MergeDeployment("demo"), nil, true)
	if err == nil || !strings.Contains(err.Error(), "not booted from") {
		t.Fatalf("StageTree on a sysroot not booted = %v, want a refusal", err)
	}
	if s.FinalizationLocked() {
		t.Error("a refused staging left the finalization lock")
	}
	after, _ := filepath.Glob(filepath.Join(dir, "ostree", "deploy", "demo", "deploy", "*"))
	if len(after) != len(before) {
		t.Errorf("a refused staging changed the deployment directories: %v -> %v", before, after)
	}
}
