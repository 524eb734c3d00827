package transactions

import (
	"context"
	"strings"
	"testing"
)

// On a booted host an upgrade stages; the lock follows lock-finalization,
// and a second staging replaces the first.
func TestUpgradeStagesOnBootedHost(t *testing.T) {
	ctx := context.Background()
	m := host1(t, "v2", nil)
	e := testEngine(m)
	if _, err := e.Upgrade(ctx, "demo", UpgradeOptions{LockFinalization: true}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v2 v1" || !m.deps[0].Staged || !m.locked {
		t.Fatalf("after locked upgrade: %s staged=%t locked=%t, want v2 (staged, locked) v1", got, m.deps[0].Staged, m.locked)
	}
	if _, err := e.Deploy(ctx, "demo", "version=0.9", DeployOptions{}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v0 v1" || !m.deps[0].Staged || m.locked {
		t.Fatalf("after unlocked deploy: %s staged=%t locked=%t, want v0 (staged, unlocked) v1", got, m.deps[0].Staged, m.locked)
	}
}

// A host not booted from the sysroot keeps writing the boot order directly.
func TestUpgradeWritesDirectlyWhenNotBooted(t *testing.T) {
	m := host1(t, "v2", nil)
	m.deps[0].Booted = false
	p := &recorder{}
	if _, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{LockFinalization: true}, p); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v2 v1" || m.deps[0].Staged || m.locked {
		t.Fatalf("deployments %s staged=%t locked=%t, want v2 v1 written, not staged", got, m.deps[0].Staged, m.locked)
	}
	if !p.said("nothing to lock") {
		t.Fatalf("messages %q do not say the lock was ignored", p.messages)
	}
}

func TestFinalizeDeployment(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		stage      bool // stage v2 first
		lock       bool // with lock-finalization
		osname     string
		opts       FinalizeOptions
		err        string
		wantLocked bool // the lock afterwards
	}{
		{"unlocks", true, true, "demo", FinalizeOptions{Checksum: "v2"}, "", false},
		{"missing checksum allowed", true, true, "demo", FinalizeOptions{AllowMissingChecksum: true}, "", false},
		{"missing checksum", true, true, "demo", FinalizeOptions{}, "Missing expected checksum", true},
		{"wrong checksum", true, true, "demo", FinalizeOptions{Checksum: "v1"}, "Expected staged base checksum v1, but found v2", true},
		{"nothing staged", false, false, "demo", FinalizeOptions{Checksum: "v2"}, "No pending staged deployment", false},
		{"other stateroot", true, true, "other", FinalizeOptions{Checksum: "v2"}, "not for stateroot", true},
		{"already unlocked", true, false, "demo", FinalizeOptions{Checksum: "v2"}, "already unlocked", false},
		{"unlocked allowed", true, false, "demo", FinalizeOptions{Checksum: "v2", AllowUnlocked: true}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := host1(t, "v2", nil)
			e := testEngine(m)
			if tt.stage {
				if _, err := e.Upgrade(ctx, "demo", UpgradeOptions{LockFinalization: tt.lock}, &recorder{}); err != nil {
					t.Fatal(err)
				}
			}
			before := checksums(m.deps)
			err := e.FinalizeDeployment(ctx, tt.osname, tt.opts, &recorder{})
			if tt.err == "" && err != nil {
				t.Fatal(err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if m.locked != tt.wantLocked {
				t.Fatalf("locked = %t, want %t", m.locked, tt.wantLocked)
			}
			if after := checksums(m.deps); after != before {
				t.Fatalf("deployments changed from %s to %s; finalizing only unlocks", before, after)
			}
		})
	}
}

// cleanup -p drops a staged deployment and its lock; rollback leaves it out.
func TestCleanupAndRollbackDropStaged(t *testing.T) {
	ctx := context.Background()
	m := host1(t, "v2", nil)
	m.deploy("demo", "v0", false, nil)
	e := testEngine(m)
	if _, err := e.Upgrade(ctx, "demo", UpgradeOptions{LockFinalization: true}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Cleanup(ctx, "demo", []string{CleanupPending}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v1 v0" || m.locked {
		t.Fatalf("after cleanup -p: %s locked=%t, want v1 v0 and no lock", got, m.locked)
	}
	if _, err := e.Upgrade(ctx, "demo", UpgradeOptions{}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Rollback(ctx, "demo", &recorder{}); err != nil {
		t.Fatal(err)
	}
	if got := checksums(m.deps); got != "v0 v1" {
		t.Fatalf("after rollback: %s, want v0 v1 (the staged v2 dropped)", got)
	}
}
