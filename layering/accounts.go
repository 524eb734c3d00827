package layering

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/strata-os/strata/internal/rpmimport"
)

// accounts reads the user and group databases of the base tree so imported
// files owned by system users get the ids the tree knows them by. Trees keep
// them in /usr/lib (nss-altfiles, as rpm-ostree composes them) and /usr/etc;
// a tree with neither supports only root-owned packages.
func (c *Composer) accounts(ctx context.Context, base, work string) (rpmimport.Options, error) {
	opts := rpmimport.Options{Users: map[string]uint32{}, Groups: map[string]uint32{}}
	for _, db := range []struct {
		file string
		into map[string]uint32
	}{{"passwd", opts.Users}, {"group", opts.Groups}} {
		for _, dir := range []string{"/usr/lib", "/usr/etc"} {
			// Checking out a file puts it inside the (new) destination directory.
			dest := filepath.Join(work, "accounts", strings.ReplaceAll(strings.TrimPrefix(dir, "/"), "/", "-")+"-"+db.file)
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return opts, err
			}
			if err := c.Repo.CheckoutSubpath(ctx, base, dir+"/"+db.file, dest); err != nil {
				continue // the tree does not have this file
			}
			if err := readIDs(filepath.Join(dest, db.file), db.into); err != nil {
				return opts, err
			}
		}
	}
	return opts, nil
}

// readIDs adds name -> id (the third field) of a passwd or group file.
func readIDs(path string, into map[string]uint32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		if _, seen := into[fields[0]]; !seen {
			into[fields[0]] = uint32(id)
		}
	}
	return sc.Err()
}
