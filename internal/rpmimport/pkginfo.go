package rpmimport

import (
	"fmt"
	"strings"

	"github.com/strata-os/strata/internal/nevra"
)

// File flags (rpmfileAttrs) that matter here.
const fileFlagGhost = 1 << 6

// pkgInfo is the part of the main header an import needs.
type pkgInfo struct {
	nevra.Package
	BuildTime         uint64
	PayloadCompressor string
	PayloadDigest     string // hex, of the compressed payload; "" if absent
	PayloadDigestAlgo uint64
	FileDigestAlgo    uint64
	Files             []rpmFile
}

// rpmFile is one entry of the header's file list, as the package states it.
type rpmFile struct {
	Path        string
	Size        uint64
	Mode        uint32 // st_mode: type and permission bits
	Rdev        uint32
	Digest      string // hex; "" for non-regular files
	LinkTo      string
	Flags       uint32
	User, Group string
	Device      uint32
	Inode       uint32
	Caps        string // libcap text form, "" for none
}

func (f rpmFile) ghost() bool { return f.Flags&fileFlagGhost != 0 }

// readPkgInfo decodes and sanity-checks the main header.
func readPkgInfo(h *header) (*pkgInfo, error) {
	p := &pkgInfo{}
	for _, f := range []struct {
		tag uint32
		dst *string
	}{{tagName, &p.Name}, {tagVersion, &p.Version}, {tagRelease, &p.Release}, {tagArch, &p.Arch}} {
		v, ok, err := h.str(f.tag)
		if err != nil {
			return nil, err
		}
		if !ok || v == "" {
			return nil, fmt.Errorf("header lacks tag %d", f.tag)
		}
		*f.dst = v
	}
	if strings.ContainsAny(p.Name, "/\n") || p.Name == "." || p.Name == ".." {
		return nil, fmt.Errorf("invalid package name %q", p.Name)
	}
	if _, ok, err := h.str(tagSourceRPM); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%s is a source package", p.Name)
	}
	if e, ok, err := h.int(tagEpoch); err != nil {
		return nil, err
	} else if ok {
		if e > 0xffffffff {
			return nil, fmt.Errorf("epoch %d out of range", e)
		}
		p.Epoch = uint32(e)
	}
	var err error
	if p.BuildTime, _, err = h.int(tagBuildTime); err != nil {
		return nil, err
	}
	if format, ok, err := h.str(tagPayloadFormat); err != nil {
		return nil, err
	} else if ok && format != "cpio" {
		return nil, fmt.Errorf("unsupported payload format %q", format)
	}
	if p.PayloadCompressor, _, err = h.str(tagPayloadCompressor); err != nil {
		return nil, err
	}
	if d, ok, err := h.strs(tagPayloadDigest); err != nil {
		return nil, err
	} else if ok && len(d) > 0 {
		p.PayloadDigest = d[0]
		if p.PayloadDigestAlgo, _, err = h.int(tagPayloadDigestAlgo); err != nil {
			return nil, err
		}
	}
	algo, ok, err := h.int(tagFileDigestAlgo)
	if err != nil {
		return nil, err
	}
	if !ok {
		algo = digestMD5 // rpm's default before the tag existed
	}
	p.FileDigestAlgo = algo
	if p.Files, err = readFiles(h); err != nil {
		return nil, fmt.Errorf("reading file list of %s: %w", p.Name, err)
	}
	return p, nil
}

// fileTags holds the per-file arrays; each must have one value per file.
type fileTags struct {
	sizes, modes, rdevs, flags, devices, inodes []uint64
	digests, links, users, groups, caps         []string
}

func readFiles(h *header) ([]rpmFile, error) {
	paths, err := filePaths(h)
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	n := len(paths)
	var t fileTags
	sizeTag := uint32(tagFileSizes)
	if _, ok := h.entries[tagLongFileSizes]; ok {
		sizeTag = tagLongFileSizes // files over 4 GiB
	}
	ints := []struct {
		tag      uint32
		dst      *[]uint64
		required bool
	}{
		{tagFileModes, &t.modes, true},
		{tagFileRdevs, &t.rdevs, false},
		{tagFileFlags, &t.flags, false},
		{tagFileDevices, &t.devices, false},
		{tagFileInodes, &t.inodes, false},
		{sizeTag, &t.sizes, true},
	}
	for _, f := range ints {
		v, ok, err := h.ints(f.tag)
		if err != nil {
			return nil, err
		}
		if !ok && f.required {
			return nil, fmt.Errorf("header lacks tag %d", f.tag)
		}
		if ok && len(v) != n {
			return nil, fmt.Errorf("tag %d has %d values for %d files", f.tag, len(v), n)
		}
		*f.dst = v
	}
	for _, f := range []struct {
		tag      uint32
		dst      *[]string
		required bool
	}{
		{tagFileDigests, &t.digests, false},
		{tagFileLinkTos, &t.links, false},
		{tagFileUserName, &t.users, true},
		{tagFileGroupName, &t.groups, true},
		{tagFileCaps, &t.caps, false},
	} {
		v, ok, err := h.strs(f.tag)
		if err != nil {
			return nil, err
		}
		if !ok && f.required {
			return nil, fmt.Errorf("header lacks tag %d", f.tag)
		}
		if ok && len(v) != n {
			return nil, fmt.Errorf("tag %d has %d values for %d files", f.tag, len(v), n)
		}
		*f.dst = v
	}
	at := func(v []uint64, i int) uint64 {
		if v == nil {
			return 0
		}
		return v[i]
	}
	sat := func(v []string, i int) string {
		if v == nil {
			return ""
		}
		return v[i]
	}
	files := make([]rpmFile, n)
	for i := range files {
		files[i] = rpmFile{
			Path:   paths[i],
			Size:   t.sizes[i],
			Mode:   uint32(t.modes[i]),
			Rdev:   uint32(at(t.rdevs, i)),
			Digest: sat(t.digests, i),
			LinkTo: sat(t.links, i),
			Flags:  uint32(at(t.flags, i)),
			User:   t.users[i],
			Group:  t.groups[i],
			Device: uint32(at(t.devices, i)),
			Inode:  uint32(at(t.inodes, i)),
			Caps:   sat(t.caps, i),
		}
	}
	return files, nil
}

// filePaths joins DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or falls back to
// the pre-4.0 OLDFILENAMES.
func filePaths(h *header) ([]string, error) {
	base, ok, err := h.strs(tagBaseNames)
	if err != nil {
		return nil, err
	}
	if !ok {
		old, _, err := h.strs(tagOldFilenames)
		return old, err
	}
	dirs, _, err := h.strs(tagDirNames)
	if err != nil {
		return nil, err
	}
	idx, _, err := h.ints(tagDirIndexes)
	if err != nil {
		return nil, err
	}
	if len(idx) != len(base) {
		return nil, fmt.Errorf("%d dir indexes for %d base names", len(idx), len(base))
	}
	out := make([]string, len(base))
	for i, b := range base {
		if idx[i] >= uint64(len(dirs)) {
			return nil, fmt.Errorf("dir index %d out of range", idx[i])
		}
		out[i] = dirs[idx[i]] + b
	}
	return out, nil
}
