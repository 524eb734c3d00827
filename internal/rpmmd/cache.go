package rpmmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxDataSize bounds a metadata file whose size repomd.xml does not state.
const maxDataSize = 4 << 30

// stateName is the commit point of a repo's cache: the files it names are
// the cache, whatever else lies in the directory.
const stateName = "state.json"

// Cache keeps fetched repository metadata under Dir, one directory per repo
// id. A Cache must not be copied after first use.
type Cache struct {
	Dir    string
	Client *http.Client     // nil: a default client with connect/header timeouts
	Now    func() time.Time // nil: time.Now

	once      sync.Once
	defClient *http.Client
}

// Metadata is a repository's metadata as cached on disk.
type Metadata struct {
	RepoID         string
	Revision       string
	Timestamp      time.Time // newest timestamp of the data files
	RepomdChecksum string    // sha256 of repomd.xml
	// Primary and Filelists are absolute paths of the files as served
	// (compressed: .xml.gz, .xml.zst, ...). Filelists is empty when the
	// repository has none.
	Primary, Filelists string
	FetchedAt          time.Time // when the repository was last contacted
	BaseURL            string    // the baseurl the metadata came from
}

// state is the on-disk record of a repo's cache.
type state struct {
	Version        int        `json:"version"`
	RepoID         string     `json:"repo_id"`
	BaseURL        string     `json:"baseurl"`
	Revision       string     `json:"revision"`
	Timestamp      int64      `json:"timestamp"`
	RepomdChecksum string     `json:"repomd_sha256"`
	FetchedAt      time.Time  `json:"fetched_at"`
	Primary        *stateFile `json:"primary"`
	Filelists      *stateFile `json:"filelists,omitempty"`
}

type stateFile struct {
	Name         string `json:"name"`
	ChecksumType string `json:"checksum_type"`
	Checksum     string `json:"checksum"`
	Size         int64  `json:"size"`
}

// Close lets go of the connections the cache's own client keeps open for
// reuse. A daemon makes a Cache per transaction; without this every
// transaction that downloaded something left a connection (and its
// goroutines) behind. A Client given by the caller is the caller's to close.
func (c *Cache) Close() {
	if c.defClient != nil {
		c.defClient.CloseIdleConnections()
	}
}

func (c *Cache) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	c.once.Do(func() { c.defClient = newDefaultClient() })
	return c.defClient
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) repoDir(id string) (string, error) {
	if c.Dir == "" {
		return "", fmt.Errorf("metadata cache has no directory")
	}
	if err := CheckRepoID(id); err != nil {
		return "", err
	}
	dir, err := filepath.Abs(filepath.Join(c.Dir, id))
	if err != nil {
		return "", fmt.Errorf("metadata cache directory: %w", err)
	}
	return dir, nil
}

// Load returns repo's metadata, fetching it when the cache has none, when it
// is older than repo.MetadataExpire, when it came from a baseurl the repo no
// longer lists, or when force is set. If repomd.xml has not changed, the
// cached data files are kept rather than downloaded again. Baseurls are tried
// in order. The bool reports whether the repository was contacted.
//
// A failed fetch leaves the previous cache as it was; callers that honour
// skip_if_unavailable can fall back to Cached.
func (c *Cache) Load(ctx context.Context, repo Repo, force bool, progress func(repoID string, done, total int64)) (*Metadata, bool, error) {
	dir, err := c.repoDir(repo.ID)
	if err != nil {
		return nil, false, fmt.Errorf("repo %s: %w", repo.ID, err)
	}
	if len(repo.BaseURLs) == 0 {
		if repo.Metalink != "" || repo.Mirrorlist != "" {
			return nil, false, fmt.Errorf("repo %s uses metalink/mirrorlist, which strata does not support yet; set baseurl", repo.ID)
		}
		return nil, false, fmt.Errorf("repo %s has no baseurl; set one in %s", repo.ID, orUnknown(repo.File))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("repo %s: creating metadata cache: %w", repo.ID, err)
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return nil, false, fmt.Errorf("repo %s: %w", repo.ID, err)
	}
	defer unlock()
	removeTemps(dir)

	old, _ := readState(dir, repo.ID)
	if !force && old != nil && c.fresh(repo, old) {
		if md, err := metadataFromState(dir, old); err == nil {
			return md, false, nil
		}
	}
	var errs []error
	for _, base := range repo.BaseURLs {
		md, err := c.refresh(ctx, dir, repo, base, old, progress)
		if err == nil {
			return md, true, nil
		}
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("repo %s: %w", repo.ID, err)
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return nil, false, fmt.Errorf("repo %s: %w", repo.ID, errs[0])
	}
	format := "repo %s: all %d baseurls failed"
	args := []any{repo.ID, len(errs)}
	for i, e := range errs {
		format += fmt.Sprintf("; [%d] %%w", i+1)
		args = append(args, e)
	}
	return nil, false, fmt.Errorf(format, args...)
}

