package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-os/strata/tests/fixture"
)

// baseRef is the branch the 20 000-file base is committed to, directly in the
// sysroot's repo: the benchmark measures deploying and layering, not pulling.
const baseRef = "bench/x86_64/base"

// benchKernel is a stand-in kernel in the fixture's shape: ostree admin
// deploy refuses a tree without /usr/lib/modules/<kver>/vmlinuz.
func benchKernel() fixture.Package {
	kver := fixture.KernelVersion
	return fixture.Package{
		Name:    "bench-kernel",
		Version: "6.1.0",
		Install: fmt.Sprintf(`mkdir -p %%{buildroot}/usr/lib/modules/%[1]s
echo 'bench kernel %[1]s' > %%{buildroot}/usr/lib/modules/%[1]s/vmlinuz
echo 'bench initramfs %[1]s' > %%{buildroot}/usr/lib/modules/%[1]s/initramfs.img
`, kver),
		Files: "/usr/lib/modules/" + kver + "\n",
	}
}

// benchRelease carries os-release and a config file under /etc, so the base
// has an rpmdb of more than one package and a real /usr/etc.
func benchRelease() fixture.Package {
	return fixture.Package{
		Name:    "bench-release",
		Version: "1.0",
		Install: `mkdir -p %{buildroot}/etc %{buildroot}/usr/lib
printf 'NAME="Bench OS"\nID=bench\nVERSION_ID=1.0\n' > %{buildroot}/usr/lib/os-release
ln -s ../usr/lib/os-release %{buildroot}/etc/os-release
printf '# bench configuration\nlevel=1\n' > %{buildroot}/etc/bench.conf
`,
		Files: "/usr/lib/os-release\n/etc/os-release\n%config(noreplace) /etc/bench.conf\n",
	}
}

// smallPackage is one of the packages that get layered: a single 1 KiB data
// file, no scriptlets and no dependencies, so the measurement is the
// mechanics of layering rather than of running scripts.
func smallPackage(name string) fixture.Package {
	return fixture.Package{
		Name:    name,
		Version: "1.0",
		Install: fmt.Sprintf(`mkdir -p %%{buildroot}/usr/share/%[1]s
for i in $(seq 1 32); do echo "%[1]s line $i of a small data file" ; done > %%{buildroot}/usr/share/%[1]s/data
`, name),
		Files: "/usr/share/" + name + "\n",
	}
}

// buildBaseTree makes an OSTree-shaped root at root holding exactly nFiles
// non-directory entries: the RPMs installed with the real rpm (kernel,
// os-release, their rpmdb in usr/share/rpm), a few files in /usr/etc, and
// generated small text files filling a realistic directory structure.
func buildBaseTree(ctx context.Context, root string, rpms []string, nFiles int, areas []treeArea) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	args := append([]string{"--root=" + root, "--dbpath=/usr/share/rpm", "-i", "--nodeps", "--noscripts"}, rpms...)
	if err := runTool(ctx, "rpm", args...); err != nil {
		return fmt.Errorf("installing base packages: %w", err)
	}
	// A composed tree ships the database, not rpm's lock or sqlite's
	// side files.
	for _, leftover := range []string{".rpm.lock", "rpmdb.sqlite-shm", "rpmdb.sqlite-wal"} {
		if err := os.Remove(filepath.Join(root, "usr/share/rpm", leftover)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := shapeTree(root); err != nil {
		return err
	}
	etc := map[string]string{
		"hostname":    "bench\n",
		"machine-id":  "",
		"passwd":      "root:x:0:0:root:/root:/bin/sh\n",
		"group":       "root:x:0:\n",
		"fstab":       "# empty\n",
		"motd":        "Bench OS\n",
		"profile":     "export PATH=/usr/bin\n",
		"environment": "",
	}
	for name, content := range etc {
		if err := writeFile(filepath.Join(root, "usr/etc", name), content, 0o644); err != nil {
			return err
		}
	}
	have, err := countFiles(root)
	if err != nil {
		return err
	}
	if have > nFiles {
		return fmt.Errorf("base tree already has %d files, more than the %d asked for", have, nFiles)
	}
	return generateFiles(root, nFiles-have, areas)
}

// shapeTree turns an installed root into what ostree admin deploy expects:
// /etc under /usr/etc, top-level symlinks into /usr and /var, empty mount
// points.
func shapeTree(root string) error {
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(root, "etc"), filepath.Join(root, "usr/etc")); err != nil {
		return fmt.Errorf("moving /etc to /usr/etc: %w", err)
	}
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "sysroot", "var", "proc", "sys", "dev", "run", "tmp", "boot"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return err
	}
	links := map[string]string{
		"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64",
		"home": "var/home", "root": "var/roothome", "opt": "var/opt", "mnt": "var/mnt",
		"srv": "var/srv", "media": "run/media", "ostree": "sysroot/ostree",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			return fmt.Errorf("linking /%s: %w", name, err)
		}
	}
	return nil
}

