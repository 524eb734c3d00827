package rpmimport

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
)

// entryKind is what an entry of the commit is.
type entryKind int

const (
	kindFile entryKind = iota
	kindDir
	kindSymlink
)

// planEntry is one path of the commit.
type planEntry struct {
	dest  string // relative to the tree root, no leading slash
	kind  entryKind
	index int // index in pkgInfo.Files; -1 for implicit dirs and the tmpfiles fragment
	perm  uint32
	uid   uint32
	gid   uint32
	user  string
	group string
	link  string
	caps  []byte // security.capability value, nil for none
	// content is set for generated files (the tmpfiles.d fragment).
	content []byte
}

// linkKey identifies a hardlink set in the header.
type linkKey struct{ dev, ino uint32 }

// plan is everything an import will write, worked out from the header
// alone: path errors surface before a byte of payload is read, and FilesOf
// can list a commit's files without walking it.
type plan struct {
	pkg     *pkgInfo
	entries map[string]*planEntry // by dest
	byIndex []*planEntry          // nil where a header file is not written
	// links maps each hardlinked file's index to its set; sets have two or
	// more members, including members that are not written (/var).
	links map[int][]int
}

// owners maps user and group names to ids.
type owners struct {
	users, groups map[string]uint32
	// anyName accepts every name (as id 0): FilesOf reports names only.
	anyName bool
}

func (o owners) lookup(names map[string]uint32, name string) (uint32, bool) {
	if name == "root" || o.anyName {
		return 0, true
	}
	id, ok := names[name]
	return id, ok
}

// tmpfilesPath is where a package's /var and /run entries go.
func tmpfilesPath(name string) string { return "usr/lib/tmpfiles.d/pkg-" + name + ".conf" }

func buildPlan(pkg *pkgInfo, own owners) (*plan, error) {
	pl := &plan{
		pkg:     pkg,
		entries: map[string]*planEntry{},
		byIndex: make([]*planEntry, len(pkg.Files)),
		links:   map[int][]int{},
	}
	var tmpLines []string
	opt, usrlocal := map[string]bool{}, map[string]bool{}
	sets := map[linkKey][]int{}
	from := map[string]string{} // dest -> package path, for collision messages

	for i, f := range pkg.Files {
		if f.ghost() {
			continue // not in the payload: nothing to write
		}
		var kind entryKind
		switch f.Mode & sIFMT {
		case sIFREG:
			kind = kindFile
		case sIFDIR:
			kind = kindDir
		case sIFLNK:
			kind = kindSymlink
		case sIFCHR, sIFBLK:
			return nil, &PathError{f.Path, "is a device node, which packages may not ship"}
		case sIFIFO:
			return nil, &PathError{f.Path, "is a fifo, which packages may not ship"}
		case sIFSOCK:
			return nil, &PathError{f.Path, "is a socket, which packages may not ship"}
		default:
			return nil, &PathError{f.Path, fmt.Sprintf("has unknown file type %o", f.Mode&sIFMT)}
		}
		m, err := mapPath(f.Path)
		if err != nil {
			return nil, err
		}
		if kind == kindSymlink && (f.LinkTo == "" || linkEscapes(f.Path, f.LinkTo)) {
			return nil, &PathError{f.Path, fmt.Sprintf("is a symlink to %q, which leaves the tree", f.LinkTo)}
		}
		if kind == kindFile && f.Inode != 0 {
			k := linkKey{f.Device, f.Inode}
			sets[k] = append(sets[k], i)
		}
		perm := f.Mode & 0o7777
		switch m.place {
		case placeSkip:
			continue
		case placeTmpfiles:
			switch kind {
			case kindDir:
				tmpLines = append(tmpLines, fmt.Sprintf("d %s %04o %s %s - -",
					tmpfilesQuote(m.dest), perm, tmpfilesQuote(f.User), tmpfilesQuote(f.Group)))
			case kindSymlink:
				target, err := tmpfilesLinkTarget(f.Path, f.LinkTo)
				if err != nil {
					return nil, err
				}
				tmpLines = append(tmpLines, fmt.Sprintf("L %s - - - - %s", tmpfilesQuote(m.dest), target))
			}
			// Regular files under /var are state the package seeds; like
			// rpm-ostree we do not carry them.
			continue
		}
		if m.topCompat && kind == kindSymlink {
			continue // /bin -> usr/bin: the base has that link already
		}
		switch m.fam {
		case familyOpt:
			opt[m.famName] = true
		case familyUsrLocal:
			usrlocal[m.famName] = true
		}
		if m.fam != familyNone {
			if _, err := tmpfilesLinkTarget(f.Path, m.famName); err != nil {
				return nil, err
			}
		}
		if prev, ok := from[m.dest]; ok {
			return nil, &PathError{f.Path, fmt.Sprintf("lands on /%s, as %q does", m.dest, prev)}
		}
		from[m.dest] = f.Path
		e := &planEntry{dest: m.dest, kind: kind, index: i, user: f.User, group: f.Group}
		var ok bool
		if e.uid, ok = own.lookup(own.users, f.User); !ok {
			return nil, &PathError{f.Path, fmt.Sprintf("is owned by user %q, which has no known id", f.User)}
		}
		if e.gid, ok = own.lookup(own.groups, f.Group); !ok {
			return nil, &PathError{f.Path, fmt.Sprintf("is owned by group %q, which has no known id", f.Group)}
		}
		switch kind {
		case kindDir:
			// Directories stay writable by their owner (rpm-ostree does the
			// same, rhbz#517575) and never keep setuid/setgid.
			e.perm = (perm | 0o200) &^ 0o6000
		case kindSymlink:
			e.perm = 0o777
			e.link = f.LinkTo
		case kindFile:
			e.perm = perm
			if f.Caps != "" {
				if e.caps, err = capsXattr(f.Caps); err != nil {
					return nil, &PathError{f.Path, fmt.Sprintf("has file capabilities %q that cannot be parsed: %v", f.Caps, err)}
				}
			}
		}
		pl.entries[m.dest] = e
		pl.byIndex[i] = e
	}

	for _, members := range sets {
		if len(members) < 2 {
			continue
		}
		for _, i := range members {
			pl.links[i] = members
		}
	}

	lines := append(familyLines(opt, usrlocal), tmpLines...)
	if len(lines) > 0 {
		dest := tmpfilesPath(pkg.Name)
		if prev, ok := from[dest]; ok {
			return nil, &PathError{prev, "collides with the tmpfiles.d fragment generated for the package"}
		}
		pl.entries[dest] = &planEntry{dest: dest, kind: kindFile, index: -1, perm: 0o644,
			user: "root", group: "root", content: []byte(strings.Join(lines, "\n") + "\n")}
	}
	return pl, pl.addParents()
}

