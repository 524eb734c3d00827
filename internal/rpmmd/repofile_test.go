package rpmmd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testVars = map[string]string{"basearch": "x86_64", "arch": "x86_64", "releasever": "40"}

func defaultRepo(id string) Repo {
	return Repo{ID: id, Name: id, Enabled: true, Priority: DefaultPriority, Cost: DefaultCost,
		MetadataExpire: DefaultMetadataExpire, File: "t.repo"}
}

func TestParseRepoFile(t *testing.T) {
	with := func(r Repo, f func(*Repo)) Repo { f(&r); return r }
	tests := []struct {
		name string
		in   string
		want []Repo
	}{
		{"defaults", "[a]\nbaseurl=http://x/\n",
			[]Repo{with(defaultRepo("a"), func(r *Repo) { r.BaseURLs = []string{"http://x/"} })}},
		{"everything", `# leading comment
; another
[fedora]
name = Fedora $releasever - $basearch
baseurl = https://a.example/pub/$releasever/${basearch}/os/
enabled=0
gpgcheck = yes
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-$releasever-$basearch
  https://keys.example/k2
metalink = https://mirrors.example/metalink?repo=fedora-$releasever&arch=$basearch
mirrorlist=https://mirrors.example/list
priority=10
cost = 500
skip_if_unavailable=True
metadata_expire=6h
sslverify=1
type=rpm
`, []Repo{{ID: "fedora", Name: "Fedora 40 - x86_64",
			BaseURLs: []string{"https://a.example/pub/40/x86_64/os/"}, Enabled: false, GPGCheck: true,
			GPGKeys:  []string{"file:///etc/pki/rpm-gpg/RPM-GPG-KEY-40-x86_64", "https://keys.example/k2"},
			Metalink: "https://mirrors.example/metalink?repo=fedora-40&arch=x86_64", Mirrorlist: "https://mirrors.example/list",
			Priority: 10, Cost: 500, SkipIfUnavailable: true, MetadataExpire: 6 * time.Hour, File: "t.repo"}}},
		{"several baseurls, commas, continuation lines, CRLF", "[m]\r\nbaseurl=http://one/, http://two/\r\n\thttp://three/\r\n        file:///srv/four\r\n",
			[]Repo{with(defaultRepo("m"), func(r *Repo) {
				r.BaseURLs = []string{"http://one/", "http://two/", "http://three/", "file:///srv/four"}
			})}},
		{"two repos, keys case-insensitive, last wins", "[a]\nBaseURL=http://a1\nbaseurl=http://a2\n\n[b-$basearch]\nenabled=off\nbaseurl=http://b\n",
			[]Repo{
				with(defaultRepo("a"), func(r *Repo) { r.BaseURLs = []string{"http://a2"} }),
				with(defaultRepo("b-x86_64"), func(r *Repo) { r.BaseURLs = []string{"http://b"}; r.Enabled = false }),
			}},
		{"unknown and defaulted variables", "[v]\nbaseurl=http://h/$unknown/${nope}/${releasever:-9}/${stream:-9}/${basearch:+yes}$\n",
			[]Repo{with(defaultRepo("v"), func(r *Repo) { r.BaseURLs = []string{"http://h/$unknown/${nope}/40/9/yes$"} })}},
		{"metadata_expire never", "[n]\nmetadata_expire=never\n",
			[]Repo{with(defaultRepo("n"), func(r *Repo) { r.MetadataExpire = -1 })}},
		{"metadata_expire -1 and no baseurl", "[n]\nmetadata_expire=-1\n",
			[]Repo{with(defaultRepo("n"), func(r *Repo) { r.MetadataExpire = -1 })}},
		{"empty file", "", nil},
		{"comments only", "# nothing\n  ; here\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRepoFile("t.repo", []byte(tc.in), testVars)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestParseRepoFileErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"baseurl=http://x\n", "t.repo:1: option \"baseurl\" outside of any [repo] section"},
		{"[a]\nenabled=maybe\n", "t.repo:2: repo a: enabled: \"maybe\" is not a boolean"},
		{"[a]\ngpgcheck=2\n", "t.repo:2: repo a: gpgcheck:"},
		{"[a\nbaseurl=x\n", "t.repo:1: section header \"[a\" lacks its closing ']'"},
		{"[]\n", "t.repo:1: empty section name"},
		{"[a]\n[b]\n[a]\n", "t.repo:3: section [a] is already defined on line 1"},
		{"[a b]\n", "t.repo:1: repo id \"a b\" has the character ' '"},
		{"[../x]\n", "t.repo:1: repo id \"../x\" has the character '/'"},
		{"[..]\n", "t.repo:1: repo id \"..\" is not allowed"},
		{"[a-$basearch]\n[a-x86_64]\n", "t.repo:2: repo \"a-x86_64\" is already defined on line 1"},
		{"[a]\n\n  indented\n", "t.repo:3: indented line continues no option"},
		{"[a]\nfoo\n", "t.repo:2: expected \"key = value\", got \"foo\""},
		{"[a]\n=1\n", "t.repo:2: option without a name"},
		{"[a]\nmetadata_expire=soon\n", "t.repo:2: repo a: metadata_expire:"},
		{"[a]\nmetadata_expire=-5\n", "negative"},
		{"[a]\npriority=high\n", "t.repo:2: repo a: priority: \"high\" is not an integer"},
		{"[a]\nname=x\ncost=\n", "t.repo:3: repo a: cost:"},
	}
	for _, tc := range tests {
		_, err := ParseRepoFile("t.repo", []byte(tc.in), testVars)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRepoFile(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestParseExpire(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, "90": 90 * time.Second, "90s": 90 * time.Second, "15m": 15 * time.Minute,
		"6h": 6 * time.Hour, "2d": 48 * time.Hour, "1.5h": 90 * time.Minute, " 7D ": 7 * 24 * time.Hour,
		"never": -1, "-1": -1, "NEVER": -1, "1e30": -1,
	}
	for in, want := range good {
		got, err := ParseExpire(in)
		if err != nil || got != want {
			t.Errorf("ParseExpire(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "h", "abc", "-2", "-1h", "inf", "nan", "0x10", "1w", "1 h"} {
		if got, err := ParseExpire(in); err == nil {
			t.Errorf("ParseExpire(%q) = %v, want an error", in, got)
		}
	}
}

func TestLoadRepoDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.repo", "[b1]\nbaseurl=http://b/$releasever\n")
	write("a.repo", "[a1]\nbaseurl=http://a\n[a2]\nbaseurl=http://a2\n")
	write("c.repo.rpmsave", "[a1]\nbaseurl=http://ignored\n")
	write("notes.txt", "not ini at all")
	repos, err := LoadRepoDir(dir, testVars)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range repos {
		ids = append(ids, r.ID+"@"+filepath.Base(r.File))
	}
	if want := []string{"a1@a.repo", "a2@a.repo", "b1@b.repo"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("repos = %v, want %v", ids, want)
	}
	if repos[2].BaseURLs[0] != "http://b/40" {
		t.Fatalf("baseurl not substituted: %v", repos[2].BaseURLs)
	}

	write("z.repo", "[a2]\nbaseurl=http://dup\n")
	_, err = LoadRepoDir(dir, testVars)
	if err == nil || !strings.Contains(err.Error(), `repo "a2" is defined in both `+filepath.Join(dir, "a.repo")+" and "+filepath.Join(dir, "z.repo")) {
		t.Fatalf("duplicate id error = %v", err)
	}
	write("z.repo", "[z]\nenabled=perhaps\n")
	if _, err = LoadRepoDir(dir, testVars); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "z.repo")+":2:") {
		t.Fatalf("error should name file and line: %v", err)
	}

	if repos, err := LoadRepoDir(filepath.Join(dir, "missing"), nil); err != nil || len(repos) != 0 {
		t.Fatalf("missing dir: %v, %v", repos, err)
	}
}

func TestHostVars(t *testing.T) {
	dir := t.TempDir()
	osr := filepath.Join(dir, "os-release")
	if err := os.WriteFile(osr, []byte("NAME=\"Demo\"\nVERSION_ID=\"9.4\"\nID=demo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := HostVars(osr, "i686")
	want := map[string]string{"arch": "i686", "basearch": "i386", "releasever": "9.4", "releasever_major": "9", "releasever_minor": "4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("HostVars = %v, want %v", got, want)
	}
	got = HostVars(filepath.Join(dir, "none"), "armv7hl")
	if want := map[string]string{"arch": "armv7hl", "basearch": "armhfp"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("HostVars without os-release = %v, want %v", got, want)
	}
	if got := HostVars(osr, ""); got["arch"] == "" || got["basearch"] == "" {
		t.Fatalf("HostVars with the running arch = %v", got)
	}
	for arch, base := range map[string]string{"x86_64": "x86_64", "aarch64": "aarch64", "i586": "i386", "ppc64le": "ppc64le", "s390x": "s390x", "armv6l": "arm"} {
		if got := BaseArch(arch); got != base {
			t.Errorf("BaseArch(%s) = %s, want %s", arch, got, base)
		}
	}
}

func TestReadVarsDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stream"), []byte("9-stream\nignored\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad name"), []byte("x"), 0o644)
	vars := map[string]string{"basearch": "x86_64"}
	if err := ReadVarsDir(dir, vars); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"basearch": "x86_64", "stream": "9-stream"}; !reflect.DeepEqual(vars, want) {
		t.Fatalf("vars = %v, want %v", vars, want)
	}
	repos, err := ParseRepoFile("s.repo", []byte("[s]\nbaseurl=http://m/$stream/$basearch\n"), vars)
	if err != nil || repos[0].BaseURLs[0] != "http://m/9-stream/x86_64" {
		t.Fatalf("repos = %+v, %v", repos, err)
	}
	if err := ReadVarsDir(filepath.Join(dir, "missing"), vars); err != nil {
		t.Fatal(err)
	}
}
