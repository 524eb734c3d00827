package solv

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// synthGroups spreads the synthetic packages' directories over this many
// parents: libsolv's directory pool scans siblings linearly, so 60 000
// directories under one parent would measure that pathology, not a repo
// (Fedora has a few thousand entries in its busiest directory).
const synthGroups = 200

// synthFile is the file package i owns.
func synthFile(i int) string { return fmt.Sprintf("/usr/share/g%d/pkg%d/data", i%synthGroups, i) }

// writeSyntheticRepo writes primary.xml.gz and filelists.xml.gz describing n
// packages (pkgN requires pkgN-1 and owns synthFile(N)), without
// building any RPMs: only the metadata matters to the solver.
func writeSyntheticRepo(t testing.TB, dir string, n int) (primary, filelists string) {
	t.Helper()
	primary = filepath.Join(dir, "primary.xml.gz")
	filelists = filepath.Join(dir, "filelists.xml.gz")
	write := func(path string, body func(w *bufio.Writer)) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		gz := gzip.NewWriter(f)
		w := bufio.NewWriter(gz)
		body(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	pkgid := func(i int) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(i)))) }
	write(primary, func(w *bufio.Writer) {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">
`, n)
		for i := 0; i < n; i++ {
			req := ""
			if i > 0 {
				req = fmt.Sprintf(`<rpm:requires><rpm:entry name="pkg%d"/></rpm:requires>`, i-1)
			}
			fmt.Fprintf(w, `<package type="rpm"><name>pkg%[1]d</name><arch>noarch</arch><version epoch="0" ver="1.0" rel="1"/>
<checksum type="sha256" pkgid="YES">%[2]s</checksum><summary>synthetic</summary><description>synthetic</description>
<packager/><url/><time file="1" build="1"/><size package="1000" installed="2000" archive="2000"/>
<location href="Packages/pkg%[1]d-1.0-1.noarch.rpm"/>
<format><rpm:license>MIT</rpm:license><rpm:vendor/><rpm:group>x</rpm:group><rpm:buildhost>h</rpm:buildhost><rpm:sourcerpm>pkg%[1]d-1.0-1.src.rpm</rpm:sourcerpm><rpm:header-range start="1" end="2"/>
<rpm:provides><rpm:entry name="pkg%[1]d" flags="EQ" epoch="0" ver="1.0" rel="1"/><rpm:entry name="cap(pkg%[1]d)"/></rpm:provides>%[3]s
</format></package>
`, i, pkgid(i), req)
		}
		w.WriteString("</metadata>\n")
	})
	write(filelists, func(w *bufio.Writer) {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="%d">
`, n)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, `<package pkgid="%[2]s" name="pkg%[1]d" arch="noarch"><version epoch="0" ver="1.0" rel="1"/><file>/usr/share/g%[3]d/pkg%[1]d/data</file><file type="dir">/usr/share/g%[3]d/pkg%[1]d</file></package>
`, i, pkgid(i), i%synthGroups)
		}
		w.WriteString("</filelists>\n")
	})
	return primary, filelists
}

// loadAndSolve loads the synthetic repo (through the cache) and installs a
// package deep in the dependency chain.
func loadAndSolve(t testing.TB, primary, filelists, cache string, n int) (load time.Duration, tr *Transaction) {
	t.Helper()
	p, err := NewPool("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	if err := p.AddRepoMDCached("synthetic", primary, filelists, cache, 99); err != nil {
		t.Fatal(err)
	}
	load = time.Since(start)
	tr, err = p.Solve(Request{Install: []string{synthFile(n / 10)}})
	if err != nil {
		t.Fatal(err)
	}
	return load, tr
}

func TestRepoMDCacheIsFaster(t *testing.T) {
	const n = 20000
	dir := t.TempDir()
	primary, filelists := writeSyntheticRepo(t, dir, n)
	cache := filepath.Join(dir, "synthetic.solv")
	xmlLoad, first := loadAndSolve(t, primary, filelists, cache, n)
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no cache written: %v", err)
	}
	solvLoad, second := loadAndSolve(t, primary, filelists, cache, n)
	if len(first.Install) != n/10+1 || len(second.Install) != len(first.Install) {
		t.Fatalf("installs: xml %d, cached %d, want %d", len(first.Install), len(second.Install), n/10+1)
	}
	for i := range first.Install {
		if first.Install[i] != second.Install[i] {
			t.Fatalf("cached load differs: %+v vs %+v", first.Install[i], second.Install[i])
		}
	}
	t.Logf("%d packages: xml load %v, cached load %v", n, xmlLoad, solvLoad)
	if solvLoad*2 > xmlLoad {
		t.Fatalf("cached load (%v) not clearly faster than xml (%v)", solvLoad, xmlLoad)
	}
}

func BenchmarkSolveSynthetic60k(b *testing.B) {
	const n = 60000
	dir := b.TempDir()
	primary, filelists := writeSyntheticRepo(b, dir, n)
	cache := filepath.Join(dir, "synthetic.solv")
	loadAndSolve(b, primary, filelists, cache, n) // warm the cache
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loadAndSolve(b, primary, filelists, cache, n)
	}
}
