package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/internal/rpmimport"
)

// Whiteout markers of OCI layers (inherited from AUFS).
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// topLevelKept are top-level directories an OSTree deployment has: the
// directory itself is kept (empty), anything a layer puts inside it is
// dropped and counted, as ostree-rs-ext filters non-/usr content.
var topLevelKept = map[string]bool{
	"boot": true, "dev": true, "proc": true, "sys": true, "tmp": true, "home": true,
	"root": true, "srv": true, "mnt": true, "media": true, "sysroot": true,
}

// topLevelMapped go through the same layout rules as RPM payloads.
var topLevelMapped = map[string]bool{
	"usr": true, "etc": true, "bin": true, "sbin": true, "lib": true, "lib64": true,
	"opt": true, "var": true, "run": true,
}

// ImportLayer reads an uncompressed layer tar and commits it on
// BlobRef(digest), in one repo transaction: a failed or cancelled import
// leaves no ref, and a complete one is reused (LayerCommit) by later pulls.
//
// Paths follow the rules for RPM content (/etc -> /usr/etc, /var and /run
// -> tmpfiles.d lines, /opt -> /usr/lib/opt); content under the other
// top-level directories is dropped and listed in MetaFiltered. Whiteout
// markers are kept as empty files, as ostree-rs-ext keeps them, for Merge.
// "..", device nodes, fifos, symlinks leaving the tree, hardlinks to paths
// the layer did not ship, and anything written through a symlink are
// refused with an error naming the path and the layer.
//
// Entries are streamed straight into the repo: each file's content object
// is written from the tar as it is read, and the tree is kept in memory
// until the commit. The commits are the ones committing the unpacked tree
// from a directory gave (TestLayerFormatStable pins that), at about the
// cost of `ostree commit` of that directory (BenchmarkImportLayer).
func (s *Store) ImportLayer(ctx context.Context, digest string, r io.Reader) (string, error) {
	if !digestRE.MatchString(digest) {
		return "", fmt.Errorf("importing layer %q: not a sha256 digest", digest)
	}
	if csum, ok := s.LayerCommit(digest); ok {
		return csum, nil
	}
	u := &unpacker{digest: digest, root: &node{dir: true, children: map[string]*node{}},
		implicit: map[string]bool{}, filtered: map[string]bool{}, whiteouts: map[string]bool{},
		uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	csum, err := s.Repo.CommitTree(ctx, "layer "+digest, BlobRef(digest), func(b *ostree.TreeBuilder) (map[string]any, error) {
		u.b = b
		if err := u.unpack(ctx, r); err != nil {
			return nil, err
		}
		// A tar ends before its stream does (padding, trailing compressed
		// bytes): read to the end so a verifying reader checks the blob's
		// digest before anything is committed under the blob's ref.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, err
		}
		if u.root.hdr == nil {
			u.implicit[""] = true // the tar had no "./": keep the lower root's metadata
		}
		return u.metadata(), u.emit(u.root, b.Root())
	})
	if err != nil {
		return "", fmt.Errorf("importing layer %s: %w", digest, err)
	}
	return csum, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// node is one entry of the layer's tree, kept in memory until the commit:
// file content is already in the repo (csum), directories are placed and
// given their metadata at the end, as the tar may still add to them.
type node struct {
	dir      bool
	csum     string           // content object of a file or symlink
	regular  bool             // a regular file: a hardlink may point at it
	children map[string]*node // a directory's entries
	hdr      *tar.Header      // a directory's last header; nil = created implicitly
}

type unpacker struct {
	b         *ostree.TreeBuilder
	digest    string
	root      *node
	implicit  map[string]bool
	filtered  map[string]bool
	whiteouts map[string]bool
	tmpLines  []string
	// uid and gid own what the import creates itself (implicit
	// directories, whiteout markers, the tmpfiles.d file).
	uid, gid uint32
	empty    string // content object of an empty marker file, once written
}

func (u *unpacker) metadata() map[string]any {
	return map[string]any{
		MetaLayerDigest:  u.digest,
		MetaLayerFormat:  layerFormat,
		MetaWhiteouts:    sortedKeys(u.whiteouts),
		MetaImplicitDirs: sortedKeys(u.implicit),
		MetaFiltered:     sortedKeys(u.filtered),
	}
}

// entryError names the path and the layer, so a refused image says where.
func (u *unpacker) entryError(name, format string, args ...any) error {
	// Keep a cancellation recognisable (errors.Is(err, context.Canceled)):
	// callers tell an interrupted pull from a bad layer by it.
	for _, a := range args {
		if err, ok := a.(error); ok && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return fmt.Errorf("layer %s: %q: %w", u.digest, name, err)
		}
	}
	return fmt.Errorf("layer %s: %q %s", u.digest, name, fmt.Sprintf(format, args...))
}

