package rpmimport

import (
	"strings"
	"testing"
)

func TestMapPath(t *testing.T) {
	for _, tc := range []struct {
		in    string
		place placement
		dest  string
		err   string
	}{
		{"/usr/bin/foo", placeTree, "usr/bin/foo", ""},
		{"/usr", placeTree, "usr", ""},
		{"//usr/./bin//foo", placeTree, "usr/bin/foo", ""},
		{"/bin/sh", placeTree, "usr/bin/sh", ""},
		{"/sbin", placeTree, "usr/sbin", ""},
		{"/lib64/ld.so", placeTree, "usr/lib64/ld.so", ""},
		{"/etc", placeTree, "usr/etc", ""},
		{"/etc/foo.conf", placeTree, "usr/etc/foo.conf", ""},
		{"/opt", placeSkip, "", ""},
		{"/opt/app/bin/x", placeTree, "usr/lib/opt/app/bin/x", ""},
		{"/usr/local", placeSkip, "", ""},
		{"/usr/local/bin/x", placeTree, "usr/lib/usrlocal/bin/x", ""},
		{"/var", placeSkip, "", ""},
		{"/var/lib/foo", placeTmpfiles, "/var/lib/foo", ""},
		{"/var/lib/rpm/Packages", placeSkip, "", ""},
		{"/var/run", placeSkip, "", ""},
		{"/var/run/foo", placeTmpfiles, "/run/foo", ""},
		{"/run/foo", placeTmpfiles, "/run/foo", ""},
		{"/", placeSkip, "", ""},
		{"/boot/vmlinuz", 0, "", "outside what packages may ship"},
		{"/home/x", 0, "", "outside"},
		{"/root/.bashrc", 0, "", "outside"},
		{"/srv/www", 0, "", "outside"},
		{"/tmp/x", 0, "", "outside"},
		{"/dev/null", 0, "", "outside"},
		{"/usrx/y", 0, "", "outside"},
		{"/usr/../boot/x", 0, "", `contains ".."`},
		{"/usr/share/..", 0, "", `contains ".."`},
		{"usr/bin/foo", 0, "", "not absolute"},
		{"", 0, "", "not absolute"},
		{"/usr/\xff", 0, "", "UTF-8"},
	} {
		m, err := mapPath(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("mapPath(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || m.place != tc.place || m.dest != tc.dest {
			t.Errorf("mapPath(%q) = %v %q %v, want %v %q", tc.in, m.place, m.dest, err, tc.place, tc.dest)
		}
	}
}

func TestLinkEscapes(t *testing.T) {
	for _, tc := range []struct {
		link, target string
		escapes      bool
	}{
		{"/usr/bin/a", "b", false},
		{"/usr/bin/a", "../lib/b", false},
		{"/usr/bin/a", "../../etc/b", false},
		{"/usr/bin/a", "../../../etc/b", true},
		{"/usr/lib/systemd/x", "../../..//sbin/chkconfig", false},
		{"/etc/os-release", "../usr/lib/os-release", false},
		{"/usr/bin/a", "/usr/lib/b", false},
		{"/usr/bin/a", "/../etc/shadow", true},
		{"/usr/bin/a", "./../../..", true},
		{"/var/run", "../run", false},
	} {
		if got := linkEscapes(tc.link, tc.target); got != tc.escapes {
			t.Errorf("linkEscapes(%q, %q) = %v, want %v", tc.link, tc.target, got, tc.escapes)
		}
	}
}

func TestTmpfilesQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/foo":    "/var/lib/foo",
		"/var/lib/a b":    `"/var/lib/a b"`,
		"/var/lib/50%":    "/var/lib/50%%",
		"/var/lib/q\"\\x": `"/var/lib/q\"\\x"`,
		"/var/lib/nl\n":   `"/var/lib/nl\x0a"`,
	} {
		if got := tmpfilesQuote(in); got != want {
			t.Errorf("tmpfilesQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCapsXattr(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []byte // nil: no xattr
		err  bool
	}{
		// cap_net_raw is 13: permitted bit 13, effective flag.
		{"cap_net_raw=ep", []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"cap_net_raw+p", []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"cap_chown,cap_bpf=i", []byte{0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0}, false},
		{"cap_net_raw=ep cap_net_raw-p", nil, false},
		{"=", nil, false},
		{"cap_nonsense=ep", nil, true},
		{"cap_net_raw", nil, true},
		{"cap_net_raw+", nil, true},
	} {
		got, err := capsXattr(tc.text)
		if (err != nil) != tc.err || string(got) != string(tc.want) {
			t.Errorf("capsXattr(%q) = %v, %v; want %v (error %v)", tc.text, got, err, tc.want, tc.err)
		}
	}
}

// FuzzMapPath checks the invariants the importer relies on: no panic, and
// an accepted path lands inside /usr (tree) or /var, /run (tmpfiles) with
// no way back up.
func FuzzMapPath(f *testing.F) {
	for _, s := range []string{"/usr/bin/x", "/etc/a", "/opt/x/y", "/var/lib/x", "/usr/local/a/b", "/bin", "/../x", "/usr/../..", "//./usr"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		m, err := mapPath(p)
		if err != nil {
			return
		}
		switch m.place {
		case placeTree:
			if m.dest != "usr" && !strings.HasPrefix(m.dest, "usr/") {
				t.Fatalf("%q mapped outside usr: %q", p, m.dest)
			}
		case placeTmpfiles:
			if !strings.HasPrefix(m.dest, "/var/") && !strings.HasPrefix(m.dest, "/run/") {
				t.Fatalf("%q mapped to tmpfiles path %q", p, m.dest)
			}
		case placeSkip:
			return
		}
		for _, part := range strings.Split(strings.TrimPrefix(m.dest, "/"), "/") {
			if part == "" || part == "." || part == ".." {
				t.Fatalf("%q mapped to %q with component %q", p, m.dest, part)
			}
		}
		if m.fam != familyNone && (m.famName == "" || strings.Contains(m.famName, "/")) {
			t.Fatalf("%q: bad family name %q", p, m.famName)
		}
	})
}

// FuzzParseHeaders feeds arbitrary bytes to the header parser and, when
// they parse, to the layout planner: neither may panic.
func FuzzParseHeaders(f *testing.F) {
	f.Add([]byte{0xed, 0xab, 0xee, 0xdb})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parsePackageHeaders(b)
		if err != nil {
			return
		}
		pkg, err := readPkgInfo(h.main)
		if err != nil {
			return
		}
		if pl, err := buildPlan(pkg, owners{anyName: true}); err == nil {
			pl.files()
		}
	})
}

// FuzzCpio reads arbitrary bytes as a payload archive: no panic, and no
// read past the data each entry declares.
func FuzzCpio(f *testing.F) {
	f.Add([]byte("07070100000001000081a4000000000000000000000001000000000000000500000000000000000000000000000000000000080000000075/x\x00\x00\x00hello\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cr := &cpioReader{r: strings.NewReader(string(b))}
		for i := 0; i < 1000; i++ {
			ent, err := cr.next()
			if err != nil {
				return
			}
			if ent.size > int64(len(b)) {
				return
			}
			buf := make([]byte, 512)
			d := cr.data(ent.size)
			for {
				if _, err := d.Read(buf); err != nil {
					break
				}
			}
		}
	})
}
