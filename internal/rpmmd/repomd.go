package rpmmd

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// MaxRepomdSize bounds repomd.xml; real ones are a few kilobytes.
const MaxRepomdSize = 10 << 20

// Repomd is what strata uses of a repository's repodata/repomd.xml.
type Repomd struct {
	Revision string
	// Data holds the data entries by type ("primary", "filelists", ...).
	Data map[string]DataFile
}

// DataFile is one <data> entry of repomd.xml.
type DataFile struct {
	Type                           string
	Href                           string // relative to the repository root, checked by CheckHref
	ChecksumType                   string // normalised: sha1, sha224, sha256, sha384 or sha512
	Checksum                       string // lower-case hex, of the file as served
	OpenChecksumType, OpenChecksum string // of the uncompressed file; may be empty
	Size                           int64  // as served; 0 when repomd.xml does not say
	OpenSize                       int64
	Timestamp                      time.Time
}

// Timestamp is the newest data timestamp, which dnf shows as the time of
// the metadata.
func (m *Repomd) Timestamp() time.Time {
	var t time.Time
	for _, d := range m.Data {
		if d.Timestamp.After(t) {
			t = d.Timestamp
		}
	}
	return t
}

type xmlRepomd struct {
	XMLName  xml.Name  `xml:"repomd"`
	Revision string    `xml:"revision"`
	Data     []xmlData `xml:"data"`
}

type xmlData struct {
	Type         string      `xml:"type,attr"`
	Checksum     xmlChecksum `xml:"checksum"`
	OpenChecksum xmlChecksum `xml:"open-checksum"`
	Location     struct {
		Href string `xml:"href,attr"`
		Base string `xml:"base,attr"`
	} `xml:"location"`
	Timestamp string `xml:"timestamp"`
	Size      string `xml:"size"`
	OpenSize  string `xml:"open-size"`
}

type xmlChecksum struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

// ParseRepomd parses repomd.xml. It requires a primary entry and checks
// every entry strata uses (primary, filelists) thoroughly: a safe href, a
// known checksum type with a well-formed digest, sane sizes. Entries of
// other types are kept as read, unchecked.
func ParseRepomd(data []byte) (*Repomd, error) {
	if len(data) > MaxRepomdSize {
		return nil, fmt.Errorf("repomd.xml is %d bytes, more than the %d allowed", len(data), MaxRepomdSize)
	}
	var x xmlRepomd
	dec := xml.NewDecoder(bytes.NewReader(data))
	// Real repomd.xml files are UTF-8; refuse to guess at others.
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("unsupported XML encoding %q", label)
	}
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("parsing repomd.xml: %w", err)
	}
	m := &Repomd{Revision: strings.TrimSpace(x.Revision), Data: map[string]DataFile{}}
	for _, xd := range x.Data {
		t := strings.TrimSpace(xd.Type)
		if t == "" {
			return nil, fmt.Errorf("repomd.xml: a <data> entry has no type")
		}
		if _, dup := m.Data[t]; dup {
			return nil, fmt.Errorf("repomd.xml: %s is listed twice", t)
		}
		d, err := xd.dataFile(t)
		if err != nil && usedType(t) {
			return nil, fmt.Errorf("repomd.xml: %s: %w", t, err)
		}
		m.Data[t] = d
	}
	if _, ok := m.Data["primary"]; !ok {
		return nil, fmt.Errorf("repomd.xml has no primary entry")
	}
	return m, nil
}

func usedType(t string) bool { return t == "primary" || t == "filelists" }

func (xd xmlData) dataFile(t string) (DataFile, error) {
	d := DataFile{Type: t, Href: strings.TrimSpace(xd.Location.Href)}
	var err error
	if xd.Location.Base != "" {
		return d, fmt.Errorf("location with xml:base %q is not supported", xd.Location.Base)
	}
	if err = CheckHref(d.Href); err != nil {
		return d, err
	}
	if d.ChecksumType, d.Checksum, err = checkDigest(xd.Checksum.Type, xd.Checksum.Value); err != nil {
		return d, fmt.Errorf("checksum: %w", err)
	}
	if strings.TrimSpace(xd.OpenChecksum.Value) != "" {
		if d.OpenChecksumType, d.OpenChecksum, err = checkDigest(xd.OpenChecksum.Type, xd.OpenChecksum.Value); err != nil {
			return d, fmt.Errorf("open-checksum: %w", err)
		}
	}
	if d.Size, err = optionalInt(xd.Size); err != nil {
		return d, fmt.Errorf("size: %w", err)
	}
	if d.OpenSize, err = optionalInt(xd.OpenSize); err != nil {
		return d, fmt.Errorf("open-size: %w", err)
	}
	ts, err := optionalInt(xd.Timestamp)
	if err != nil {
		// Some generators write fractional timestamps.
		f, ferr := strconv.ParseFloat(strings.TrimSpace(xd.Timestamp), 64)
		if ferr != nil || f < 0 || f > 1e12 {
			return d, fmt.Errorf("timestamp: %w", err)
		}
		ts = int64(f)
	}
	if ts > 0 {
		d.Timestamp = time.Unix(ts, 0).UTC()
	}
	return d, nil
}

func optionalInt(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	return n, nil
}

// CheckHref accepts a location href only if it stays inside the repository:
// relative, no scheme, no ".." segment, no query or fragment.
func CheckHref(href string) error {
	switch {
	case href == "":
		return fmt.Errorf("empty location href")
	case strings.HasPrefix(href, "/"):
		return fmt.Errorf("location href %q is absolute", href)
	case strings.ContainsAny(href, "\\?#\x00") || strings.ContainsFunc(href, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("location href %q has characters not allowed in a file path", href)
	}
	if u, err := url.Parse(href); err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return fmt.Errorf("location href %q is not a relative path", href)
	}
	for _, seg := range strings.Split(href, "/") {
		if seg == ".." {
			return fmt.Errorf("location href %q leaves the repository", href)
		}
	}
	if b := path.Base(path.Clean(href)); b == "." || b == "/" || strings.HasSuffix(href, "/") {
		return fmt.Errorf("location href %q names no file", href)
	}
	return nil
}

// checkDigest normalises a checksum type name and checks that value is a hex
// digest of the right length for it.
func checkDigest(typ, value string) (string, string, error) {
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ == "sha" {
		typ = "sha1" // yum's old name
	}
	h, err := newHash(typ)
	if err != nil {
		return "", "", err
	}
	value = strings.ToLower(strings.TrimSpace(value))
	if raw, err := hex.DecodeString(value); err != nil || len(raw) != h.Size() {
		return "", "", fmt.Errorf("%q is not a %s digest", value, typ)
	}
	return typ, value, nil
}

// newHash returns a hash for a normalised checksum type. md5 is refused: it
// cannot protect what the cache hands to the solver.
func newHash(typ string) (hash.Hash, error) {
	switch typ {
	case "sha1", "sha":
		return sha1.New(), nil
	case "sha224":
		return sha256.New224(), nil
	case "sha256":
		return sha256.New(), nil
	case "sha384":
		return sha512.New384(), nil
	case "sha512":
		return sha512.New(), nil
	case "md5":
		return nil, fmt.Errorf("checksum type md5 is too weak to trust; the repository must use sha256")
	case "":
		return nil, fmt.Errorf("missing checksum type")
	}
	return nil, fmt.Errorf("unknown checksum type %q", typ)
}
