// Package initrd builds overlay initramfs archives: the gzip-compressed
// cpio (newc) archives that libostree appends to a boot entry's initrd
// line, so that files of /etc (rpm-ostree's initramfs-etc) are there before
// the root filesystem is mounted. It reads files and writes an archive; it
// knows nothing of deployments or boot entries.
package initrd

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// WriteOverlay writes to w an archive of paths (absolute, e.g.
// "/etc/foo.conf") read below root: each path with the directories that
// lead to it, a directory with everything under it. Entries are sorted and
// carry no inode or device numbers and no times, so the same files give
// the same bytes (and libostree, which names overlays by checksum, keeps
// one copy for every deployment made from the same /etc: a new
// deployment's /etc is a fresh copy with new times).
func WriteOverlay(w io.Writer, root string, paths []string) error {
	entries := map[string]bool{}
	for _, p := range paths {
		clean := path.Clean("/" + p)
		if clean != p || clean == "/" {
			return fmt.Errorf("%q is not a clean absolute path", p)
		}
		rel := strings.TrimPrefix(clean, "/")
		for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
			entries[dir] = true
		}
		err := filepath.WalkDir(filepath.Join(root, rel), func(full string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			r, err := filepath.Rel(root, full)
			if err != nil {
				return err
			}
			entries[filepath.ToSlash(r)] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children
	gz := gzip.NewWriter(w)
	cw := &cpioWriter{w: gz}
	for _, n := range names {
		if err := cw.addFile(root, n); err != nil {
			return err
		}
	}
	if err := cw.trailer(); err != nil {
		return err
	}
	return gz.Close()
}

// cpioWriter writes the "newc" format the kernel unpacks into its rootfs.
type cpioWriter struct {
	w   io.Writer
	ino uint32
}

func (c *cpioWriter) addFile(root, name string) error {
	full := filepath.Join(root, name)
	fi, err := os.Lstat(full)
	if err != nil {
		return fmt.Errorf("reading %s: %w", "/"+name, err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	var uid, gid uint32
	if st != nil {
		uid, gid = st.Uid, st.Gid
	}
	mode := uint32(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		mode |= syscall.S_ISUID
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		mode |= syscall.S_ISGID
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		mode |= syscall.S_ISVTX
	}
	var body []byte
	switch {
	case fi.Mode().IsRegular():
		mode |= syscall.S_IFREG
		if body, err = os.ReadFile(full); err != nil {
			return fmt.Errorf("reading %s: %w", "/"+name, err)
		}
	case fi.IsDir():
		mode |= syscall.S_IFDIR
	case fi.Mode()&fs.ModeSymlink != 0:
		mode |= syscall.S_IFLNK
		target, err := os.Readlink(full)
		if err != nil {
			return fmt.Errorf("reading %s: %w", "/"+name, err)
		}
		body = []byte(target)
	default:
		return fmt.Errorf("/%s is neither a file, a directory nor a symlink; only those can go into the initramfs", name)
	}
	c.ino++
	return c.entry(name, c.ino, mode, uid, gid, 0, body)
}

func (c *cpioWriter) trailer() error {
	return c.entry("TRAILER!!!", 0, 0, 0, 0, 0, nil)
}

// entry writes one header, name and body, each padded to 4 bytes.
func (c *cpioWriter) entry(name string, ino, mode, uid, gid, mtime uint32, body []byte) error {
	nlink := uint32(1)
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, uid, gid, nlink, mtime, len(body), 0, 0, 0, 0, len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, body...)
	buf = pad4(buf)
	_, err := c.w.Write(buf)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
