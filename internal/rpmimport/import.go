package rpmimport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strata-os/strata/internal/nevra"
	"github.com/strata-os/strata/internal/ostree"
)

// Commit metadata keys written on every package commit.
const (
	MetaRepo        = "rpmostree.repo"            // s: id of the rpm-md repo the package came from
	MetaHeader      = "rpmostree.metadata"        // ay: lead + signature header + header
	MetaHeaderSHA   = "rpmostree.metadata_sha256" // s: sha256 of MetaHeader
	MetaState       = "rpmostree.state-sha512"    // s: sha512 of MetaHeader
	MetaNEVRA       = "rpmostree.nevra"           // s: name-[epoch:]version-release.arch
	MetaFormat      = "strata.rpmimport.version"  // u: version of the layout rules used
	importFormatVer = uint32(1)
)

// Options tune an import.
type Options struct {
	// RepoID is recorded as rpmostree.repo (omitted when empty).
	RepoID string
	// Users and Groups map the owner names of the header to ids. "root" is
	// always 0; any other name missing here fails the import.
	Users, Groups map[string]uint32
}

// Result describes an imported (or already present) package.
type Result struct {
	Ref, Commit string
	// The package's identity; its NEVRA method gives the rpmostree.nevra form.
	nevra.Package
	StateSHA512 string
	// Reused is set when the ref already held this exact package: nothing
	// was written and the payload was not read.
	Reused bool
}

// Stats counts import outcomes so callers (and tests) can tell "a second
// install did no import". It is a plain value: callers keep their own.
type Stats struct{ Imported, Reused int }

// Add counts one result.
func (s *Stats) Add(r *Result) {
	if r == nil {
		return
	}
	if r.Reused {
		s.Reused++
	} else {
		s.Imported++
	}
}

// Import reads the RPM at path and commits its files to repo under Ref(...).
// When the ref already points at a commit made from the same header bytes
// (MetaState) by the same layout rules, it returns Reused without reading
// the payload. On any error nothing is left behind: the ref is only set in
// the transaction that writes the commit.
func Import(ctx context.Context, repo *ostree.Repo, path string, opts Options) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	hdrs, err := readPackageHeaders(br)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	pkg, err := readPkgInfo(hdrs.main)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", path, err)
	}
	state := sha512.Sum512(hdrs.prefix)
	res := &Result{
		Ref:         Ref(pkg.Name, pkg.Epoch, pkg.Version, pkg.Release, pkg.Arch),
		Package:     pkg.Package,
		StateSHA512: hex.EncodeToString(state[:]),
	}
	fail := func(err error) (*Result, error) {
		return nil, fmt.Errorf("importing %s: %w", pkg.NEVRA(), err)
	}
	if csum, ok, err := existing(repo, res); err != nil {
		return fail(err)
	} else if ok {
		res.Commit, res.Reused = csum, true
		return res, nil
	}
	pl, err := buildPlan(pkg, owners{users: opts.Users, groups: opts.Groups})
	if err != nil {
		return fail(err)
	}

	work, err := os.MkdirTemp(tmpBase(repo), "strata-rpmimport-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	if err := unpack(ctx, pl, br, work, root); err != nil {
		return fail(err)
	}

	headerSHA := sha256.Sum256(hdrs.prefix)
	md := map[string]any{
		MetaHeader:    hdrs.prefix,
		MetaHeaderSHA: hex.EncodeToString(headerSHA[:]),
		MetaState:     res.StateSHA512,
		MetaNEVRA:     pkg.NEVRA(),
		MetaFormat:    importFormatVer,
	}
	if opts.RepoID != "" {
		md[MetaRepo] = opts.RepoID
	}
	csum, err := repo.CommitDir(ctx, root, "", pkg.NEVRA(), md, res.Ref)
	if err != nil {
		return fail(err)
	}
	res.Commit = csum
	return res, nil
}

// existing returns the commit of res.Ref when it holds the same package.
func existing(repo *ostree.Repo, res *Result) (string, bool, error) {
	csum, err := repo.ResolveRev(res.Ref, true)
	if err != nil || csum == "" {
		return "", false, err
	}
	c, err := repo.ReadCommit(csum)
	if err != nil {
		// A ref to a missing or broken commit is replaced, not trusted.
		return "", false, nil
	}
	if c.Metadata[MetaState] != res.StateSHA512 || c.Metadata[MetaFormat] != importFormatVer {
		return "", false, nil
	}
	return csum, true, nil
}

// tmpBase is the repo's own tmp dir when it has one: same filesystem as the
// objects, and libostree cleans leftovers there.
func tmpBase(repo *ostree.Repo) string {
	dir := filepath.Join(repo.Path(), "tmp")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}

