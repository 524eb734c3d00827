package rpmimport

import (
	"bufio"
	"fmt"
	"os"
)

// Identify reads only the headers of the RPM at path (checked as Import
// checks them) and returns its name, epoch, version, release and arch, for
// callers that must name an untrusted package before importing it.
func Identify(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hdrs, err := readPackageHeaders(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("not a valid RPM: %w", err)
	}
	pkg, err := readPkgInfo(hdrs.main)
	if err != nil {
		return nil, fmt.Errorf("not a valid RPM: %w", err)
	}
	return &Result{
		Ref:     Ref(pkg.Name, pkg.Epoch, pkg.Version, pkg.Release, pkg.Arch),
		Package: pkg.Package,
	}, nil
}
