package image

import (
	"fmt"
	"strings"
)

// Ref prefixes of ostree-rs-ext's container store, so `ostree refs` on a
// strata host reads as on a Fedora CoreOS host.
const (
	BlobRefPrefix  = "ostree/container/blob"
	ImageRefPrefix = "ostree/container/image"
)

// BlobRef is the ref of an imported layer: "sha256:ab…" becomes
// "ostree/container/blob/sha256_3A_ab…".
func BlobRef(digest string) string { return BlobRefPrefix + "/" + escapeForRef(digest) }

// ImageRef is the ref of a merged image commit, named after the image
// reference without its verification scheme ("docker://quay.io/os:1").
func ImageRef(imageReference string) string {
	return ImageRefPrefix + "/" + escapeForRef(imageReference)
}

// escapeForRef maps an arbitrary string onto ref characters the way
// ostree-rs-ext does, so both tools name the same image the same way:
// ASCII letters and digits stay, "-" stays, "_" doubles, "/" stays only
// between an alphanumeric and something more (refs have no empty
// components), and any other character becomes "_<HEX>_" of its code point.
func escapeForRef(s string) string {
	var b strings.Builder
	runes := []rune(s)
	prevAlnum := false
	for i, c := range runes {
		alnum := c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
		switch {
		case alnum:
			b.WriteRune(c)
		case c == '/' && prevAlnum && i+1 < len(runes):
			b.WriteRune(c)
		case c == '-':
			b.WriteRune(c)
		case c == '_':
			b.WriteString("__")
		default:
			fmt.Fprintf(&b, "_%02X_", c)
		}
		prevAlnum = alnum
	}
	return b.String()
}

// unescapeRef reverses escapeForRef.
func unescapeRef(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '_' {
			b.WriteByte('_')
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '_')
		if end < 0 {
			return "", fmt.Errorf("unterminated escape in ref %q", s)
		}
		var r rune
		if _, err := fmt.Sscanf(s[i+1:i+1+end], "%X", &r); err != nil {
			return "", fmt.Errorf("bad escape in ref %q: %w", s, err)
		}
		b.WriteRune(r)
		i += end + 1
	}
	return b.String(), nil
}
