package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bootEntryOptions returns the options line of the default deployment's boot
// loader entry, as libostree wrote it.
func (e *env) bootEntryOptions() string {
	e.t.Helper()
	entries, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "boot/loader/entries/ostree-*.conf"))
	best, bestVersion := "", -1
	for _, path := range entries {
		b, err := os.ReadFile(path)
		if err != nil {
			e.t.Fatal(err)
		}
		var version int
		var options string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "version "); ok {
				version, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(line, "options "); ok {
				options = v
			}
		}
		if version > bestVersion {
			best, bestVersion = options, version
		}
	}
	return best
}

func TestKernelArgs(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := strings.TrimSpace(e.mustStrata("kargs"))
	out := e.mustStrata("kargs", "--append=strata.test=1", "--append=quiet")
	if !strings.Contains(out, "Kernel arguments updated.") {
		t.Errorf("kargs --append output: %s", out)
	}
	if got := e.versions(); got != "1.0 1.0" {
		t.Errorf("kargs should deploy the same commit again: %q", got)
	}
	opts := e.bootEntryOptions()
	if !strings.Contains(opts, "strata.test=1") || !strings.Contains(opts, "quiet") {
		t.Errorf("boot entry options %q lack the appended arguments", opts)
	}
	now := strings.TrimSpace(e.mustStrata("kargs"))
	if !strings.Contains(now, "strata.test=1") || now == before {
		t.Errorf("strata kargs shows %q after appending (before: %q)", now, before)
	}
	e.mustStrata("kargs", "--replace=strata.test=2", "--delete=quiet")
	opts = e.bootEntryOptions()
	if !strings.Contains(opts, "strata.test=2") || strings.Contains(opts, "strata.test=1") || strings.Contains(opts, "quiet") {
		t.Errorf("boot entry options after replace/delete: %q", opts)
	}
	e.expectFailure("not present", "kargs", "--delete=nosuch")
}
