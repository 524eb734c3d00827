package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRpmOstreeMessages: where rpm-ostree's own tests and widely used
// scripts match a message, strata prints the same words (its own hint may
// follow).
func TestRpmOstreeMessages(t *testing.T) {
	e := newLayeringEnv(t)
	e.expectFailure("Packages not found: no-such-package", "install", "no-such-package")

	if out := e.mustStrata("refresh-md"); !strings.Contains(out, "rpm-md repo 'demo-pkgs'; generated: ") {
		t.Errorf("refresh-md:\n%s", out)
	}
	// The fixture's repo expires its metadata at once; with an hour, the
	// second refresh finds it current.
	repoFiles, _ := filepath.Glob(filepath.Join(e.host.Sysroot, "ostree/deploy/*/deploy/*/etc/yum.repos.d/*.repo"))
	for _, f := range repoFiles {
		data, _ := os.ReadFile(f)
		os.WriteFile(f, []byte(strings.ReplaceAll(string(data), "metadata_expire=0", "metadata_expire=1h")), 0o644)
	}
	e.mustStrata("refresh-md")
	if out := e.mustStrata("refresh-md"); !strings.Contains(out, "rpm-md repo 'demo-pkgs' (cached); generated: ") {
		t.Errorf("refresh-md with current metadata:\n%s", out)
	}

	e.mustStrata("install", "demo-extra")
	if out, _, _ := e.strata("upgrade", "--check"); !strings.Contains(out, "Note: --check and --preview may be unreliable.  See https://github.com/coreos/rpm-ostree/issues/1579") {
		t.Errorf("upgrade --check on a layered deployment:\n%s", out)
	}

	e.mustStrata("kargs", "--append=console=ttyS0", "--append=console=tty1")
	e.expectFailure("Multiple values for key 'console' found", "kargs", "--delete=console")

	e.mustStrata("deploy", "2.0")
	e.expectFailure("is chronologically older than current revision", "deploy", "1.0", "--disallow-downgrade")
	e.mustStrata("upgrade") // follows the ref again
	if out := e.mustStrata("upgrade"); !strings.Contains(out, "No upgrade available.") {
		t.Errorf("upgrade with nothing new:\n%s", out)
	}
}