func (u *unpacker) unpack(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer %s: %w (truncated or corrupt blob)", u.digest, err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
	if len(u.tmpLines) > 0 {
		dest := "usr/lib/tmpfiles.d/strata-layer-" + strings.TrimPrefix(u.digest, "sha256:")[:12] + ".conf"
		parent, err := u.mkdirs(path.Dir(dest), dest)
		if err != nil {
			return err
		}
		content := strings.Join(u.tmpLines, "\n") + "\n"
		csum, err := u.b.WriteFile(ostree.ObjectMeta{UID: u.uid, GID: u.gid, Mode: 0o644}, int64(len(content)), strings.NewReader(content))
		if err != nil {
			return fmt.Errorf("writing %s: %w", dest, err)
		}
		if err := u.replace(parent, path.Base(dest), dest); err != nil {
			return err
		}
		parent.children[path.Base(dest)] = &node{csum: csum, regular: true}
	}
	return nil
}

// emit places n's subtree into d, directory metadata included: it is only
// known once the whole tar has been read.
func (u *unpacker) emit(n *node, d ostree.Dir) error {
	meta := ostree.ObjectMeta{UID: u.uid, GID: u.gid, Mode: 0o755}
	if n.hdr != nil {
		meta = headerMeta(n.hdr)
	}
	csum, err := u.b.WriteDirMeta(meta)
	if err != nil {
		return err
	}
	u.b.SetMeta(d, csum)
	for name, c := range n.children {
		if !c.dir {
			if err := u.b.SetFile(d, name, c.csum); err != nil {
				return err
			}
			continue
		}
		sub, err := u.b.Subdir(d, name)
		if err != nil {
			return err
		}
		if err := u.emit(c, sub); err != nil {
			return err
		}
	}
	return nil
}

// headerMeta is an entry's owner, mode and xattrs (PAX SCHILY.xattr.*).
func headerMeta(hdr *tar.Header) ostree.ObjectMeta {
	m := ostree.ObjectMeta{UID: uint32(hdr.Uid), GID: uint32(hdr.Gid), Mode: uint32(hdr.Mode & 0o7777)}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if m.Xattrs == nil {
				m.Xattrs = map[string][]byte{}
			}
			m.Xattrs[name] = []byte(v)
		}
	}
	return m
}

// clean turns a tar name into a relative path; "" is the root.
func (u *unpacker) clean(name string) (string, error) {
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", u.entryError(name, `contains ".."`)
		default:
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/"), nil
}

// place maps a cleaned image path to its tree path. keep=false drops it.
func (u *unpacker) place(name, rel string, isDir, isLink bool) (dest string, tmpfiles bool, keep bool, err error) {
	if rel == "" {
		return "", false, true, nil
	}
	top, _, nested := strings.Cut(rel, "/")
	switch {
	case topLevelMapped[top]:
		pl, err := rpmimport.PlacePath("/" + rel)
		if err != nil {
			return "", false, false, fmt.Errorf("layer %s: %w", u.digest, err)
		}
		if pl.TopCompat && isLink {
			return rel, false, true, nil // /bin -> usr/bin: kept for the deployment root
		}
		if pl.Tmpfiles {
			return pl.Dest, true, true, nil
		}
		return pl.Dest, false, pl.Tree, nil
	case topLevelKept[top] && !nested && isDir:
		return rel, false, true, nil
	}
	u.filtered[top] = true
	return "", false, false, nil
}