// addParents checks that every ancestor of an entry is a directory and adds
// the ones the package does not list (0755 root:root).
func (pl *plan) addParents() error {
	dests := make([]string, 0, len(pl.entries))
	for d := range pl.entries {
		dests = append(dests, d)
	}
	for _, d := range dests {
		for dir := path.Dir(d); dir != "."; dir = path.Dir(dir) {
			e, ok := pl.entries[dir]
			if !ok {
				pl.entries[dir] = &planEntry{dest: dir, kind: kindDir, index: -1, perm: 0o755, user: "root", group: "root"}
				continue
			}
			if e.kind != kindDir {
				p := pl.pkgPath(pl.entries[d])
				return &PathError{p, fmt.Sprintf("would be inside /%s, which is not a directory", dir)}
			}
		}
	}
	return nil
}

func (pl *plan) pkgPath(e *planEntry) string {
	if e.index < 0 {
		return "/" + e.dest
	}
	return pl.pkg.Files[e.index].Path
}

// sorted returns the entries by dest, parents before children.
func (pl *plan) sorted() []*planEntry {
	out := make([]*planEntry, 0, len(pl.entries))
	for _, e := range pl.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dest < out[j].dest })
	return out
}

// File is one path a package commit ships, for the assembler's conflict
// checks. Owners are names, as rpm compares them.
type File struct {
	Path        string // in the tree, no leading slash: "usr/etc/foo.conf"
	PackagePath string // as the package names it ("/etc/foo.conf"); "" for generated entries
	Mode        uint32 // st_mode as committed: type bits | permission bits
	User, Group string
	LinkTarget  string
	// Digest is "<algo>:<hex>" of a regular file's content ("sha256:…"),
	// from the header's file digests; "" for other types or when the
	// header has none.
	Digest string
	Size   int64
}

func (pl *plan) files() []File {
	var out []File
	for _, e := range pl.sorted() {
		f := File{Path: e.dest, User: e.user, Group: e.group, LinkTarget: e.link, Mode: e.perm}
		switch e.kind {
		case kindDir:
			f.Mode |= sIFDIR
		case kindSymlink:
			f.Mode |= sIFLNK
		case kindFile:
			f.Mode |= sIFREG
		}
		if e.index >= 0 {
			rf := pl.pkg.Files[e.index]
			f.PackagePath = rf.Path
			if e.kind == kindFile {
				f.Size = int64(rf.Size)
				if rf.Digest != "" {
					if name := digestName(pl.pkg.FileDigestAlgo); name != "" {
						f.Digest = name + ":" + rf.Digest
					}
				}
			}
		} else if e.content != nil {
			sum := sha256.Sum256(e.content)
			f.Digest = "sha256:" + hex.EncodeToString(sum[:])
			f.Size = int64(len(e.content))
		}
		out = append(out, f)
	}
	return out
}
