package rpmdb

import (
	"context"
	"fmt"
	"strings"
)

// Files lists the paths rpm records for the installed package nevra in the
// rpmdb of the tree at root, as rpm prints them (/etc, /bin… unmapped). Like
// List, it reads a private copy of the database.
func Files(ctx context.Context, root, nevra string) ([]string, error) {
	var out []byte
	err := withPrivateCopy(root, func(dbpath string) (err error) {
		out, err = runRPM(ctx, "--dbpath", dbpath, "-ql", nevra)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing files of %s: %w", nevra, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// Owner names the installed package that ships path (as rpm records paths)
// in the rpmdb of the tree at root. When several own it, the first by name
// is returned. Like List, it reads a private copy of the database.
func Owner(ctx context.Context, root, path string) (Package, error) {
	var out []byte
	err := withPrivateCopy(root, func(dbpath string) (err error) {
		out, err = runRPM(ctx, "--dbpath", dbpath, "-qf", "--qf", queryFormat, path)
		return err
	})
	if err != nil {
		return Package{}, fmt.Errorf("finding the owner of %s: %w", path, err)
	}
	pkgs, err := parseQuery(out)
	if err != nil || len(pkgs) == 0 {
		return Package{}, fmt.Errorf("finding the owner of %s: no package in rpm's answer", path)
	}
	return pkgs[0], nil
}
