package rpmimport

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// st_mode type bits.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// PathError is a payload path the layout rules refuse.
type PathError struct {
	Path   string // as the package names it
	Reason string
}

func (e *PathError) Error() string { return fmt.Sprintf("payload path %q %s", e.Path, e.Reason) }

const reasonOutside = "is outside what packages may ship (/usr, /etc, /var, /opt)"

// placement says what happens to one payload path.
type placement int

const (
	placeTree     placement = iota // written into the commit at dest
	placeTmpfiles                  // /var, /run: a tmpfiles.d line at dest (absolute)
	placeSkip                      // dropped: provided by the base or meaningless in a tree
)

// family marks the first level under /opt and /usr/local: those directories
// are symlinks into /var on the host, so content moves under /usr/lib and a
// tmpfiles.d symlink points the host path at it.
type family int

const (
	familyNone family = iota
	familyOpt
	familyUsrLocal
)

// mapping is where mapPath sends one path.
type mapping struct {
	place placement
	dest  string
	// topCompat is set for /bin, /sbin, /lib, /lib64 themselves: a symlink
	// there is the usrmove link the base already has.
	topCompat bool
	fam       family
	famName   string // the <X> of /opt/<X>/... or /usr/local/<X>/...
}

// mapPath applies the layout rules to one absolute payload path. It is the
// only place those rules live; Import and FilesOf both go through it.
func mapPath(p string) (mapping, error) {
	if !utf8.ValidString(p) {
		return mapping{}, &PathError{p, "is not valid UTF-8"}
	}
	if !strings.HasPrefix(p, "/") {
		return mapping{}, &PathError{p, "is not absolute"}
	}
	var c []string
	for _, part := range strings.Split(p[1:], "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			return mapping{}, &PathError{p, `contains ".."`}
		}
		c = append(c, part)
	}
	if len(c) == 0 {
		return mapping{place: placeSkip}, nil
	}
	rel := strings.Join(c, "/")
	switch c[0] {
	case "usr":
		if len(c) >= 2 && c[1] == "local" {
			if len(c) == 2 {
				return mapping{place: placeSkip}, nil
			}
			return mapping{place: placeTree, dest: "usr/lib/usrlocal/" + strings.Join(c[2:], "/"),
				fam: familyUsrLocal, famName: c[2]}, nil
		}
		return mapping{place: placeTree, dest: rel}, nil
	case "bin", "sbin", "lib", "lib64":
		return mapping{place: placeTree, dest: "usr/" + rel, topCompat: len(c) == 1}, nil
	case "etc":
		return mapping{place: placeTree, dest: "usr/" + rel}, nil
	case "opt":
		if len(c) == 1 {
			return mapping{place: placeSkip}, nil
		}
		return mapping{place: placeTree, dest: "usr/lib/" + rel, fam: familyOpt, famName: c[1]}, nil
	case "var":
		switch {
		case len(c) == 1:
			return mapping{place: placeSkip}, nil
		case len(c) >= 3 && c[1] == "lib" && c[2] == "rpm":
			// The tree's rpmdb lives in /usr/share/rpm; a package's own
			// /var/lib/rpm content would only confuse it.
			return mapping{place: placeSkip}, nil
		case c[1] == "run":
			// /var/run is a symlink to /run; tmpfiles warns on the old path.
			if len(c) == 2 {
				return mapping{place: placeSkip}, nil
			}
			return mapping{place: placeTmpfiles, dest: "/run/" + strings.Join(c[2:], "/")}, nil
		}
		return mapping{place: placeTmpfiles, dest: "/" + rel}, nil
	case "run":
		if len(c) == 1 {
			return mapping{place: placeSkip}, nil
		}
		return mapping{place: placeTmpfiles, dest: "/" + rel}, nil
	}
	return mapping{}, &PathError{p, reasonOutside}
}

// linkEscapes reports whether a symlink at linkPath (absolute, already
// validated by mapPath) pointing at target climbs above the root. The check
// is lexical: it cannot see through other symlinks, but every link of the
// package is checked the same way, so a chain of them stays inside too.
func linkEscapes(linkPath, target string) bool {
	var stack []string
	if !strings.HasPrefix(target, "/") {
		for _, part := range strings.Split(linkPath, "/") {
			if part != "" && part != "." {
				stack = append(stack, part)
			}
		}
		if len(stack) > 0 {
			stack = stack[:len(stack)-1] // the link's own name
		}
	}
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if len(stack) == 0 {
				return true
			}
			stack = stack[:len(stack)-1]
		default:
			stack = append(stack, part)
		}
	}
	return false
}

// tmpfilesQuote writes a path (or user/group name) as one tmpfiles.d field:
// systemd-tmpfiles unquotes and C-unescapes fields and expands %-specifiers.
func tmpfilesQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	safe := s != ""
	for i := 0; i < len(s) && safe; i++ {
		c := s[i]
		safe = c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\'
	}
	if safe {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tmpfilesLinkTarget checks a symlink target for the last field of an L
// line, which systemd takes verbatim to the end of the line (only
// %-specifiers expanded), so it cannot carry control characters or start
// with blanks.
func tmpfilesLinkTarget(path, target string) (string, error) {
	if target == "" || target[0] == ' ' || target[0] == '\t' {
		return "", &PathError{path, fmt.Sprintf("is a symlink whose target %q cannot be written to tmpfiles.d", target)}
	}
	for i := 0; i < len(target); i++ {
		if target[i] < ' ' || target[i] == 0x7f {
			return "", &PathError{path, fmt.Sprintf("is a symlink whose target %q cannot be written to tmpfiles.d", target)}
		}
	}
	return strings.ReplaceAll(target, "%", "%%"), nil
}

// familyLines are the tmpfiles.d symlinks for content moved out of /opt and
// /usr/local. The relative target is resolved from /var/opt (resp.
// /var/usrlocal), where the host's /opt (resp. /usr/local) points.
func familyLines(opt, usrlocal map[string]bool) []string {
	var out []string
	for _, f := range []struct {
		names       map[string]bool
		host, where string
	}{{opt, "/opt/", "../../usr/lib/opt/"}, {usrlocal, "/usr/local/", "../../usr/lib/usrlocal/"}} {
		names := make([]string, 0, len(f.names))
		for n := range f.names {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			target, _ := tmpfilesLinkTarget(f.host+n, f.where+n) // checked when planned
			out = append(out, fmt.Sprintf("L %s - - - - %s", tmpfilesQuote(f.host+n), target))
		}
	}
	return out
}
