package rpmimport

import (
	"strconv"
	"strings"
	"testing"
)

func TestRef(t *testing.T) {
	for _, tc := range []struct {
		name           string
		epoch          uint32
		ver, rel, arch string
		want           string
	}{
		// Values from rpm-ostree's own cache branch table.
		{"foo", 0, "1.0", "1", "x86_64", "rpmostree/pkg/foo/1.0-1.x86__64"},
		{"git", 0, "1.8.3.1", "6.el7_2.1", "x86_64", "rpmostree/pkg/git/1.8.3.1-6.el7__2.1.x86__64"},
		{"perl", 4, "5.16.3", "291.el7", "x86_64", "rpmostree/pkg/perl/4_3A5.16.3-291.el7.x86__64"},
		{"vim-common", 2, "7.4.160", "1.el7_3.1", "x86_64", "rpmostree/pkg/vim-common/2_3A7.4.160-1.el7__3.1.x86__64"},
		{"perl-Carp", 0, "1.26", "244.el7", "noarch", "rpmostree/pkg/perl-Carp/1.26-244.el7.noarch"},
		// Characters the table above does not cover.
		{"libstdc++", 0, "12.2.1", "4.fc37", "x86_64", "rpmostree/pkg/libstdc_2B_2B/12.2.1-4.fc37.x86__64"},
		{"foo", 0, "1.0~rc1^git2", "1", "noarch", "rpmostree/pkg/foo/1.0_7Erc1_5Egit2-1.noarch"},
		{"a b", 1, "1", "1", "noarch", "rpmostree/pkg/a_20b/1_3A1-1.noarch"},
		{"x", 0, "1/2", "1", "noarch", "rpmostree/pkg/x/1_2F2-1.noarch"},
		{"ü", 0, "1", "1", "noarch", "rpmostree/pkg/_C3_BC/1-1.noarch"},
	} {
		got := Ref(tc.name, tc.epoch, tc.ver, tc.rel, tc.arch)
		if got != tc.want {
			t.Errorf("Ref(%q, %d, %q, %q, %q) = %q, want %q", tc.name, tc.epoch, tc.ver, tc.rel, tc.arch, got, tc.want)
		}
		// Decoding the way rpm-ostree reads refs back gives the NEVRA.
		nevra := tc.name + "-"
		if tc.epoch != 0 {
			nevra += strconv.Itoa(int(tc.epoch)) + ":"
		}
		nevra += tc.ver + "-" + tc.rel + "." + tc.arch
		if dec := decodeRef(t, got); dec != nevra {
			t.Errorf("decoding %q gives %q, want %q", got, dec, nevra)
		}
	}
}

// decodeRef undoes the quoting: "/" becomes "-", "__" is "_", "_XX" a byte.
func decodeRef(t *testing.T, ref string) string {
	s := strings.TrimPrefix(ref, RefPrefix)
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/':
			b = append(b, '-')
		case c == '_' && i+1 < len(s) && s[i+1] == '_':
			b = append(b, '_')
			i++
		case c == '_':
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", ref)
			}
			b = append(b, byte(v))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
