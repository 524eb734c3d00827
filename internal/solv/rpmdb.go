package solv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-os/strata/internal/fsutil"
)

// privateRPMDB copies the database files of the rpmdb directory dir into a
// new temporary root (as <tmp>/usr/share/rpm) and returns that root; the
// caller removes it. Files are hard-linked when possible: librpm only reads
// the database, and sqlite writes only its -shm/-wal side files, which are
// never linked. The lock file and shared-memory index are left behind, as
// sqlite and rpm recreate them.
func privateRPMDB(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("reading rpmdb directory: %w", err)
	}
	tmp, err := os.MkdirTemp("", "strata-rpmdb-")
	if err != nil {
		return "", fmt.Errorf("creating private rpmdb copy: %w", err)
	}
	dst := filepath.Join(tmp, "usr/share/rpm")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("creating private rpmdb copy: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == ".rpm.lock" || strings.HasSuffix(name, "-shm") {
			continue
		}
		src := filepath.Join(dir, name)
		// A -wal file may hold committed transactions; it is copied, not
		// linked, because sqlite may truncate it when it is done.
		if !strings.HasSuffix(name, "-wal") && os.Link(src, filepath.Join(dst, name)) == nil {
			continue
		}
		if err := fsutil.CopyFile(src, filepath.Join(dst, name), 0o600); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("creating private rpmdb copy: %w", err)
		}
	}
	return tmp, nil
}
