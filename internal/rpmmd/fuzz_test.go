package rpmmd

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzParseRepoFile checks that the .repo parser never panics, that what it
// accepts is well formed, and that it is deterministic.
func FuzzParseRepoFile(f *testing.F) {
	f.Add([]byte("[fedora]\nname=Fedora $releasever\nbaseurl=http://a/$basearch/\n  http://b/,http://c\nenabled=1\nmetadata_expire=6h\n"))
	f.Add([]byte("# c\n;c\n[a]\r\ngpgkey=k1 k2\r\nmetalink=m\r\npriority=5\r\n[b-${basearch:-x}]\nskip_if_unavailable=no\n"))
	f.Add([]byte("[x]\nbaseurl=${a:+${b}}$$${\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		repos, err := ParseRepoFile("f.repo", data, testVars)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.repo:") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		again, err := ParseRepoFile("f.repo", data, testVars)
		if err != nil || len(again) != len(repos) {
			t.Fatalf("second parse differs: %v", err)
		}
		ids := map[string]bool{}
		for _, r := range repos {
			if err := CheckRepoID(r.ID); err != nil {
				t.Fatalf("accepted bad id: %v", err)
			}
			if ids[r.ID] {
				t.Fatalf("duplicate id %q accepted", r.ID)
			}
			ids[r.ID] = true
			if r.Name == "" {
				t.Fatalf("repo %q has no name", r.ID)
			}
			for _, u := range append(append([]string{}, r.BaseURLs...), r.GPGKeys...) {
				if u == "" || strings.ContainsAny(u, " \t\n,") {
					t.Fatalf("list item %q not split", u)
				}
			}
		}
	})
}

// FuzzParseRepomd checks that the repomd parser never panics and that every
// entry strata uses is safe to fetch and to name a cache file after.
func FuzzParseRepomd(f *testing.F) {
	f.Add([]byte(sampleRepomd))
	f.Add([]byte(`<repomd><revision>1</revision><data type="primary"><checksum type="sha1">da39a3ee5e6b4b0d3255bfef95601890afd80709</checksum><location href="repodata/p.xml"/></data></repomd>`))
	f.Add([]byte(`<repomd><data type="primary"><checksum type="sha256">x</checksum><location href="../p"/></data></repomd>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseRepomd(data)
		if err != nil {
			return
		}
		if _, ok := m.Data["primary"]; !ok {
			t.Fatal("accepted without primary")
		}
		for _, typ := range []string{"primary", "filelists"} {
			d, ok := m.Data[typ]
			if !ok {
				continue
			}
			checkConfined(t, d.Href)
			h, err := newHash(d.ChecksumType)
			if err != nil || len(d.Checksum) != 2*h.Size() {
				t.Fatalf("%s: bad digest %s:%s accepted", typ, d.ChecksumType, d.Checksum)
			}
			name := dataFileName(d)
			if strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") || name == stateName || name == "repomd.xml" {
				t.Fatalf("%s: unsafe cache name %q", typ, name)
			}
		}
	})
}

// FuzzCheckHref checks that an accepted href, joined to a baseurl, stays
// under that baseurl on the same host.
func FuzzCheckHref(f *testing.F) {
	for _, s := range []string{"repodata/x-primary.xml.gz", "Packages/a/a-1.rpm", "../x", "//evil/x", "http://e/x", "a/./b", "%2e%2e/x", "a%2f..%2fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, href string) {
		if CheckHref(href) != nil {
			return
		}
		checkConfined(t, href)
	})
}

func checkConfined(t *testing.T, href string) {
	t.Helper()
	if err := CheckHref(href); err != nil {
		t.Fatalf("href %q accepted then rejected: %v", href, err)
	}
	for _, base := range []string{"http://mirror.example/pub/os", "file:///srv/repo/"} {
		joined, err := joinURL(base, href)
		if err != nil {
			t.Fatalf("joining %q: %v", href, err)
		}
		u, err := url.Parse(joined)
		if err != nil {
			t.Fatalf("joined URL %q does not parse: %v", joined, err)
		}
		b, _ := url.Parse(base)
		prefix := strings.TrimSuffix(b.Path, "/") + "/"
		if u.Scheme != b.Scheme || u.Host != b.Host || !strings.HasPrefix(path.Clean(u.Path), prefix) || u.RawQuery != "" {
			t.Fatalf("href %q escapes %s: %s", href, base, joined)
		}
	}
}