// FilesOf lists the files of a package commit (rev: ref or checksum) from
// the header it stores, through the same layout rules Import used: tree
// paths, modes, owner names, symlink targets and the header's content
// digests. Implicit parent directories and the tmpfiles.d fragment are
// included. Sorted by Path.
func FilesOf(repo *ostree.Repo, rev string) ([]File, error) {
	c, err := repo.ReadCommit(rev)
	if err != nil {
		return nil, fmt.Errorf("listing files of %s: %w", rev, err)
	}
	raw, ok := c.Metadata[MetaHeader].([]byte)
	if !ok {
		return nil, fmt.Errorf("listing files of %s: commit has no %s", rev, MetaHeader)
	}
	hdrs, err := parsePackageHeaders(raw)
	if err != nil {
		return nil, fmt.Errorf("listing files of %s: %w", rev, err)
	}
	pkg, err := readPkgInfo(hdrs.main)
	if err != nil {
		return nil, fmt.Errorf("listing files of %s: %w", rev, err)
	}
	// Owner ids do not show in File, so any id will do here.
	pl, err := buildPlan(pkg, owners{anyName: true})
	if err != nil {
		return nil, fmt.Errorf("listing files of %s: %w", rev, err)
	}
	return pl.files(), nil
}

// unpack reads the payload from r and writes the plan's tree under root.
// Hardlinked content whose carrier is not part of the tree is kept under
// work/blobs.
func unpack(ctx context.Context, pl *plan, r *bufio.Reader, work, root string) error {
	entries := pl.sorted()
	if err := os.Mkdir(root, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if e.kind == kindDir {
			if err := os.Mkdir(filepath.Join(root, e.dest), 0o700); err != nil {
				return err
			}
		}
	}

	var payloadHash hash.Hash
	var src io.Reader = r
	if pl.pkg.PayloadDigest != "" {
		if payloadHash = newDigest(pl.pkg.PayloadDigestAlgo); payloadHash != nil {
			src = io.TeeReader(r, payloadHash)
		}
	}
	srcBuf := bufio.NewReader(src)
	dec, closeDec, err := decompressor(srcBuf, pl.pkg.PayloadCompressor)
	if err != nil {
		return fmt.Errorf("opening payload: %w", err)
	}
	defer closeDec()

	u := &unpacker{pl: pl, root: root, blobs: filepath.Join(work, "blobs"),
		seen: make([]bool, len(pl.pkg.Files)), content: map[int]string{}}
	byName := make(map[string]int, len(pl.pkg.Files))
	for i, f := range pl.pkg.Files {
		byName[f.Path] = i
	}
	cr := &cpioReader{r: dec}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ent, err := cr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading payload: %w", err)
		}
		idx := ent.index
		if !ent.stripped {
			name := strings.TrimPrefix(ent.name, ".")
			var ok bool
			if idx, ok = byName[name]; !ok {
				return fmt.Errorf("payload entry %q is not in the header", ent.name)
			}
		}
		if idx < 0 || idx >= len(pl.pkg.Files) || u.seen[idx] || pl.pkg.Files[idx].ghost() {
			return fmt.Errorf("payload entry %d (%q) is unexpected", idx, ent.name)
		}
		u.seen[idx] = true
		size := ent.size
		if ent.stripped {
			size = u.strippedSize(idx)
		}
		if err := u.entry(idx, cr.data(size), size); err != nil {
			return fmt.Errorf("unpacking %s: %w", pl.pkg.Files[idx].Path, err)
		}
	}
	for i, f := range pl.pkg.Files {
		if !f.ghost() && !u.seen[i] {
			return fmt.Errorf("payload lacks %s (package truncated or corrupt)", f.Path)
		}
	}
	// Read to the very end so the digest covers the whole payload, and so
	// trailing garbage in the compressed stream is noticed by the decoder.
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return fmt.Errorf("reading payload: %w", err)
	}
	if _, err := io.Copy(io.Discard, srcBuf); err != nil {
		return fmt.Errorf("reading payload: %w", err)
	}
	if payloadHash != nil && hex.EncodeToString(payloadHash.Sum(nil)) != pl.pkg.PayloadDigest {
		return errors.New("payload digest mismatch (package is corrupt)")
	}
	if err := u.finishLinks(); err != nil {
		return err
	}
	return u.finish(entries)
}

type unpacker struct {
	pl          *plan
	root, blobs string
	seen        []bool
	// content maps a hardlink set's carrier index to where its bytes are.
	content map[int]string
}

// strippedSize is the data size of a stripped entry: only the last member
// of a hardlink set carries the bytes, as in newc archives.
func (u *unpacker) strippedSize(idx int) int64 {
	f := u.pl.pkg.Files[idx]
	switch f.Mode & sIFMT {
	case sIFREG:
		if set := u.pl.links[idx]; set != nil && set[len(set)-1] != idx {
			return 0
		}
		return int64(f.Size)
	case sIFLNK:
		return int64(len(f.LinkTo))
	}
	return 0
}

