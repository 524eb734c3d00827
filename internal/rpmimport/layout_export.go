package rpmimport

import "fmt"

// Placement says where the layout rules put one absolute path, for other
// importers (container image layers) that follow the same rules as RPMs.
type Placement struct {
	// Tree is set when the path is written into the commit at Dest
	// (relative, no leading slash).
	Tree bool
	// Tmpfiles is set for /var and /run: nothing is written; a tmpfiles.d
	// line at Dest (absolute) stands for a directory or symlink.
	Tmpfiles bool
	// Dest is where the path goes; "" when it is dropped.
	Dest string
	// TopCompat marks /bin, /sbin, /lib, /lib64 themselves.
	TopCompat bool
}

// PlacePath applies the layout rules to one absolute path. A path the rules
// refuse gives a *PathError.
func PlacePath(p string) (Placement, error) {
	m, err := mapPath(p)
	if err != nil {
		return Placement{}, err
	}
	switch m.place {
	case placeTree:
		return Placement{Tree: true, Dest: m.dest, TopCompat: m.topCompat}, nil
	case placeTmpfiles:
		return Placement{Tmpfiles: true, Dest: m.dest}, nil
	}
	return Placement{}, nil
}

// LinkEscapes reports whether a symlink at linkPath (absolute) pointing at
// target climbs above the root.
func LinkEscapes(linkPath, target string) bool { return linkEscapes(linkPath, target) }

// TmpfilesDirLine is the tmpfiles.d line creating directory path (absolute)
// with the given mode and owner (names or numeric ids).
func TmpfilesDirLine(path string, perm uint32, user, group string) string {
	return fmt.Sprintf("d %s %04o %s %s - -", tmpfilesQuote(path), perm&0o7777, tmpfilesQuote(user), tmpfilesQuote(group))
}

// TmpfilesLinkLine is the tmpfiles.d line creating symlink path -> target.
func TmpfilesLinkLine(path, target string) (string, error) {
	t, err := tmpfilesLinkTarget(path, target)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("L %s - - - - %s", tmpfilesQuote(path), t), nil
}
