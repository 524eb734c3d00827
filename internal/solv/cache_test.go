package solv

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// mdPackage is one package of a hand-written rpm-md repo.
type mdPackage struct {
	name     string
	requires []string
	files    []string // in filelists only: primary lists none
}

// writeMD writes primary.xml.gz and filelists.xml.gz for pkgs into dir.
func writeMD(t *testing.T, dir string, pkgs []mdPackage) (primary, filelists string) {
	t.Helper()
	var p, f bytes.Buffer
	fmt.Fprintf(&p, `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">
`, len(pkgs))
	fmt.Fprintf(&f, `<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="%d">
`, len(pkgs))
	for i, pk := range pkgs {
		id := fmt.Sprintf("%064x", i+1)
		var req strings.Builder
		for _, r := range pk.requires {
			fmt.Fprintf(&req, `<rpm:entry name="%s"/>`, r)
		}
		fmt.Fprintf(&p, `<package type="rpm"><name>%[1]s</name><arch>noarch</arch><version epoch="0" ver="1.0" rel="1"/>
<checksum type="sha256" pkgid="YES">%[2]s</checksum><summary>%[1]s summary</summary><description>about %[1]s</description>
<packager/><url>https://example.invalid/%[1]s</url><time file="1" build="1"/><size package="1000" installed="2000" archive="2000"/>
<location href="Packages/%[1]s-1.0-1.noarch.rpm"/>
<format><rpm:provides><rpm:entry name="%[1]s" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides><rpm:requires>%[3]s</rpm:requires></format>
</package>
`, pk.name, id, req.String())
		fmt.Fprintf(&f, `<package pkgid="%s" name="%s" arch="noarch"><version epoch="0" ver="1.0" rel="1"/>`, id, pk.name)
		for _, file := range pk.files {
			fmt.Fprintf(&f, `<file>%s</file>`, file)
		}
		f.WriteString("</package>\n")
	}
	p.WriteString("</metadata>\n")
	f.WriteString("</filelists>\n")
	primary, filelists = filepath.Join(dir, "primary.xml.gz"), filepath.Join(dir, "filelists.xml.gz")
	for path, body := range map[string][]byte{primary: p.Bytes(), filelists: f.Bytes()} {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(body)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return primary, filelists
}

// spoil overwrites path with garbage of the same size and modification
// time: a .solv cache keyed on the xml's size and time still applies, but
// whatever reads the file's contents fails.
func spoil(t *testing.T, path string) (restore func()) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	set := func(data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	set(bytes.Repeat([]byte{'x'}, len(orig)))
	return func() { set(orig) }
}

// cacheRepos are the two repos of the cache tests: "main" holds file
// providers, "extra" a package needing a file that only main's filelists
// name.
type cacheRepos struct {
	mainPrimary, mainFilelists, mainCache string
	extraPrimary, extraFilelists          string
}

func newCacheRepos(t *testing.T) cacheRepos {
	dir := t.TempDir()
	mainDir, extraDir := filepath.Join(dir, "main"), filepath.Join(dir, "extra")
	for _, d := range []string{mainDir, extraDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var r cacheRepos
	r.mainPrimary, r.mainFilelists = writeMD(t, mainDir, []mdPackage{
		{name: "app", requires: []string{"/usr/libexec/app/helper"}},
		{name: "helper", files: []string{"/usr/libexec/app/helper"}},
		{name: "datapkg", files: []string{"/usr/share/datapkg/table"}},
		{name: "other", files: []string{"/usr/share/other/file"}},
	})
	r.extraPrimary, r.extraFilelists = writeMD(t, extraDir, []mdPackage{
		{name: "needsdata", requires: []string{"/usr/share/datapkg/table"}},
	})
	r.mainCache = filepath.Join(mainDir, "main.solv")
	return r
}

// pool loads main (cached when cached is set, else from xml) and, when
// withExtra is set, extra from xml.
func (r cacheRepos) pool(t *testing.T, cached, withExtra bool) *Pool {
	t.Helper()
	p, err := NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if cached {
		err = p.AddRepoMDCached("main", r.mainPrimary, r.mainFilelists, r.mainCache, 99)
	} else {
		err = p.AddRepoMD("main", r.mainPrimary, r.mainFilelists, 99)
	}
	if err != nil {
		t.Fatal(err)
	}
	if withExtra {
		if err := p.AddRepoMD("extra", r.extraPrimary, r.extraFilelists, 99); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func solveNames(t *testing.T, p *Pool, install ...string) []string {
	t.Helper()
	tr, err := p.Solve(Request{Install: install})
	if err != nil {
		t.Fatalf("solving %v: %v", install, err)
	}
	var out []string
	for _, pk := range tr.Install {
		out = append(out, pk.NEVRA()+" "+pk.Location+" "+pk.Checksum)
	}
	slices.Sort(out)
	return out
}

func TestRepoMDCacheRecordsFileProvides(t *testing.T) {
	r := newCacheRepos(t)
	requests := []struct {
		install   []string
		needsList bool // a path request reads the filelists
	}{
		{[]string{"app"}, false},
		{[]string{"/usr/share/other/file"}, true},
		{[]string{"datapkg", "/usr/libexec/app/helper"}, true},
	}
	var want [][]string
	for _, req := range requests {
		want = append(want, solveNames(t, r.pool(t, false, false), req.install...))
	}
	if len(want[0]) != 2 {
		t.Fatalf("app should pull in helper through its file dependency: %v", want[0])
	}

	// The first cached load parses the xml and writes both cache files.
	if got := solveNames(t, r.pool(t, true, false), "app"); !slices.Equal(got, want[0]) {
		t.Fatalf("first cached load: %v, want %v", got, want[0])
	}
	for _, f := range []string{r.mainCache, extPath(r.mainCache)} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("cache file missing: %v", err)
		}
	}
	// From the cache: app's file dependency is met by the recorded file
	// provides, without the filelists; path requests load them.
	for i, req := range requests {
		p := r.pool(t, true, false)
		if got := solveNames(t, p, req.install...); !slices.Equal(got, want[i]) {
			t.Fatalf("cached %v: %v, want %v", req.install, got, want[i])
		}
		if loaded := p.extLoads() > 0; loaded != req.needsList {
			t.Fatalf("cached %v: filelists loaded %v, want %v", req.install, loaded, req.needsList)
		}
	}
	p := r.pool(t, true, false)
	if got := nevras(p.WhatProvides("/usr/share/datapkg/table")); !slices.Equal(got, []string{"datapkg-1.0-1.noarch"}) {
		t.Fatalf("WhatProvides of a path from the cache: %v", got)
	}
	// An extension that does not load (the cache itself still applies)
	// makes a path request read the filelists xml instead.
	restore := spoil(t, extPath(r.mainCache))
	defer restore()
	p = r.pool(t, true, false)
	if got := solveNames(t, p, requests[1].install...); !slices.Equal(got, want[1]) {
		t.Fatalf("path request through the xml fallback: %v, want %v", got, want[1])
	}
}

func TestRepoMDCacheLearnsFileProvidesOfOtherRepos(t *testing.T) {
	r := newCacheRepos(t)
	want := solveNames(t, r.pool(t, false, true), "needsdata")
	if len(want) != 2 {
		t.Fatalf("needsdata should pull in datapkg through its file dependency: %v", want)
	}
	// A cache written by a pool without extra records app's file
	// dependency only; loaded beside extra, main's filelists are searched
	// for extra's.
	solveNames(t, r.pool(t, true, false), "app")
	st, err := os.Stat(r.mainCache)
	if err != nil {
		t.Fatal(err)
	}
	p := r.pool(t, true, true)
	if got := solveNames(t, p, "needsdata"); !slices.Equal(got, want) {
		t.Fatalf("cached load needing a filelist search: %v, want %v", got, want)
	}
	if p.extLoads() == 0 {
		t.Fatal("extra's file dependency was met without main's filelists")
	}
	if st2, err := os.Stat(r.mainCache); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatal("a cache loaded from disk was rewritten")
	}

	// Written when main is parsed, before extra's file dependency is
	// known; the solve rewrites it with that dependency too, so the next
	// load needs no filelists at all.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(r.mainPrimary, later, later); err != nil {
		t.Fatal(err)
	}
	if got := solveNames(t, r.pool(t, true, true), "needsdata"); !slices.Equal(got, want) {
		t.Fatalf("first cached load: %v, want %v", got, want)
	}
	for _, req := range []string{"needsdata", "app"} {
		p := r.pool(t, true, true)
		if got := solveNames(t, p, req); len(got) != 2 {
			t.Fatalf("cached load, %s: %v", req, got)
		}
		if p.extLoads() != 0 {
			t.Fatalf("cached load, %s: filelists loaded although recorded", req)
		}
	}
}

// TestRepoMDCacheForeignExtension checks that an extension written from
// other xml (another writer renamed its files in between) is not used: the
// filelists xml is read instead.
func TestRepoMDCacheForeignExtension(t *testing.T) {
	r := newCacheRepos(t)
	want := solveNames(t, r.pool(t, false, false), "/usr/share/other/file")
	r.pool(t, true, false).Close() // writes the cache
	other := newCacheRepos(t)
	other.pool(t, true, false).Close()
	data, err := os.ReadFile(extPath(other.mainCache))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(extPath(r.mainCache), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := solveNames(t, r.pool(t, true, false), "/usr/share/other/file"); !slices.Equal(got, want) {
		t.Fatalf("path request with a foreign extension: %v, want %v", got, want)
	}
}