func (u *unpacker) entry(idx int, data io.Reader, size int64) error {
	f := u.pl.pkg.Files[idx]
	e := u.pl.byIndex[idx]
	if f.Mode&sIFMT != sIFREG {
		if e != nil && e.kind == kindSymlink {
			p := filepath.Join(u.root, e.dest)
			if err := os.Symlink(e.link, p); err != nil {
				return err
			}
			return unix.Lchown(p, int(e.uid), int(e.gid))
		}
		return nil // directories exist already; /var entries are lines
	}
	set := u.pl.links[idx]
	if set != nil && size == 0 && f.Size > 0 {
		return nil // a hardlink whose bytes come with another member
	}
	if size != int64(f.Size) {
		return fmt.Errorf("payload has %d bytes, header says %d", size, f.Size)
	}
	var dest string
	switch {
	case e != nil:
		dest = filepath.Join(u.root, e.dest)
	case set != nil:
		if err := os.MkdirAll(u.blobs, 0o700); err != nil {
			return err
		}
		dest = filepath.Join(u.blobs, fmt.Sprint(idx))
	default:
		return nil // content under /var: not carried
	}
	if err := u.writeFile(dest, idx, data); err != nil {
		return err
	}
	if set != nil {
		u.content[set[0]] = dest
	}
	return nil
}

func (u *unpacker) writeFile(dest string, idx int, data io.Reader) error {
	f := u.pl.pkg.Files[idx]
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	var sum hash.Hash
	w := io.Writer(out)
	if f.Digest != "" {
		if sum = newDigest(u.pl.pkg.FileDigestAlgo); sum != nil {
			w = io.MultiWriter(out, sum)
		}
	}
	if _, err := io.Copy(w, data); err != nil {
		return noEOF(err)
	}
	if sum != nil && hex.EncodeToString(sum.Sum(nil)) != f.Digest {
		return errors.New("content digest mismatch (package is corrupt)")
	}
	// Owner, then mode, then caps: chown clears setuid bits and caps.
	e := u.pl.byIndex[idx]
	if e == nil {
		e = u.pl.linkedEntry(idx)
	}
	if e != nil {
		if err := out.Chown(int(e.uid), int(e.gid)); err != nil {
			return err
		}
		if err := unix.Fchmod(int(out.Fd()), e.perm); err != nil {
			return err
		}
		if e.caps != nil {
			if err := unix.Fsetxattr(int(out.Fd()), "security.capability", e.caps, 0); err != nil {
				return fmt.Errorf("setting file capabilities: %w", err)
			}
		}
	}
	return out.Close()
}

// linkedEntry is the tree entry of any member of idx's hardlink set (the
// members share one inode, so one set of metadata).
func (pl *plan) linkedEntry(idx int) *planEntry {
	for _, m := range pl.links[idx] {
		if e := pl.byIndex[m]; e != nil {
			return e
		}
	}
	return nil
}

// finishLinks links the tree members of each hardlink set to its bytes.
func (u *unpacker) finishLinks() error {
	for idx, set := range u.pl.links {
		e := u.pl.byIndex[idx]
		if e == nil {
			continue
		}
		src, ok := u.content[set[0]]
		if !ok {
			if u.pl.pkg.Files[idx].Size == 0 {
				src = "" // empty files: nothing was carried, write empty
			} else {
				return fmt.Errorf("payload lacks the content of %s", u.pl.pkg.Files[idx].Path)
			}
		}
		dest := filepath.Join(u.root, e.dest)
		if src == dest {
			continue
		}
		if _, err := os.Lstat(dest); err == nil {
			continue // written from its own (empty) payload entry
		}
		if src == "" {
			if err := u.writeFile(dest, idx, bytes.NewReader(nil)); err != nil {
				return err
			}
			continue
		}
		if err := os.Link(src, dest); err != nil {
			return err
		}
	}
	return nil
}

// finish writes generated files and gives directories their final owner
// and mode, now that nothing more is created inside them.
func (u *unpacker) finish(entries []*planEntry) error {
	for _, e := range entries {
		p := filepath.Join(u.root, e.dest)
		if e.content != nil {
			if err := os.WriteFile(p, e.content, 0o600); err != nil {
				return err
			}
		}
		if e.kind == kindSymlink || (e.kind == kindFile && e.content == nil) {
			continue
		}
		if err := os.Lchown(p, int(e.uid), int(e.gid)); err != nil {
			return err
		}
		if err := unix.Chmod(p, e.perm); err != nil {
			return err
		}
	}
	if err := os.Lchown(u.root, 0, 0); err != nil {
		return err
	}
	return os.Chmod(u.root, 0o755)
}
