package rpmimport

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Header tags this package reads (values from rpm's rpmtag.h).
const (
	tagName              = 1000
	tagVersion           = 1001
	tagRelease           = 1002
	tagEpoch             = 1003
	tagBuildTime         = 1006
	tagArch              = 1022
	tagOldFilenames      = 1027
	tagFileSizes         = 1028
	tagFileModes         = 1030
	tagFileRdevs         = 1033
	tagFileDigests       = 1035
	tagFileLinkTos       = 1036
	tagFileFlags         = 1037
	tagFileUserName      = 1039
	tagFileGroupName     = 1040
	tagSourceRPM         = 1044
	tagFileDevices       = 1095
	tagFileInodes        = 1096
	tagDirIndexes        = 1116
	tagBaseNames         = 1117
	tagDirNames          = 1118
	tagPayloadFormat     = 1124
	tagPayloadCompressor = 1125
	tagLongFileSizes     = 5008
	tagFileCaps          = 5010
	tagFileDigestAlgo    = 5011
	tagPayloadDigest     = 5092
	tagPayloadDigestAlgo = 5093

	sigTagSHA1   = 269
	sigTagSHA256 = 273
)

// Header entry types.
const (
	typeNull        = 0
	typeChar        = 1
	typeInt8        = 2
	typeInt16       = 3
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

// Limits follow librpm's own (hdrchk): a header larger than this is refused
// there too, so no real package is lost by enforcing them.
const (
	maxIndexEntries = 0xffff
	maxStoreSize    = 0x0fffffff
)

var (
	leadMagic   = []byte{0xed, 0xab, 0xee, 0xdb}
	headerMagic = []byte{0x8e, 0xad, 0xe8, 0x01}
)

type indexEntry struct {
	typ, offset, count uint32
}

// header is one parsed header structure (signature or main). Values are
// decoded on access, each access checking its bounds against the store.
type header struct {
	entries map[uint32]indexEntry
	store   []byte
	raw     []byte // the header exactly as read: intro, index and store
}

// pkgHeaders is what precedes the payload in an RPM file.
type pkgHeaders struct {
	sig, main *header
	// prefix is the lead, signature header (with its padding) and main
	// header, byte for byte.
	prefix []byte
}

// readPackageHeaders reads the lead, the signature header and the main header
// from r, leaving r at the first payload byte. It checks the main header
// against the digests the signature header holds.
func readPackageHeaders(r io.Reader) (*pkgHeaders, error) {
	var prefix bytes.Buffer
	tr := io.TeeReader(r, &prefix)
	lead := make([]byte, 96)
	if _, err := io.ReadFull(tr, lead); err != nil {
		return nil, fmt.Errorf("reading lead: %w", noEOF(err))
	}
	if !bytes.Equal(lead[:4], leadMagic) {
		return nil, errors.New("not an RPM file (bad lead magic)")
	}
	if binary.BigEndian.Uint16(lead[6:8]) != 0 {
		return nil, errors.New("source RPMs cannot be imported")
	}
	sig, err := readHeader(tr, true)
	if err != nil {
		return nil, fmt.Errorf("reading signature header: %w", err)
	}
	main, err := readHeader(tr, false)
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	if err := checkHeaderDigests(sig, main); err != nil {
		return nil, err
	}
	return &pkgHeaders{sig: sig, main: main, prefix: prefix.Bytes()}, nil
}

// parsePackageHeaders parses a prefix stored by Import (rpmostree.metadata).
func parsePackageHeaders(b []byte) (*pkgHeaders, error) {
	br := bytes.NewReader(b)
	h, err := readPackageHeaders(br)
	if err != nil {
		return nil, err
	}
	if br.Len() != 0 {
		return nil, fmt.Errorf("%d stray bytes after the header", br.Len())
	}
	return h, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func readHeader(r io.Reader, padded bool) (*header, error) {
	intro := make([]byte, 16)
	if _, err := io.ReadFull(r, intro); err != nil {
		return nil, noEOF(err)
	}
	if !bytes.Equal(intro[:4], headerMagic) {
		return nil, errors.New("bad header magic")
	}
	nindex := binary.BigEndian.Uint32(intro[8:12])
	hsize := binary.BigEndian.Uint32(intro[12:16])
	if nindex == 0 || nindex > maxIndexEntries {
		return nil, fmt.Errorf("header has %d index entries", nindex)
	}
	if hsize > maxStoreSize {
		return nil, fmt.Errorf("header store of %d bytes is too large", hsize)
	}
	rest := make([]byte, int(nindex)*16+int(hsize))
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, noEOF(err)
	}
	h := &header{
		entries: make(map[uint32]indexEntry, nindex),
		store:   rest[nindex*16:],
		raw:     append(intro, rest...),
	}
	for i := uint32(0); i < nindex; i++ {
		e := rest[i*16 : i*16+16]
		tag := binary.BigEndian.Uint32(e[0:4])
		ent := indexEntry{
			typ:    binary.BigEndian.Uint32(e[4:8]),
			offset: binary.BigEndian.Uint32(e[8:12]),
			count:  binary.BigEndian.Uint32(e[12:16]),
		}
		if ent.offset > hsize {
			return nil, fmt.Errorf("tag %d points outside the header", tag)
		}
		h.entries[tag] = ent
	}
	if padded {
		if pad := (8 - hsize%8) % 8; pad != 0 {
			if _, err := io.ReadFull(r, make([]byte, pad)); err != nil {
				return nil, noEOF(err)
			}
		}
	}
	return h, nil
}

// checkHeaderDigests compares the main header with the SHA-256 (or, for old
// packages, SHA-1) digest in the signature header: a corrupt header must not
// reach the layout rules or the state checksum.
func checkHeaderDigests(sig, main *header) error {
	for _, d := range []struct {
		tag  uint32
		name string
		sum  func([]byte) []byte
	}{
		{sigTagSHA256, "SHA-256", func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
		{sigTagSHA1, "SHA-1", func(b []byte) []byte { s := sha1.Sum(b); return s[:] }},
	} {
		want, ok, err := sig.str(d.tag)
		if err != nil {
			return fmt.Errorf("reading signature header: %w", err)
		}
		if !ok {
			continue
		}
		if got := hex.EncodeToString(d.sum(main.raw)); got != want {
			return fmt.Errorf("header %s digest mismatch (package is corrupt)", d.name)
		}
		return nil
	}
	return nil
}

// strs returns the strings of a STRING, STRING_ARRAY or I18NSTRING tag.
func (h *header) strs(tag uint32) ([]string, bool, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, false, nil
	}
	switch e.typ {
	case typeString, typeStringArray, typeI18NString:
	default:
		return nil, true, fmt.Errorf("tag %d has type %d, not a string", tag, e.typ)
	}
	if e.typ == typeString && e.count != 1 {
		return nil, true, fmt.Errorf("string tag %d has count %d", tag, e.count)
	}
	// Each string takes at least its NUL, which bounds the allocation.
	if uint64(e.count) > uint64(len(h.store))-uint64(e.offset) {
		return nil, true, fmt.Errorf("tag %d runs past the header", tag)
	}
	out := make([]string, 0, e.count)
	off := int(e.offset)
	for i := uint32(0); i < e.count; i++ {
		n := bytes.IndexByte(h.store[off:], 0)
		if n < 0 {
			return nil, true, fmt.Errorf("tag %d runs past the header", tag)
		}
		out = append(out, string(h.store[off:off+n]))
		off += n + 1
	}
	return out, true, nil
}

// str returns the single string of a tag.
func (h *header) str(tag uint32) (string, bool, error) {
	v, ok, err := h.strs(tag)
	if err != nil || !ok {
		return "", ok, err
	}
	if len(v) != 1 {
		return "", true, fmt.Errorf("tag %d has %d values, want 1", tag, len(v))
	}
	return v[0], true, nil
}

// ints returns the values of an integer tag, widened to uint64.
func (h *header) ints(tag uint32) ([]uint64, bool, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, false, nil
	}
	var size uint64
	switch e.typ {
	case typeChar, typeInt8:
		size = 1
	case typeInt16:
		size = 2
	case typeInt32:
		size = 4
	case typeInt64:
		size = 8
	default:
		return nil, true, fmt.Errorf("tag %d has type %d, not an integer", tag, e.typ)
	}
	if uint64(e.count)*size > uint64(len(h.store))-uint64(e.offset) {
		return nil, true, fmt.Errorf("tag %d runs past the header", tag)
	}
	out := make([]uint64, e.count)
	b := h.store[e.offset:]
	for i := range out {
		switch size {
		case 1:
			out[i] = uint64(b[i])
		case 2:
			out[i] = uint64(binary.BigEndian.Uint16(b[i*2:]))
		case 4:
			out[i] = uint64(binary.BigEndian.Uint32(b[i*4:]))
		case 8:
			out[i] = binary.BigEndian.Uint64(b[i*8:])
		}
	}
	return out, true, nil
}

// int returns the single value of an integer tag.
func (h *header) int(tag uint32) (uint64, bool, error) {
	v, ok, err := h.ints(tag)
	if err != nil || !ok {
		return 0, ok, err
	}
	if len(v) != 1 {
		return 0, true, fmt.Errorf("tag %d has %d values, want 1", tag, len(v))
	}
	return v[0], true, nil
}
