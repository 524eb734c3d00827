package main

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The synthetic repository: synthCount packages named synthNNNNN, in
// dependency chains of synthChain. Package i requires the library that
// package i-1 provides unless it starts a chain; the last package of each
// chain also requires a program (a file path) that a package in another
// chain ships, so a resolution has to consult file provides and walk two
// chains. libsolv and dnf only read metadata to resolve, so no RPM exists.
const (
	synthCount = 60000
	synthChain = 25
	// synthGroups spreads the per-package directories over parents, as real
	// trees do (a directory with 60 000 subdirectories is no real repo).
	synthGroups = 200
)

// synthTarget is the package the depsolve benchmark installs: the end of a
// chain in the middle of the repo.
const synthTarget = 30024

func synthName(i int) string { return fmt.Sprintf("synth%05d", i) }
func synthLib(i int) string  { return fmt.Sprintf("libsynth%05d.so.1()(64bit)", i) }

// synthProgramOwner is the package whose /usr/bin program chain-end i needs.
func synthProgramOwner(i int) int {
	j := (i + 5010) % synthCount
	return j - j%3 // only every third package ships a program; 35034 for the target
}

func synthArch(i int) string {
	if i%4 == 0 {
		return "noarch"
	}
	return "x86_64"
}

func synthPkgID(i int) string {
	s := sha256.Sum256([]byte("strata-bench-synth-" + synthName(i)))
	return hex.EncodeToString(s[:])
}

// synthFiles are the files package i owns; primary.xml lists only those
// under a bin directory or /etc, as createrepo_c does.
func synthFiles(i int) (files, dirs []string) {
	dir := fmt.Sprintf("/usr/share/synth/g%03d/%s", i%synthGroups, synthName(i))
	files = []string{dir + "/README", dir + "/data.txt", fmt.Sprintf("/usr/lib64/libsynth%05d.so.1", i)}
	if i%3 == 0 {
		files = append(files, "/usr/bin/"+synthName(i))
	}
	return files, []string{dir}
}

func inPrimary(path string) bool {
	return strings.HasPrefix(path, "/etc/") || strings.Contains(path, "bin/")
}

// repoFile is one metadata file as repomd.xml describes it.
type repoFile struct {
	kind                  string
	href                  string
	sum, openSum          string
	size, openSize, mtime int64
}

// writeSynthRepo writes repodata/ (primary, filelists, repomd.xml with their
// sha256 checksums and sizes) for the synthetic repository under dir and
// returns the paths of primary.xml.gz and filelists.xml.gz.
func writeSynthRepo(dir string) (primary, filelists string, err error) {
	rd := filepath.Join(dir, "repodata")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return "", "", err
	}
	p, err := writeGzipXML(rd, "primary", writePrimary)
	if err != nil {
		return "", "", err
	}
	f, err := writeGzipXML(rd, "filelists", writeFilelists)
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	now := time.Now().Unix()
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>%d</revision>
`, now)
	for _, rf := range []repoFile{p, f} {
		fmt.Fprintf(&b, `  <data type="%s">
    <checksum type="sha256">%s</checksum>
    <open-checksum type="sha256">%s</open-checksum>
    <location href="%s"/>
    <timestamp>%d</timestamp>
    <size>%d</size>
    <open-size>%d</open-size>
  </data>