func (u *unpacker) entry(hdr *tar.Header, data io.Reader) error {
	rel, err := u.clean(hdr.Name)
	if err != nil {
		return err
	}
	base := path.Base(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(hdr, rel, base)
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		return u.entryError(hdr.Name, "is a device node, which images for OSTree may not ship")
	case tar.TypeFifo:
		return u.entryError(hdr.Name, "is a fifo, which OSTree cannot store")
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return u.entryError(hdr.Name, "has unsupported tar type %q", hdr.Typeflag)
	}
	isDir := hdr.Typeflag == tar.TypeDir
	dest, tmpfiles, keep, err := u.place(hdr.Name, rel, isDir, hdr.Typeflag == tar.TypeSymlink)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeSymlink {
		if hdr.Linkname == "" || rpmimport.LinkEscapes("/"+rel, hdr.Linkname) || (dest != "" && rpmimport.LinkEscapes("/"+dest, hdr.Linkname)) {
			return u.entryError(hdr.Name, "is a symlink to %q, which leaves the tree", hdr.Linkname)
		}
	}
	if !keep {
		return nil
	}
	if tmpfiles {
		switch hdr.Typeflag {
		case tar.TypeDir:
			u.tmpLines = append(u.tmpLines, rpmimport.TmpfilesDirLine(dest, uint32(hdr.Mode), strconv.Itoa(hdr.Uid), strconv.Itoa(hdr.Gid)))
		case tar.TypeSymlink:
			line, err := rpmimport.TmpfilesLinkLine(dest, hdr.Linkname)
			if err != nil {
				return fmt.Errorf("layer %s: %w", u.digest, err)
			}
			u.tmpLines = append(u.tmpLines, line)
		case tar.TypeLink:
			return u.entryError(hdr.Name, "is a hardlink under /var or /run, which is not carried")
		}
		return nil // regular files under /var are state; like RPMs, not carried
	}
	if dest == "" {
		if isDir {
			u.root.hdr = hdr
			return nil
		}
		return u.entryError(hdr.Name, "replaces the root directory")
	}
	parent, err := u.mkdirs(path.Dir(dest), hdr.Name)
	if err != nil {
		return err
	}
	name := path.Base(dest)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if n := parent.children[name]; n != nil && n.dir {
			n.hdr = hdr
		} else {
			// A directory replaces a file or symlink of the same layer.
			parent.children[name] = &node{dir: true, children: map[string]*node{}, hdr: hdr}
		}
		delete(u.implicit, dest)
		return nil
	case tar.TypeReg:
		if err := u.replace(parent, name, hdr.Name); err != nil {
			return err
		}
		er := &errReader{r: data}
		csum, err := u.b.WriteFile(headerMeta(hdr), hdr.Size, er)
		if er.err != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("reading layer %s: %s: %w (truncated or corrupt blob)", u.digest, hdr.Name, err)
		}
		if err != nil {
			return u.entryError(hdr.Name, "%v", err)
		}
		parent.children[name] = &node{csum: csum, regular: true}
		return nil
	case tar.TypeSymlink:
		if err := u.replace(parent, name, hdr.Name); err != nil {
			return err
		}
		csum, err := u.b.WriteSymlink(headerMeta(hdr), hdr.Linkname)
		if err != nil {
			return u.entryError(hdr.Name, "%v", err)
		}
		parent.children[name] = &node{csum: csum}
		return nil
	default: // hardlink: the same content object as its target
		trel, err := u.clean(hdr.Linkname)
		if err != nil {
			return u.entryError(hdr.Name, "is a hardlink to %q, which leaves the tree", hdr.Linkname)
		}
		tdest, ttmp, tkeep, err := u.place(hdr.Linkname, trel, false, false)
		if err != nil {
			return err
		}
		var target *node
		if !ttmp && tkeep {
			target = u.lookup(tdest)
		}
		if target == nil || !target.regular {
			return u.entryError(hdr.Name, "is a hardlink to %q, which this layer does not carry as a file", hdr.Linkname)
		}
		if err := u.replace(parent, name, hdr.Name); err != nil {
			return err
		}
		parent.children[name] = &node{csum: target.csum, regular: true}
		return nil
	}
}

// errReader remembers a read error, to tell a truncated blob from a
// failing repo write.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

// whiteout keeps a marker as an empty file and records it for Merge.
func (u *unpacker) whiteout(hdr *tar.Header, rel, base string) error {
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) && base != whiteoutOpaque {
		return nil // AUFS bookkeeping (.wh..wh.plnk), no meaning here
	}
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	ddest, tmpfiles, keep, err := u.place(hdr.Name, dir, true, false)
	if err != nil {
		return err
	}
	if !keep || tmpfiles {
		return nil // deletes nothing a deployment carries
	}
	parent, err := u.mkdirs(ddest, hdr.Name)
	if err != nil {
		return err
	}
	if err := u.replace(parent, base, hdr.Name); err != nil {
		return err
	}
	if u.empty == "" {
		if u.empty, err = u.b.WriteFile(ostree.ObjectMeta{UID: u.uid, GID: u.gid, Mode: 0o644}, 0, strings.NewReader("")); err != nil {
			return u.entryError(hdr.Name, "%v", err)
		}
	}
	parent.children[base] = &node{csum: u.empty, regular: true}
	u.whiteouts[path.Join(ddest, base)] = true
	return nil
}

// mkdirs returns directory dir, creating the missing parts as implicit
// directories; a path that goes through a symlink (or a file) is refused,
// so a layer cannot write outside its tree.
func (u *unpacker) mkdirs(dir, name string) (*node, error) {
	n := u.root
	if dir == "." || dir == "" {
		return n, nil
	}
	cur := ""
	for _, part := range strings.Split(dir, "/") {
		cur = path.Join(cur, part)
		c := n.children[part]
		if c == nil {
			c = &node{dir: true, children: map[string]*node{}}
			n.children[part] = c
			u.implicit[cur] = true
		} else if !c.dir {
			return nil, u.entryError(name, "would be written through /%s, which is not a directory", cur)
		}
		n = c
	}
	return n, nil
}

// lookup finds the node at tree path p, nil when there is none.
func (u *unpacker) lookup(p string) *node {
	n := u.root
	for _, part := range strings.Split(p, "/") {
		if n == nil || !n.dir {
			return nil
		}
		n = n.children[part]
	}
	return n
}

// replace lets a later entry of the same layer win over an earlier one at
// the same path (a tar may carry a path twice), but never over a directory.
func (u *unpacker) replace(parent *node, name, entry string) error {
	if c := parent.children[name]; c != nil && c.dir {
		return u.entryError(entry, "replaces a directory of the same layer")
	}
	return nil
}