// Cached returns what the cache holds for repo without touching the
// network. The error wraps fs.ErrNotExist when there is nothing cached.
func (c *Cache) Cached(repo Repo) (*Metadata, error) {
	dir, err := c.repoDir(repo.ID)
	if err != nil {
		return nil, fmt.Errorf("repo %s: %w", repo.ID, err)
	}
	st, err := readState(dir, repo.ID)
	if err != nil {
		return nil, fmt.Errorf("repo %s: no usable cached metadata (refresh it): %w", repo.ID, err)
	}
	md, err := metadataFromState(dir, st)
	if err != nil {
		return nil, fmt.Errorf("repo %s: no usable cached metadata (refresh it): %w", repo.ID, err)
	}
	return md, nil
}

// Clean removes the whole cache directory.
func (c *Cache) Clean() error {
	if c.Dir == "" || filepath.Clean(c.Dir) == "/" {
		return fmt.Errorf("refusing to remove metadata cache directory %q", c.Dir)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("removing metadata cache: %w", err)
	}
	return nil
}

func (c *Cache) fresh(repo Repo, st *state) bool {
	listed := false
	for _, b := range repo.BaseURLs {
		listed = listed || b == st.BaseURL
	}
	if !listed {
		return false
	}
	if repo.MetadataExpire < 0 {
		return true
	}
	age := c.now().Sub(st.FetchedAt)
	return age >= 0 && age < repo.MetadataExpire
}

// refresh fetches repomd.xml from one baseurl and brings the cache in line
// with it. Data files go in under names made of their type and checksum, so
// a new file never overwrites one the current state names; the state file,
// renamed into place last, switches the cache over in one step.
func (c *Cache) refresh(ctx context.Context, dir string, repo Repo, base string, old *state, progress func(string, int64, int64)) (*Metadata, error) {
	repomdURL, err := joinURL(base, "repodata/repomd.xml")
	if err != nil {
		return nil, err
	}
	var buf strings.Builder
	if _, err := c.fetch(ctx, repomdURL, &buf, MaxRepomdSize, nil); err != nil {
		return nil, err
	}
	raw := []byte(buf.String())
	rm, err := ParseRepomd(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", repomdURL, err)
	}
	sum := sha256.Sum256(raw)
	st := &state{
		Version:        1,
		RepoID:         repo.ID,
		BaseURL:        base,
		Revision:       rm.Revision,
		Timestamp:      rm.Timestamp().Unix(),
		RepomdChecksum: hex.EncodeToString(sum[:]),
		FetchedAt:      c.now().UTC(),
	}
	if rm.Timestamp().IsZero() {
		st.Timestamp = 0
	}

	var wanted []DataFile
	for _, t := range []string{"primary", "filelists"} {
		if d, ok := rm.Data[t]; ok {
			wanted = append(wanted, d)
		}
	}
	// Count only what must be downloaded, so progress ends at its total.
	var todo []DataFile
	var total int64
	for _, d := range wanted {
		if !haveFile(filepath.Join(dir, dataFileName(d)), d) {
			todo = append(todo, d)
			if total >= 0 && d.Size > 0 {
				total += d.Size
			} else {
				total = -1
			}
		}
	}
	var done int64
	for _, d := range todo {
		n, err := c.downloadData(ctx, dir, repo.ID, base, d, func(k int64) {
			if progress != nil {
				progress(repo.ID, done+k, total)
			}
		})
		if err != nil {
			return nil, err
		}
		done += n
	}
	for _, d := range wanted {
		f := &stateFile{Name: dataFileName(d), ChecksumType: d.ChecksumType, Checksum: d.Checksum}
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			return nil, fmt.Errorf("cached %s: %w", d.Type, err)
		}
		f.Size = fi.Size()
		if d.Type == "primary" {
			st.Primary = f
		} else {
			st.Filelists = f
		}
	}

	if err := writeFileAtomic(dir, "repomd.xml", raw); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding cache state: %w", err)
	}
	if err := writeFileAtomic(dir, stateName, append(js, '\n')); err != nil {
		return nil, err
	}
	prune(dir, st)
	return metadataFromState(dir, st)
}

