package rpmmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// rpms builds the test packages once per test binary, on first use, so
// parser tests and fuzz workers do not pay for rpmbuild.
var rpms struct {
	once  sync.Once
	work  string
	paths map[string]string // package file name -> path
	err   error
}

func builtRPM(t *testing.T, file string) string {
	t.Helper()
	rpms.once.Do(func() {
		rpms.work, rpms.err = os.MkdirTemp("", "rpmmd-test-")
		if rpms.err != nil {
			return
		}
		pkg := func(name string) fixture.Package {
			return fixture.Package{Name: name, Version: "1.0",
				Install: fmt.Sprintf("mkdir -p %%{buildroot}/usr/share/%[1]s\necho %[1]s > %%{buildroot}/usr/share/%[1]s/README\n", name),
				Files:   "/usr/share/" + name + "\n"}
		}
		rpms.paths, rpms.err = fixture.BuildPackages(context.Background(), rpms.work,
			[]fixture.Package{pkg("alpha"), pkg("beta")})
	})
	if rpms.err != nil {
		t.Fatalf("building test packages: %v", rpms.err)
	}
	return rpms.paths[file]
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rpms.work != "" {
		os.RemoveAll(rpms.work)
	}
	os.Exit(code)
}

// addToRepo copies the named packages into dir and (re)generates its rpm-md.
func addToRepo(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		file := n + "-1.0-1.noarch.rpm"
		data, err := os.ReadFile(builtRPM(t, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fixture.CreateRepo(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
}

func makeRepo(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	addToRepo(t, dir, names...)
	return dir
}

// repoServer serves a repo under /os/ and counts requests by path.
type repoServer struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int
	// hold, when set, makes data requests wait until the client gives up.
	hold bool
}

func serveRepo(t *testing.T, dir string) *repoServer {
	t.Helper()
	s := &repoServer{counts: map[string]int{}}
	files := http.StripPrefix("/os", http.FileServer(http.Dir(dir)))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[r.URL.Path]++
		hold := s.hold && !strings.HasSuffix(r.URL.Path, "repomd.xml")
		s.mu.Unlock()
		if hold {
			<-r.Context().Done()
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// requests counts requests whose path contains part.
func (s *repoServer) requests(part string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.counts {
		if strings.Contains(p, part) {
			n += c
		}
	}
	return n
}

// clock is a settable Cache.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newCache(t *testing.T) (*Cache, *clock) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	return &Cache{Dir: filepath.Join(t.TempDir(), "cache"), Now: clk.now}, clk
}

func testRepo(urls ...string) Repo {
	return Repo{ID: "demo", Name: "Demo", BaseURLs: urls, Enabled: true, MetadataExpire: DefaultMetadataExpire}
}

// primaryText returns the uncompressed primary.xml of md.
func primaryText(t *testing.T, md *Metadata) string {
	t.Helper()
	f, err := os.Open(md.Primary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("primary %s is not gzip: %v", md.Primary, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestLoadHTTPAndCacheReuse(t *testing.T) {
	ctx := context.Background()
	dir := makeRepo(t, "alpha", "beta")
	srv := serveRepo(t, dir)
	cache, clk := newCache(t)
	repo := testRepo(srv.URL + "/os") // no trailing slash

	var lastDone, lastTotal int64
	md, refreshed, err := cache.Load(ctx, repo, false, func(id string, done, total int64) {
		if id != "demo" {
			t.Errorf("progress for %q", id)
		}
		lastDone, lastTotal = done, total
	})
	if err != nil {
		t.Fatal(err)
	}
	if !refreshed {
		t.Fatal("first load should contact the repository")
	}
	if lastDone == 0 || lastDone != lastTotal {
		t.Fatalf("progress ended at %d of %d", lastDone, lastTotal)
	}
	if !filepath.IsAbs(md.Primary) || !strings.HasSuffix(md.Primary, ".xml.gz") || !strings.HasSuffix(md.Filelists, ".xml.gz") {
		t.Fatalf("paths: %q %q", md.Primary, md.Filelists)
	}
	if p := primaryText(t, md); !strings.Contains(p, "<name>alpha</name>") || !strings.Contains(p, "<name>beta</name>") {
		t.Fatalf("primary lacks the packages:\n%s", p)
	}
	if md.RepoID != "demo" || md.Revision == "" || md.Timestamp.IsZero() || md.BaseURL != repo.BaseURLs[0] || !md.FetchedAt.Equal(clk.t) {
		t.Fatalf("metadata = %+v", md)
	}
	if got := sha256File(t, filepath.Join(cache.Dir, "demo", "repomd.xml")); got != md.RepomdChecksum {
		t.Fatalf("cached repomd.xml sha256 %s, metadata says %s", got, md.RepomdChecksum)
	}
	if got := sha256File(t, filepath.Join(dir, "repodata", "repomd.xml")); got != md.RepomdChecksum {
		t.Fatalf("served repomd.xml sha256 %s, metadata says %s", got, md.RepomdChecksum)
	}

	// Fresh: no network at all, even with the server gone.
	clk.t = clk.t.Add(47 * time.Hour)
	srv.Close()
	md2, refreshed, err := cache.Load(ctx, repo, false, nil)
	if err != nil {
		t.Fatalf("fresh cache with the server down: %v", err)
	}
	if refreshed || *md2 != *md {
		t.Fatalf("fresh load refreshed=%v md=%+v, want the cached %+v", refreshed, md2, md)
	}
	md3, err := cache.Cached(repo)
	if err != nil || *md3 != *md {
		t.Fatalf("Cached = %+v, %v", md3, err)
	}

	// Stale with the server gone: a clear error naming repo and URL, and
	// the cache still there.
	clk.t = clk.t.Add(2 * time.Hour)
	_, _, err = cache.Load(ctx, repo, false, nil)
	want := "repo demo: fetching " + srv.URL + "/os/repodata/repomd.xml: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("stale load with the server down: %v, want prefix %q", err, want)
	}
	if _, err := cache.Cached(repo); err != nil {
		t.Fatalf("failed refresh broke the cache: %v", err)
	}

	// A repo that now lists a different baseurl is not served from cache.
	other := testRepo("http://127.0.0.1:1/elsewhere")
	clk.t = clk.t.Add(-2 * time.Hour)
	if _, _, err := cache.Load(ctx, other, false, nil); err == nil {
		t.Fatal("cache from another baseurl was used")
	}
}

func TestLoadFileURL(t *testing.T) {
	dir := makeRepo(t, "alpha")
	cache, _ := newCache(t)
	md, refreshed, err := cache.Load(context.Background(), testRepo("file://"+dir), false, nil)
	if err != nil || !refreshed {
		t.Fatalf("Load = %v, %v", refreshed, err)
	}
	if !strings.Contains(primaryText(t, md), "<name>alpha</name>") {
		t.Fatal("primary lacks alpha")
	}
	if _, _, err := cache.Load(context.Background(), testRepo("file://"+dir+"/missing/"), true, nil); err == nil ||
		!strings.Contains(err.Error(), "repo demo: fetching file://"+dir+"/missing/repodata/repomd.xml") {
		t.Fatalf("missing file repo: %v", err)
	}
}

func TestStaleAndForcedRefreshKeepUnchangedData(t *testing.T) {
	ctx := context.Background()
	dir := makeRepo(t, "alpha")
	srv := serveRepo(t, dir)
	cache, clk := newCache(t)
	repo := testRepo(srv.URL + "/os/")
	md, _, err := cache.Load(ctx, repo, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if srv.requests("primary") != 1 || srv.requests("filelists") != 1 || srv.requests("repomd.xml") != 1 {
		t.Fatalf("requests after first load: %v", srv.counts)
	}

	// Stale: repomd.xml is fetched again, data files are not.
	clk.t = clk.t.Add(DefaultMetadataExpire + time.Second)
	md2, refreshed, err := cache.Load(ctx, repo, false, nil)
	if err != nil || !refreshed {
		t.Fatalf("stale load: %v, %v", refreshed, err)
	}
	if srv.requests("repomd.xml") != 2 || srv.requests("primary") != 1 || srv.requests("filelists") != 1 {
		t.Fatalf("requests after stale load: %v", srv.counts)
	}
	if md2.Primary != md.Primary || !md2.FetchedAt.Equal(clk.t) {
		t.Fatalf("stale load: %+v", md2)
	}

	// Fresh again now.
	if _, refreshed, err := cache.Load(ctx, repo, false, nil); err != nil || refreshed {
		t.Fatalf("load after refresh: %v, %v", refreshed, err)
	}
	// Force: repomd.xml again, still no data.
	if _, refreshed, err := cache.Load(ctx, repo, true, nil); err != nil || !refreshed {
		t.Fatalf("forced load: %v, %v", refreshed, err)
	}
	if srv.requests("repomd.xml") != 3 || srv.requests("primary") != 1 {
		t.Fatalf("requests after forced load: %v", srv.counts)
	}

	// metadata_expire=0 is always stale; never is never stale.
	repo.MetadataExpire = 0
	if _, refreshed, _ := cache.Load(ctx, repo, false, nil); !refreshed {
		t.Fatal("metadata_expire=0 served from cache")
	}
	repo.MetadataExpire = -1
	clk.t = clk.t.Add(1000 * time.Hour)
	if _, refreshed, _ := cache.Load(ctx, repo, false, nil); refreshed {
		t.Fatal("metadata_expire=never refreshed")
	}

	// A changed repository: new files come in, old ones are pruned.
	addToRepo(t, dir, "beta")
	md3, _, err := cache.Load(ctx, repo, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if md3.Primary == md.Primary || md3.RepomdChecksum == md.RepomdChecksum {
		t.Fatalf("changed repo kept old metadata: %+v", md3)
	}
	if !strings.Contains(primaryText(t, md3), "<name>beta</name>") {
		t.Fatal("new primary lacks beta")
	}
	if _, err := os.Stat(md.Primary); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old primary not pruned: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(cache.Dir, "demo"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 5 { // .lock, filelists, primary, repomd.xml, state.json
		t.Fatalf("cache dir holds %v", names)
	}
}

// flipByte corrupts one byte in the middle of p, keeping its size.
func flipByte(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func servedPrimary(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "repodata", "*-primary.xml.gz"))
	if err != nil || len(m) != 1 {
		t.Fatalf("served primary: %v %v", m, err)
	}
	return m[0]
}

func TestCorruptPrimaryKeepsPreviousCache(t *testing.T) {
	ctx := context.Background()
	dir := makeRepo(t, "alpha")
	srv := serveRepo(t, dir)
	cache, _ := newCache(t)
	repo := testRepo(srv.URL + "/os")
	old, _, err := cache.Load(ctx, repo, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldSum := sha256File(t, old.Primary)

	addToRepo(t, dir, "beta")
	bad := servedPrimary(t, dir)
	flipByte(t, bad)
	_, _, err = cache.Load(ctx, repo, true, nil)
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("corrupt primary: %v, want a ChecksumError", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "repo demo: primary checksum mismatch (expected sha256:") ||
		!strings.Contains(msg, ", got sha256:"+sha256File(t, bad)+")") ||
		!strings.HasSuffix(msg, "; the repository is corrupt or changing, try again") {
		t.Fatalf("message: %s", msg)
	}
	md, err := cache.Cached(repo)
	if err != nil || *md != *old {
		t.Fatalf("previous cache not intact: %+v, %v", md, err)
	}
	if sha256File(t, md.Primary) != oldSum {
		t.Fatal("previous primary changed")
	}
	if m, _ := filepath.Glob(filepath.Join(cache.Dir, "demo", ".tmp-*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}

	// A first fetch of a corrupt repo leaves no cache at all.
	cache2, _ := newCache(t)
	if _, _, err := cache2.Load(ctx, repo, false, nil); !errors.As(err, &ce) {
		t.Fatalf("corrupt first fetch: %v", err)
	}
	if _, err := cache2.Cached(repo); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Cached after failed first fetch: %v", err)
	}
}

func TestWrongSizePrimary(t *testing.T) {
	dir := makeRepo(t, "alpha")
	p := servedPrimary(t, dir)
	data, _ := os.ReadFile(p)
	os.WriteFile(p, append(data, "trailing junk"...), 0o644)
	cache, _ := newCache(t)
	repo := testRepo("file://" + dir)
	_, _, err := cache.Load(context.Background(), repo, false, nil)
	if err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("oversized primary: %v", err)
	}
	os.WriteFile(p, data[:len(data)-1], 0o644)
	_, _, err = cache.Load(context.Background(), repo, false, nil)
	want := fmt.Sprintf("repo demo: primary size mismatch (expected %d bytes, got %d bytes) at file://", len(data), len(data)-1)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("truncated primary: %v\nwant prefix %s", err, want)
	}
}

// deadURL is a loopback URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/repo"
	ln.Close()
	return url
}

func TestBaseURLFallback(t *testing.T) {
	ctx := context.Background()
	dir := makeRepo(t, "alpha")
	srv := serveRepo(t, dir)
	dead := deadURL(t)
	cache, _ := newCache(t)

	md, _, err := cache.Load(ctx, testRepo(dead, srv.URL+"/missing", srv.URL+"/os"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if md.BaseURL != srv.URL+"/os" {
		t.Fatalf("BaseURL = %s", md.BaseURL)
	}

	_, _, err = cache.Load(ctx, testRepo(dead, srv.URL+"/missing"), true, nil)
	if err == nil {
		t.Fatal("no working baseurl, no error")
	}
	msg := err.Error()
	for _, want := range []string{"repo demo: all 2 baseurls failed", "[1] fetching " + dead + "/repodata/repomd.xml: ",
		"connection refused", "[2] fetching " + srv.URL + "/missing/repodata/repomd.xml: server answered 404 Not Found"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestLoadRefusals(t *testing.T) {
	cache, _ := newCache(t)
	ctx := context.Background()
	r := testRepo()
	r.Metalink = "https://mirrors.example/metalink?repo=x"
	_, _, err := cache.Load(ctx, r, false, nil)
	if err == nil || err.Error() != "repo demo uses metalink/mirrorlist, which strata does not support yet; set baseurl" {
		t.Fatalf("metalink: %v", err)
	}
	r = testRepo()
	r.File = "/etc/yum.repos.d/demo.repo"
	if _, _, err := cache.Load(ctx, r, false, nil); err == nil || !strings.Contains(err.Error(), "has no baseurl; set one in /etc/yum.repos.d/demo.repo") {
		t.Fatalf("no baseurl: %v", err)
	}
	r = testRepo("ftp://example/")
	if _, _, err := cache.Load(ctx, r, false, nil); err == nil || !strings.Contains(err.Error(), `unsupported scheme "ftp"`) {
		t.Fatalf("ftp: %v", err)
	}
	r = testRepo("http://x/")
	r.ID = "../escape"
	if _, _, err := cache.Load(ctx, r, false, nil); err == nil {
		t.Fatal("bad repo id accepted")
	}
	if _, err := cache.Cached(testRepo("http://x/")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Cached on empty cache: %v", err)
	}
}

func TestLoadCancel(t *testing.T) {
	dir := makeRepo(t, "alpha")
	srv := serveRepo(t, dir)
	srv.hold = true
	cache, _ := newCache(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for srv.requests("primary") == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	_, _, err := cache.Load(ctx, testRepo(srv.URL+"/os"), false, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	if _, err := cache.Cached(testRepo(srv.URL + "/os")); err == nil {
		t.Fatal("cancelled first load left a cache")
	}
}

func TestConcurrentLoads(t *testing.T) {
	dir := makeRepo(t, "alpha")
	srv := serveRepo(t, dir)
	cache, _ := newCache(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := cache.Load(context.Background(), testRepo(srv.URL+"/os"), false, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The lock serialises them; later ones find a fresh cache.
	if n := srv.requests("primary"); n != 1 {
		t.Fatalf("primary downloaded %d times", n)
	}
}

func TestDownloadPackage(t *testing.T) {
	ctx := context.Background()
	dir := makeRepo(t, "alpha", "beta")
	srv := serveRepo(t, dir)
	cache, _ := newCache(t)
	md, _, err := cache.Load(ctx, testRepo(srv.URL+"/os"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	const href = "alpha-1.0-1.noarch.rpm"
	// createrepo_c puts the href and checksum we rely on into primary.
	sum := sha256File(t, filepath.Join(dir, href))
	if p := primaryText(t, md); !strings.Contains(p, `<location href="`+href+`"/>`) || !strings.Contains(p, sum) {
		t.Fatalf("primary does not name %s with sha256 %s", href, sum)
	}

	out := t.TempDir()
	dest := filepath.Join(out, "alpha.rpm")
	var done, total int64
	if err := cache.DownloadPackage(ctx, md, href, "sha256", sum, dest, func(d, tot int64) { done, total = d, tot }); err != nil {
		t.Fatal(err)
	}
	if got := sha256File(t, dest); got != sum {
		t.Fatalf("downloaded sha256 %s, want %s", got, sum)
	}
	if fi, _ := os.Stat(dest); done != fi.Size() || total != fi.Size() {
		t.Fatalf("progress %d/%d, size %d", done, total, fi.Size())
	}

	// A wrong checksum: an error and nothing at dest, no temporary file.
	dest2 := filepath.Join(out, "beta.rpm")
	wrong := strings.Repeat("0", 64)
	err = cache.DownloadPackage(ctx, md, "beta-1.0-1.noarch.rpm", "sha256", wrong, dest2, nil)
	var ce *ChecksumError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "repo demo: package beta-1.0-1.noarch.rpm checksum mismatch (expected sha256:"+wrong) {
		t.Fatalf("wrong checksum: %v", err)
	}
	// A corrupt file on the server, previously downloaded intact to dest:
	// dest keeps the good copy.
	flipByte(t, filepath.Join(dir, href))
	if err := cache.DownloadPackage(ctx, md, href, "sha256", sum, dest, nil); !errors.As(err, &ce) {
		t.Fatalf("corrupt package: %v", err)
	}
	if got := sha256File(t, dest); got != sum {
		t.Fatal("failed download replaced dest")
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("download dir holds %d entries, want only alpha.rpm", len(entries))
	}

	for _, bad := range []string{"../secret.rpm", "/etc/passwd", "http://evil.example/x.rpm", "a/../../b.rpm"} {
		if err := cache.DownloadPackage(ctx, md, bad, "sha256", sum, dest2, nil); err == nil {
			t.Errorf("href %q accepted", bad)
		}
	}
	if err := cache.DownloadPackage(ctx, md, href, "md5", "d41d8cd98f00b204e9800998ecf8427e", dest2, nil); err == nil {
		t.Error("md5 accepted")
	}
	if err := cache.DownloadPackage(ctx, md, "gone.rpm", "sha256", sum, dest2, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing package: %v", err)
	}
	if _, err := os.Stat(dest2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dest of failed downloads exists: %v", err)
	}
}

func TestClean(t *testing.T) {
	dir := makeRepo(t, "alpha")
	cache, _ := newCache(t)
	repo := testRepo("file://" + dir)
	if _, _, err := cache.Load(context.Background(), repo, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := cache.Clean(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cache.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("cache dir after Clean: %v", err)
	}
	if _, err := cache.Cached(repo); err == nil {
		t.Fatal("Cached after Clean")
	}
	if err := (&Cache{Dir: "/"}).Clean(); err == nil {
		t.Fatal("Clean of / allowed")
	}
	if err := (&Cache{}).Clean(); err == nil {
		t.Fatal("Clean of empty dir allowed")
	}
}

func TestCachedRejectsDamagedCache(t *testing.T) {
	dir := makeRepo(t, "alpha")
	cache, _ := newCache(t)
	repo := testRepo("file://" + dir)
	md, _, err := cache.Load(context.Background(), repo, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A truncated data file is noticed by size and refetched by Load.
	if err := os.WriteFile(md.Primary, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Cached(repo); err == nil {
		t.Fatal("Cached accepted a truncated primary")
	}
	md2, refreshed, err := cache.Load(context.Background(), repo, false, nil)
	if err != nil || !refreshed || sha256File(t, md2.Primary) != sha256File(t, servedPrimary(t, dir)) {
		t.Fatalf("Load did not repair the cache: %v %v", refreshed, err)
	}
	// A state file for another repo id is not used.
	state := filepath.Join(cache.Dir, "demo", stateName)
	data, _ := os.ReadFile(state)
	os.WriteFile(state, bytes.Replace(data, []byte(`"repo_id": "demo"`), []byte(`"repo_id": "other"`), 1), 0o644)
	if _, err := cache.Cached(repo); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("foreign state: %v", err)
	}
}