`, rf.kind, rf.sum, rf.openSum, rf.href, rf.mtime, rf.size, rf.openSize)
	}
	b.WriteString("</repomd>\n")
	if err := os.WriteFile(filepath.Join(rd, "repomd.xml"), []byte(b.String()), 0o644); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, p.href), filepath.Join(dir, f.href), nil
}

// writeGzipXML writes kind's document gzip-compressed, hashing the plain and
// the compressed bytes on the way, then renames it to the checksum-prefixed
// name createrepo_c uses.
func writeGzipXML(rd, kind string, body func(w io.Writer) error) (repoFile, error) {
	rf := repoFile{kind: kind}
	tmp := filepath.Join(rd, kind+".xml.gz.tmp")
	out, err := os.Create(tmp)
	if err != nil {
		return rf, err
	}
	defer out.Close()
	gzSum := sha256.New()
	gzCount := &countingWriter{w: io.MultiWriter(out, gzSum)}
	gz, err := gzip.NewWriterLevel(gzCount, gzip.BestSpeed)
	if err != nil {
		return rf, err
	}
	plainSum := sha256.New()
	plainCount := &countingWriter{w: io.MultiWriter(gz, plainSum)}
	bw := bufio.NewWriterSize(plainCount, 1<<20)
	if err := body(bw); err != nil {
		return rf, fmt.Errorf("writing %s: %w", kind, err)
	}
	if err := bw.Flush(); err != nil {
		return rf, err
	}
	if err := gz.Close(); err != nil {
		return rf, err
	}
	if err := out.Close(); err != nil {
		return rf, err
	}
	rf.sum, rf.openSum = hexSum(gzSum), hexSum(plainSum)
	rf.size, rf.openSize = gzCount.n, plainCount.n
	rf.href = "repodata/" + rf.sum + "-" + kind + ".xml.gz"
	final := filepath.Join(rd, rf.sum+"-"+kind+".xml.gz")
	if err := os.Rename(tmp, final); err != nil {
		return rf, err
	}
	st, err := os.Stat(final)
	if err != nil {
		return rf, err
	}
	rf.mtime = st.ModTime().Unix()
	return rf, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writePrimary(w io.Writer) error {
	if _, err := fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">
`, synthCount); err != nil {
		return err
	}
	for i := 0; i < synthCount; i++ {
		name, arch := synthName(i), synthArch(i)
		var req strings.Builder
		if i%synthChain != 0 {
			fmt.Fprintf(&req, `<rpm:entry name="%s"/>`, synthLib(i-1))
		}
		if i%synthChain == synthChain-1 {
			fmt.Fprintf(&req, `<rpm:entry name="/usr/bin/%s"/>`, synthName(synthProgramOwner(i)))
		}
		requires := ""
		if req.Len() > 0 {
			requires = "<rpm:requires>" + req.String() + "</rpm:requires>"
		}
		files, _ := synthFiles(i)
		var fl strings.Builder
		for _, f := range files {
			if inPrimary(f) {
				fmt.Fprintf(&fl, "<file>%s</file>", f)
			}
		}
		_, err := fmt.Fprintf(w, `<package type="rpm">
  <name>%[1]s</name>
  <arch>%[2]s</arch>
  <version epoch="0" ver="1.%[3]d" rel="1.bench"/>
  <checksum type="sha256" pkgid="YES">%[4]s</checksum>
  <summary>Synthetic package %[1]s</summary>
  <description>A package that exists only in metadata, for strata's depsolve benchmark.</description>
  <packager>strata bench</packager>
  <url>https://example.invalid/%[1]s</url>
  <time file="1700000000" build="1700000000"/>
  <size package="%[5]d" installed="%[6]d" archive="%[7]d"/>
  <location href="Packages/%[1]s-1.%[3]d-1.bench.%[2]s.rpm"/>
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:vendor>strata</rpm:vendor>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>bench.invalid</rpm:buildhost>
    <rpm:sourcerpm>%[1]s-1.%[3]d-1.bench.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="%[8]d"/>
    <rpm:provides><rpm:entry name="%[1]s" flags="EQ" epoch="0" ver="1.%[3]d" rel="1.bench"/><rpm:entry name="%[1]s(%[2]s)" flags="EQ" epoch="0" ver="1.%[3]d" rel="1.bench"/><rpm:entry name="%[9]s"/></rpm:provides>
    %[10]s
    %[11]s
  </format>
</package>
`, name, arch, i%10, synthPkgID(i), 5000+i%9000, 12000+i%30000, 12500+i%30000, 6000+i%2000, synthLib(i), requires, fl.String())
		if err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "</metadata>\n")
	return err
}

func writeFilelists(w io.Writer) error {
	if _, err := fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="%d">
`, synthCount); err != nil {
		return err
	}
	for i := 0; i < synthCount; i++ {
		files, dirs := synthFiles(i)
		var fl strings.Builder
		for _, d := range dirs {
			fmt.Fprintf(&fl, `<file type="dir">%s</file>`, d)
		}
		for _, f := range files {
			fmt.Fprintf(&fl, "<file>%s</file>", f)
		}
		_, err := fmt.Fprintf(w, `<package pkgid="%s" name="%s" arch="%s"><version epoch="0" ver="1.%d" rel="1.bench"/>%s</package>
`, synthPkgID(i), synthName(i), synthArch(i), i%10, fl.String())
		if err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "</filelists>\n")
	return err
}