// treeArea is one part of the generated tree: files spread over dirs
// sub-directories of prefix, each file named with ext.
type treeArea struct {
	prefix string
	dirs   int
	ext    string
	mode   os.FileMode
	share  int // relative share of the files
}

// treeAreas imitates where a distribution's files live: a few flat
// directories with many entries (bin, lib64) and deep trees of small
// directories (docs, locales, python modules, headers, icons).
var treeAreas = []treeArea{
	{"usr/bin", 1, "", 0o755, 4},
	{"usr/lib64", 1, ".so.1", 0o755, 8},
	{"usr/share/doc", 600, "", 0o644, 14},
	{"usr/share/locale", 120, ".mo", 0o644, 12},
	{"usr/lib/python3.11/site-packages", 700, ".py", 0o644, 30},
	{"usr/include", 150, ".h", 0o644, 10},
	{"usr/share/icons/hicolor", 40, ".png", 0o644, 8},
	{"usr/share/man/man1", 1, ".1.gz", 0o644, 6},
	{"usr/lib/firmware", 80, ".bin", 0o644, 8},
}

// compactAreas is the cheap-to-deploy base of issue 16: the same number
// of small files in a handful of flat directories, so that writing a
// deployment is mostly hardlinking and the fixed costs of a transaction
// show.
var compactAreas = []treeArea{
	{"usr/bin", 1, "", 0o755, 1},
	{"usr/lib64", 1, ".so.1", 0o755, 1},
	{"usr/share/bench/a", 1, ".txt", 0o644, 1},
	{"usr/share/bench/b", 1, ".txt", 0o644, 1},
}

// generateFiles writes n small files of distinct content (so ostree cannot
// deduplicate them) across areas. Sizes range from 64 bytes to 4 KiB.
func generateFiles(root string, n int, areas []treeArea) error {
	total := 0
	for _, a := range areas {
		total += a.share
	}
	written := 0
	for ai, a := range areas {
		count := n * a.share / total
		if ai == len(areas)-1 {
			count = n - written
		}
		for i := 0; i < count; i++ {
			dir := a.prefix
			if a.dirs > 1 {
				d := i % a.dirs
				// Two levels, as in doc/<pkg>/ or site-packages/<pkg>/<sub>/.
				dir = filepath.Join(a.prefix, fmt.Sprintf("pkg%03d", d/4), fmt.Sprintf("part%d", d%4))
			}
			name := fmt.Sprintf("f%05d%s", i, a.ext)
			rel := filepath.Join(dir, name)
			size := 64 + (written*7919)%4032
			if err := writeFile(filepath.Join(root, rel), fillText(rel, size), a.mode); err != nil {
				return err
			}
			written++
		}
	}
	return nil
}

// fillText is size bytes of text that starts with the file's path.
func fillText(rel string, size int) string {
	line := "# " + rel + ": generated by strata's benchmark\n"
	b := make([]byte, 0, size)
	for len(b) < size {
		b = append(b, line...)
	}
	return string(b[:size])
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	// WriteFile's mode passes through the umask; the tree must not.
	return os.Chmod(path, mode)
}

// countFiles counts the non-directory entries under root.
func countFiles(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	return n, err
}

// commitBase commits the tree to baseRef in repo and returns the checksum.
func commitBase(ctx context.Context, repo, tree string) (string, error) {
	out, err := toolOutput(ctx, "ostree", "commit", "--repo="+repo, "--branch="+baseRef,
		"--subject=bench base", "--add-metadata-string=version=1.0",
		"--timestamp="+time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02 15:04:05 -0700"),
		"--owner-uid=0", "--owner-gid=0", "--tree=dir="+tree)
	if err != nil {
		return "", fmt.Errorf("committing the base: %w", err)
	}
	return trim(out), nil
}
