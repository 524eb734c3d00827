package rpmimport

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Digest algorithms as rpm numbers them (PGPHASHALGO_*).
const (
	digestMD5    = 1
	digestSHA1   = 2
	digestSHA256 = 8
	digestSHA384 = 9
	digestSHA512 = 10
	digestSHA224 = 11
)

func newDigest(algo uint64) hash.Hash {
	switch algo {
	case digestMD5:
		return md5.New()
	case digestSHA1:
		return sha1.New()
	case digestSHA256:
		return sha256.New()
	case digestSHA384:
		return sha512.New384()
	case digestSHA512:
		return sha512.New()
	case digestSHA224:
		return sha256.New224()
	}
	return nil
}

func digestName(algo uint64) string {
	return map[uint64]string{digestMD5: "md5", digestSHA1: "sha1", digestSHA256: "sha256",
		digestSHA384: "sha384", digestSHA512: "sha512", digestSHA224: "sha224"}[algo]
}

// decompressor opens the payload stream for the header's compressor name.
func decompressor(r *bufio.Reader, compressor string) (io.Reader, func(), error) {
	none := func() {}
	switch compressor {
	case "", "gzip":
		// Packages older than the compressor tag are gzip or plain cpio.
		if compressor == "" {
			if magic, err := r.Peek(2); err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
				return r, none, nil
			}
		}
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, none, err
		}
		return z, func() { z.Close() }, nil
	case "bzip2":
		return bzip2.NewReader(r), none, nil
	case "xz":
		z, err := xz.NewReader(r)
		return z, none, err
	case "lzma":
		z, err := lzma.NewReader(r)
		return z, none, err
	case "zstd":
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, none, err
		}
		return z, z.Close, nil
	case "identity", "ufdio":
		return r, none, nil
	}
	return nil, none, fmt.Errorf("unsupported payload compressor %q", compressor)
}

// cpioEntry is one header of the payload archive (newc format, or rpm's
// "stripped" format that only names a header file index).
type cpioEntry struct {
	name     string // "" for stripped entries
	index    int    // header file index, stripped entries only
	stripped bool
	size     int64 // for newc entries; stripped sizes come from the header
}

const (
	cpioTrailer    = "TRAILER!!!"
	maxCpioNameLen = 64 << 10
)

// cpioReader walks a cpio stream; the caller reads each entry's data
// through data() before asking for the next one.
type cpioReader struct {
	r    io.Reader
	off  int64 // bytes consumed, for 4-byte alignment
	left int64 // unread data of the current entry
}

func (c *cpioReader) read(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(c.r, b)
	c.off += int64(n)
	return b, noEOF(err)
}

func (c *cpioReader) align() error {
	if pad := (4 - c.off%4) % 4; pad != 0 {
		_, err := c.read(int(pad))
		return err
	}
	return nil
}

func (c *cpioReader) skipRest() error {
	if c.left > 0 {
		n, err := io.CopyN(io.Discard, c.r, c.left)
		c.off += n
		c.left -= n
		if err != nil {
			return noEOF(err)
		}
	}
	return c.align()
}

func hexField(b []byte) (uint64, error) {
	v, err := strconv.ParseUint(string(b), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad cpio header field %q", b)
	}
	return v, nil
}

// next reads the next entry header; it returns io.EOF at the trailer.
func (c *cpioReader) next() (*cpioEntry, error) {
	if err := c.skipRest(); err != nil {
		return nil, err
	}
	magic, err := c.read(6)
	if err != nil {
		return nil, err
	}
	switch string(magic) {
	case "07070X":
		b, err := c.read(8)
		if err != nil {
			return nil, err
		}
		idx, err := hexField(b)
		if err != nil {
			return nil, err
		}
		if err := c.align(); err != nil {
			return nil, err
		}
		return &cpioEntry{stripped: true, index: int(idx)}, nil
	case "070701", "070702":
	default:
		return nil, fmt.Errorf("bad cpio magic %q", magic)
	}
	b, err := c.read(13 * 8)
	if err != nil {
		return nil, err
	}
	fields := make([]uint64, 13)
	for i := range fields {
		if fields[i], err = hexField(b[i*8 : i*8+8]); err != nil {
			return nil, err
		}
	}
	size, namesize := fields[6], fields[11]
	if namesize == 0 || namesize > maxCpioNameLen {
		return nil, fmt.Errorf("bad cpio name size %d", namesize)
	}
	nb, err := c.read(int(namesize))
	if err != nil {
		return nil, err
	}
	if nb[len(nb)-1] != 0 {
		return nil, errors.New("cpio name is not NUL-terminated")
	}
	if err := c.align(); err != nil {
		return nil, err
	}
	name := string(nb[:len(nb)-1])
	if name == cpioTrailer {
		return nil, io.EOF
	}
	c.left = int64(size)
	return &cpioEntry{name: name, size: int64(size)}, nil
}

// data returns a reader for the current entry's n data bytes.
func (c *cpioReader) data(n int64) io.Reader {
	c.left = n
	return &cpioData{c}
}

type cpioData struct{ c *cpioReader }

func (d *cpioData) Read(p []byte) (int, error) {
	c := d.c
	if c.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.off += int64(n)
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