// downloadData downloads one data file into the cache under its final name,
// verifying size and checksum before the rename.
func (c *Cache) downloadData(ctx context.Context, dir, repoID, base string, d DataFile, onBytes func(int64)) (int64, error) {
	u, err := joinURL(base, d.Href)
	if err != nil {
		return 0, err
	}
	limit := int64(maxDataSize)
	if d.Size > 0 {
		limit = d.Size
	}
	name := dataFileName(d)
	var n int64
	err = writeVerified(dir, name, func(w io.Writer) (string, error) {
		h, _ := newHash(d.ChecksumType)
		var ferr error
		n, ferr = c.fetch(ctx, u, io.MultiWriter(w, h), limit, func(done, _ int64) { onBytes(done) })
		if ferr != nil {
			return "", ferr
		}
		if d.Size > 0 && n != d.Size {
			return "", &ChecksumError{RepoID: repoID, What: d.Type, URL: u, Size: true,
				Expected: fmt.Sprintf("%d bytes", d.Size), Got: fmt.Sprintf("%d bytes", n)}
		}
		got := hex.EncodeToString(h.Sum(nil))
		if got != d.Checksum {
			return "", &ChecksumError{RepoID: repoID, What: d.Type, URL: u,
				Expected: d.ChecksumType + ":" + d.Checksum, Got: d.ChecksumType + ":" + got}
		}
		return got, nil
	})
	return n, err
}

// DownloadPackage downloads the package at href (relative to md.BaseURL, as
// primary.xml gives it) to dest, verifying its checksum. On any error dest
// is left untouched and no partial file remains.
func (c *Cache) DownloadPackage(ctx context.Context, md *Metadata, href, checksumType, checksum, dest string, progress func(done, total int64)) error {
	if md == nil {
		return fmt.Errorf("downloading %s: no repository metadata", href)
	}
	if err := CheckHref(href); err != nil {
		return fmt.Errorf("repo %s: downloading package: %w", md.RepoID, err)
	}
	typ, want, err := checkDigest(checksumType, checksum)
	if err != nil {
		return fmt.Errorf("repo %s: package %s: %w", md.RepoID, href, err)
	}
	u, err := joinURL(md.BaseURL, href)
	if err != nil {
		return fmt.Errorf("repo %s: %w", md.RepoID, err)
	}
	dir, name := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	err = writeVerified(dir, name, func(w io.Writer) (string, error) {
		h, _ := newHash(typ)
		if _, err := c.fetch(ctx, u, io.MultiWriter(w, h), -1, progress); err != nil {
			return "", err
		}
		got := hex.EncodeToString(h.Sum(nil))
		if got != want {
			return "", &ChecksumError{RepoID: md.RepoID, What: "package " + path.Base(href), URL: u,
				Expected: typ + ":" + want, Got: typ + ":" + got}
		}
		return got, nil
	})
	if err != nil {
		return fmt.Errorf("repo %s: %w", md.RepoID, err)
	}
	return nil
}

