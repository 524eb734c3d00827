package transactions

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-os/strata/internal/rpmimport"
)

// localMatches matches a requested-local entry ("<sha256>:<nevra>") by package
// name, NEVRA or whole entry.
func localMatches(name string) func(string) bool {
	return func(entry string) bool {
		_, nevra, _ := strings.Cut(entry, ":")
		return entry == name || nevra == name || strings.HasPrefix(nevra, name+"-") && nevraName(nevra) == name
	}
}

// nevraName is the name part of name-version-release.arch.
func nevraName(nevra string) string {
	parts := strings.Split(nevra, "-")
	if len(parts) < 3 {
		return nevra
	}
	return strings.Join(parts[:len(parts)-2], "-")
}

// keepLocalPackage copies a local RPM into the sysroot's store, named by its
// sha256, and returns its origin entry "<sha256>:<nevra>".
func keepLocalPackage(s Sysroot, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading local package: %w", err)
	}
	defer f.Close()
	pkg, err := rpmimport.Identify(path)
	if err != nil {
		return "", fmt.Errorf("local package %s: %w", filepath.Base(path), err)
	}
	h := sha256.New()
	dir := filepath.Join(s.Path(), LocalPackagesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".incoming-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(io.MultiWriter(tmp, h), f); err != nil {
		tmp.Close()
		return "", fmt.Errorf("storing local package: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(dir, sum+".rpm")); err != nil {
		return "", err
	}
	nevra := pkg.NEVRA()
	return sum + ":" + nevra, nil
}

// storedLocalPackages finds the stored files of origin entries "<sha256>:<nevra>".
func storedLocalPackages(s Sysroot, entries []string) ([]string, error) {
	var paths []string
	for _, entry := range entries {
		sum, _, _ := strings.Cut(entry, ":")
		path := filepath.Join(s.Path(), LocalPackagesDir, sum+".rpm")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("local package %s is no longer stored (%v); remove its request and give the file again", entry, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
