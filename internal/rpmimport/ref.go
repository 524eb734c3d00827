package rpmimport

import (
	"fmt"
	"strings"

	"github.com/strata-os/strata/internal/nevra"
)

// RefPrefix is the ref namespace of imported packages.
const RefPrefix = "rpmostree/pkg/"

// Ref is the ref of an imported package: rpmostree/pkg/<name>/<evr>.<arch>,
// where evr omits a 0 epoch ("1.0-1", "2:1.0-1"). It uses rpm-ostree's
// quoting so both tools agree on a repo's package cache: ASCII letters,
// digits, "." and "-" stay, "_" becomes "__" and any other byte becomes "_"
// plus two uppercase hex digits ("+" -> "_2B", ":" -> "_3A"). The "/" and
// the "." between evr and arch are separators and are never quoted.
//
// One divergence: rpm-ostree formats bytes >= 0x80 through a signed char on
// x86 ("_FFFFFFC3"); we always write two digits per byte ("_C3"). Package
// names and versions outside ASCII do not occur in practice.
func Ref(name string, epoch uint32, version, release, arch string) string {
	var b strings.Builder
	b.WriteString(RefPrefix)
	quoteRefPart(&b, name)
	b.WriteByte('/')
	quoteRefPart(&b, nevra.FormatEVR(epoch, version, release))
	b.WriteByte('.')
	quoteRefPart(&b, arch)
	return b.String()
}

func quoteRefPart(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-':
			b.WriteByte(c)
		case c == '_':
			b.WriteString("__")
		default:
			fmt.Fprintf(b, "_%02X", c)
		}
	}
}