// writeVerified runs fill on a temporary file in dir and renames it to name
// only if fill succeeds; otherwise the temporary file is removed.
func writeVerified(dir, name string, fill func(io.Writer) (string, error)) error {
	f, err := os.CreateTemp(dir, ".tmp-"+name+"-*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("installing %s: %w", name, err)
	}
	ok = true
	syncDir(dir)
	return nil
}

func writeFileAtomic(dir, name string, data []byte) error {
	return writeVerified(dir, name, func(w io.Writer) (string, error) {
		_, err := w.Write(data)
		return "", err
	})
}

// syncDir makes a rename durable; failure only weakens durability, so it is
// not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

var extRE = regexp.MustCompile(`^[A-Za-z0-9.]{1,24}$`)

// dataFileName is the cache name of a data file: type and checksum, then the
// served extension (.xml.gz, .xml.zst, ...) so readers can tell the
// compression from the name.
func dataFileName(d DataFile) string {
	base := path.Base(d.Href)
	ext := ""
	if i := strings.Index(base, ".xml"); i >= 0 {
		ext = base[i:]
	} else {
		ext = path.Ext(base)
	}
	if !extRE.MatchString(ext) || strings.Contains(ext, "..") {
		ext = ""
	}
	return d.Type + "-" + d.ChecksumType + "-" + d.Checksum + ext
}

// haveFile reports whether path holds exactly the data file d.
func haveFile(p string, d DataFile) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || (d.Size > 0 && fi.Size() != d.Size) {
		return false
	}
	h, err := newHash(d.ChecksumType)
	if err != nil {
		return false
	}
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == d.Checksum
}

func readState(dir, id string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateName))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading cache state: %w", err)
	}
	if st.Version != 1 || st.RepoID != id || st.Primary == nil {
		return nil, fmt.Errorf("cache state in %s is not for repo %s: %w", dir, id, fs.ErrNotExist)
	}
	for _, f := range []*stateFile{st.Primary, st.Filelists} {
		if f != nil && (f.Name == "" || f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".")) {
			return nil, fmt.Errorf("cache state in %s names a bad file %q", dir, f.Name)
		}
	}
	return &st, nil
}

// metadataFromState checks that the files the state names are present with
// their recorded sizes (a full re-hash happens on refresh, not on every use).
func metadataFromState(dir string, st *state) (*Metadata, error) {
	md := &Metadata{
		RepoID:         st.RepoID,
		Revision:       st.Revision,
		RepomdChecksum: st.RepomdChecksum,
		FetchedAt:      st.FetchedAt,
		BaseURL:        st.BaseURL,
	}
	if st.Timestamp > 0 {
		md.Timestamp = time.Unix(st.Timestamp, 0).UTC()
	}
	for _, f := range []*stateFile{st.Primary, st.Filelists} {
		if f == nil {
			continue
		}
		p := filepath.Join(dir, f.Name)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Size() != f.Size {
			return nil, fmt.Errorf("cached %s is %d bytes, expected %d", f.Name, fi.Size(), f.Size)
		}
		if f == st.Primary {
			md.Primary = p
		} else {
			md.Filelists = p
		}
	}
	return md, nil
}

// prune removes files the new state does not name. Failures leave litter,
// not a broken cache, so they are ignored.
func prune(dir string, st *state) {
	keep := map[string]bool{stateName: true, "repomd.xml": true, ".lock": true, st.Primary.Name: true}
	if st.Filelists != nil {
		keep[st.Filelists.Name] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !keep[e.Name()] && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// removeTemps deletes what an interrupted fetch left behind.
func removeTemps(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// lockDir takes an exclusive flock on dir/.lock so two fetches of one repo
// (two processes, or two goroutines) never interleave, waiting while ctx
// allows.
func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking metadata cache: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking metadata cache: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the metadata cache lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "its .repo file"
	}
	return s
}
