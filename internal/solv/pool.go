package solv

/*
#cgo pkg-config: libsolv libsolvext
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/repo_rpmdb.h>
#include <solv/solvable.h>
#include <solv/chksum.h>
#include <solv/knownid.h>
#include <solv/selection.h>
#include "helpers.h"

static Solvable *strata_solvable(Pool *pool, Id p) { return pool_id2solvable(pool, p); }
static Id strata_nsolvables(Pool *pool) { return pool->nsolvables; }
static Repo *strata_installed(Pool *pool) { return pool->installed; }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/strata-os/strata/internal/nevra"
)

// rpmMacroMu serialises reading rpmdbs: libsolv selects the database through
// librpm's process-wide macro table, which two Pools must not change at once.
var rpmMacroMu sync.Mutex

// Pool is a libsolv pool: the installed set plus any number of repositories.
// It is not safe for concurrent use (see the package documentation). Close
// frees its memory.
type Pool struct {
	pool    *C.Pool
	cmdline *C.Repo
	// local maps @commandline solvables to the files they came from.
	local map[C.Id]string
	// stale is set when repos changed since the whatprovides index was built.
	stale bool
	// exts are the C-side records of cached repos' extensions, freed by
	// Close (libsolv only borrows them through repo->appdata).
	exts []*C.struct_strata_ext
	// parsed are the repos read from xml in this pool whose cache this pool
	// wrote; prepare rewrites a cache whose recorded file provides fall
	// short of what the whole pool needs (a repo loaded later may require
	// files the first one ships).
	parsed map[*C.Repo]cacheFiles
}

// cacheFiles names the two files of a repo's .solv cache and their tag.
type cacheFiles struct {
	main, ext, key string
}

// NewPool creates a pool for a host of arch (e.g. "x86_64"): packages of that
// arch, compatible ones and noarch are installable.
func NewPool(arch string) (*Pool, error) {
	if arch == "" {
		return nil, errors.New("creating solver pool: empty architecture")
	}
	pool := C.pool_create()
	// Debian's libsolv speaks several dialects; ours is rpm's (epochs,
	// releases, noarch). It must be set before the arch.
	if C.pool_setdisttype(pool, C.DISTTYPE_RPM) < 0 {
		C.pool_free(pool)
		return nil, errors.New("creating solver pool: libsolv lacks rpm semantics")
	}
	carch := C.CString(arch)
	defer C.free(unsafe.Pointer(carch))
	// An arch libsolv has no policy for admits itself and noarch only.
	C.pool_setarch(pool, carch)
	// Cached repos leave their filelists on disk until something asks for
	// a file; libsolv then calls back to load them.
	C.strata_set_loader(pool)
	return &Pool{pool: pool, local: map[C.Id]string{}, stale: true, parsed: map[*C.Repo]cacheFiles{}}, nil
}

// Close frees the pool and everything loaded into it. The Pool must not be
// used afterwards; Close twice is harmless.
func (p *Pool) Close() {
	if p.pool != nil {
		C.pool_free(p.pool)
		p.pool = nil
		p.cmdline = nil
		for _, ext := range p.exts {
			C.free(unsafe.Pointer(ext.path))
			C.free(unsafe.Pointer(ext.filelists))
			C.free(unsafe.Pointer(ext.key))
			C.free(unsafe.Pointer(ext))
		}
		p.exts = nil
		p.parsed = nil
	}
}

func (p *Pool) errstr() string {
	return C.GoString(C.pool_errstr(p.pool))
}

func (p *Pool) check() error {
	if p == nil || p.pool == nil {
		return errors.New("solver pool is closed")
	}
	return nil
}

// LoadInstalled reads the rpmdb of the tree at root (root/usr/share/rpm, the
// composed-tree layout; root may be a partial checkout holding only that
// directory) and makes it the pool's installed set, replacing any earlier one.
func (p *Pool) LoadInstalled(root string) error {
	if err := p.check(); err != nil {
		return err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("loading installed packages of %s: %w", root, err)
	}
	// librpm opens the sqlite rpmdb read-only, and sqlite then needs to
	// create -shm/-wal files beside the database: that fails on a
	// read-only /usr and leaves litter in a checkout about to be committed.
	// So libsolv reads a private copy instead.
	private, err := privateRPMDB(filepath.Join(abs, "usr/share/rpm"))
	if err != nil {
		return fmt.Errorf("loading installed packages of %s: %w", root, err)
	}
	defer os.RemoveAll(private)
	if old := C.strata_installed(p.pool); old != nil {
		C.repo_free(old, 1)
	}
	name := C.CString("@System")
	defer C.free(unsafe.Pointer(name))
	repo := C.repo_create(p.pool, name)
	croot := C.CString(private)
	defer C.free(unsafe.Pointer(croot))
	rpmMacroMu.Lock()
	rc := C.strata_add_rpmdb(repo, croot)
	rpmMacroMu.Unlock()
	p.stale = true
	if rc != 0 {
		msg := p.errstr()
		C.repo_free(repo, 1)
		return fmt.Errorf("reading rpmdb of %s: %s", root, msg)
	}
	C.pool_set_installed(p.pool, repo)
	return nil
}

// AddRepoMD loads an rpm-md repository from local primary and filelists files
// (compressed as served: .gz, .xz, .zst, .bz2 or plain). filelists may be
// empty, but then file path requests cannot match this repo's packages.
// Higher priority repos win over lower ones regardless of version.
func (p *Pool) AddRepoMD(id, primary, filelists string, priority int) error {
	if err := p.check(); err != nil {
		return err
	}
	repo := p.newRepo(id, priority)
	if err := p.loadXML(repo, primary, filelists); err != nil {
		C.repo_free(repo, 1)
		return fmt.Errorf("loading repo %s: %w", id, err)
	}
	return nil
}

// AddRepoMDCached is AddRepoMD with a .solv cache at solvCache: when the cache
// was written from the same primary and filelists files (same size and
// modification time) it is loaded instead of the xml; otherwise the xml is
// parsed and the cache rewritten. A cache that cannot be written is not an
// error: the repo is loaded all the same.
//
// The cache is two files, split as libdnf splits its own: solvCache holds
// what solving needs, with the file provides ("Requires: /usr/bin/foo") the
// pool needed already looked up and recorded, and beside it a
// "-filelists.solvx" extension (filelists and long texts) that libsolv reads
// only when a request or WhatProvides names a path, or when the pool has
// file dependencies the cache did not record.
func (p *Pool) AddRepoMDCached(id, primary, filelists, solvCache string, priority int) error {
	if err := p.check(); err != nil {
		return err
	}
	key, err := cacheKey(primary, filelists)
	if err != nil {
		return fmt.Errorf("loading repo %s: %w", id, err)
	}
	repo := p.newRepo(id, priority)
	ccache := C.CString(solvCache)
	defer C.free(unsafe.Pointer(ccache))
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	files := cacheFiles{main: solvCache, ext: extPath(solvCache), key: key}
	if C.strata_add_solv_if_key(repo, ccache, ckey, C.int(len(key))) == 1 {
		ext := (*C.struct_strata_ext)(C.calloc(1, C.sizeof_struct_strata_ext))
		ext.path = C.CString(files.ext)
		ext.filelists = C.CString(filelists)
		ext.key = C.CString(key)
		ext.keylen = C.int(len(key))
		repo.appdata = unsafe.Pointer(ext)
		p.exts = append(p.exts, ext)
		return nil
	}
	if err := p.loadXML(repo, primary, filelists); err != nil {
		C.repo_free(repo, 1)
		return fmt.Errorf("loading repo %s: %w", id, err)
	}
	// The file provides the pool needs now are looked up once here and
	// recorded in the cache, so that loading it needs no filelist scan.
	var fileprovides C.Queue
	C.queue_init(&fileprovides)
	defer C.queue_free(&fileprovides)
	C.pool_addfileprovides_queue(p.pool, &fileprovides, nil)
	p.writeCache(repo, files, &fileprovides)
	p.parsed[repo] = files
	return nil
}

// extLoads counts how often a cached repo's extension was needed, so tests
// can tell a lookup that used the recorded file provides from one that had
// to search the filelists.
func (p *Pool) extLoads() int {
	n := 0
	for _, ext := range p.exts {
		n += int(ext.loads)
	}
	return n
}

// extPath is where the filelists extension of the cache at solvCache goes.
func extPath(solvCache string) string {
	return strings.TrimSuffix(solvCache, ".solv") + "-filelists.solvx"
}

// writeCache writes repo's cache files. Both are written beside and renamed
// over, the extension first: a reader never sees half a file, and a main
// file is never newer than its extension. A reader that still finds an
// extension of other contents (its tag differs) reads the filelists xml.
// A failure only costs the next load its speed: the files left behind are
// either tagged for other xml (so unused) or still belong together.
func (p *Pool) writeCache(repo *C.Repo, files cacheFiles, fileprovides *C.Queue) {
	tmpMain, tmpExt := files.main+".tmp", files.ext+".tmp"
	cmain, cext := C.CString(tmpMain), C.CString(tmpExt)
	defer C.free(unsafe.Pointer(cmain))
	defer C.free(unsafe.Pointer(cext))
	ckey := C.CString(files.key)
	defer C.free(unsafe.Pointer(ckey))
	ok := C.strata_write_solv(repo, cmain, cext, ckey, C.int(len(files.key)), fileprovides) == 0 &&
		os.Rename(tmpExt, files.ext) == nil && os.Rename(tmpMain, files.main) == nil
	if !ok {
		os.Remove(tmpMain)
		os.Remove(tmpExt)
	}
}

// cacheKey identifies the metadata files a .solv cache was made from.
func cacheKey(primary, filelists string) (string, error) {
	// The version changes with the cache's layout (2: main file plus
	// extension, file provides recorded), so older caches are rewritten.
	key := "strata-solv-cache-2"
	for _, f := range []string{primary, filelists} {
		if f == "" {
			key += "|-"
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		abs, _ := filepath.Abs(f)
		key += fmt.Sprintf("|%s:%d:%d", abs, st.Size(), st.ModTime().UnixNano())
	}
	return key, nil
}

func (p *Pool) newRepo(id string, priority int) *C.Repo {
	cid := C.CString(id)
	defer C.free(unsafe.Pointer(cid))
	repo := C.repo_create(p.pool, cid)
	repo.priority = C.int(priority)
	p.stale = true
	return repo
}

func (p *Pool) loadXML(repo *C.Repo, primary, filelists string) error {
	cprimary := C.CString(primary)
	defer C.free(unsafe.Pointer(cprimary))
	cfilelists := C.CString(filelists)
	defer C.free(unsafe.Pointer(cfilelists))
	if C.strata_add_rpmmd(repo, cprimary, cfilelists) != 0 {
		return errors.New(p.errstr())
	}
	return nil
}

// AddRPMFile adds a local .rpm file to the pool's "@commandline" repo so it
// can be requested through Request.InstallLocal.
func (p *Pool) AddRPMFile(path string) (Package, error) {
	if err := p.check(); err != nil {
		return Package{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Package{}, fmt.Errorf("adding %s: %w", path, err)
	}
	if p.cmdline == nil {
		name := C.CString("@commandline")
		defer C.free(unsafe.Pointer(name))
		p.cmdline = C.repo_create(p.pool, name)
	}
	cpath := C.CString(abs)
	defer C.free(unsafe.Pointer(cpath))
	id := C.repo_add_rpm(p.cmdline, cpath, C.REPO_REUSE_REPODATA|C.REPO_NO_INTERNALIZE|C.RPM_ADD_WITH_SHA256SUM)
	if id == 0 {
		return Package{}, fmt.Errorf("adding %s: %s", path, p.errstr())
	}
	C.repo_internalize(p.cmdline)
	p.stale = true
	p.local[id] = abs
	return p.pkg(id), nil
}

// pkg converts solvable id to a Package.
func (p *Pool) pkg(id C.Id) Package {
	s := C.strata_solvable(p.pool, id)
	// libsolv's EVRs come from rpm headers and repo metadata, whose epochs
	// are numbers; one that is not reads as epoch 0.
	epoch, version, release, _ := nevra.ParseEVR(C.GoString(C.pool_id2str(p.pool, s.evr)))
	out := Package{Package: nevra.Package{
		Name:    C.GoString(C.pool_id2str(p.pool, s.name)),
		Epoch:   epoch,
		Version: version,
		Release: release,
		Arch:    C.GoString(C.pool_id2str(p.pool, s.arch)),
	}}
	if s.repo != nil {
		out.RepoID = C.GoString(s.repo.name)
	}
	if loc := C.solvable_lookup_location(s, nil); loc != nil {
		out.Location = C.GoString(loc)
	}
	var ctype C.Id
	if sum := C.solvable_lookup_checksum(s, C.SOLVABLE_CHECKSUM, &ctype); sum != nil {
		out.Checksum = C.GoString(sum)
		if t := C.solv_chksum_type2str(ctype); t != nil {
			out.ChecksumType = C.GoString(t)
		}
	}
	out.DownloadSize = int64(C.solvable_lookup_num(s, C.SOLVABLE_DOWNLOADSIZE, 0))
	if path, ok := p.local[id]; ok {
		out.LocalPath = path
	}
	return out
}

// prepare builds the indexes the solver and lookups need, once per change.
func (p *Pool) prepare() {
	if !p.stale {
		return
	}
	// File dependencies ("Requires: /bin/sh") need the filelists indexed;
	// repos whose cache recorded these file provides are skipped.
	var fileprovides C.Queue
	C.queue_init(&fileprovides)
	defer C.queue_free(&fileprovides)
	C.pool_addfileprovides_queue(p.pool, &fileprovides, nil)
	for repo, files := range p.parsed {
		if C.strata_fileprovides_covered(repo, &fileprovides) == 0 {
			p.writeCache(repo, files, &fileprovides)
		}
	}
	C.pool_createwhatprovides(p.pool)
	p.stale = false
}

// Installed lists the installed set, in rpmdb order.
func (p *Pool) Installed() []Package {
	if p.check() != nil {
		return nil
	}
	repo := C.strata_installed(p.pool)
	if repo == nil {
		return nil
	}
	var out []Package
	for id := repo.start; id < repo.end; id++ {
		if C.strata_solvable(p.pool, id).repo == repo {
			out = append(out, p.pkg(id))
		}
	}
	return out
}

// WhatProvides lists the packages, installed or available, that provide dep:
// a name, a provide ("pkgconfig(foo)", "foo >= 1.2") or a file path.
func (p *Pool) WhatProvides(dep string) []Package {
	if p.check() != nil {
		return nil
	}
	p.prepare()
	ids := p.selectDep(dep, C.SELECTION_PROVIDES|C.SELECTION_FILELIST|C.SELECTION_REL)
	out := make([]Package, 0, len(ids))
	for _, id := range ids {
		out = append(out, p.pkg(id))
	}
	return out
}
