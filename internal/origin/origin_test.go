package origin

import (
	"reflect"
	"strings"
	"testing"
)

// layered is an origin as rpm-ostree writes it for a deployment with layered
// packages, plus things strata must carry along untouched.
const layered = `# written by hand, keep me
[origin]
baserefspec=fedora:fedora/40/x86_64/silverblue
override-commit=3e1c0fa5a51a4e3b9c2f6d7c2f28f3d3b1c1b8a4d9e0f7a6b5c4d3e2f1a0b9c8

[rpmostree]
regenerate-initramfs=true
initramfs-args=-I;/etc/crypttab;

[packages]
requested=htop;vim-enhanced;
requested-local=aa11:foo-1.0-1.x86_64;bb22:bar-2.0-1.noarch;

[overrides]
remove=nano;firefox-langpacks;
replace-local=cc33:kernel-6.9-1.x86_64;

[libostree-transient]
pinned=true
`

func TestParseAccessors(t *testing.T) {
	o, err := Parse([]byte(layered))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := o.Refspec(); got != "fedora:fedora/40/x86_64/silverblue" {
		t.Errorf("Refspec = %q", got)
	}
	if got := o.OverrideCommit(); !strings.HasPrefix(got, "3e1c0fa5") {
		t.Errorf("OverrideCommit = %q", got)
	}
	checks := []struct {
		name string
		got  []string
		want []string
	}{
		{"RequestedPackages", o.RequestedPackages(), []string{"htop", "vim-enhanced"}},
		{"RequestedLocalPackages", o.RequestedLocalPackages(), []string{"aa11:foo-1.0-1.x86_64", "bb22:bar-2.0-1.noarch"}},
		{"OverrideRemove", o.OverrideRemove(), []string{"nano", "firefox-langpacks"}},
		{"OverrideReplaceLocal", o.OverrideReplaceLocal(), []string{"cc33:kernel-6.9-1.x86_64"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if v, ok := o.Get("libostree-transient", "pinned"); !ok || v != "true" {
		t.Errorf("Get(libostree-transient, pinned) = %q, %v", v, ok)
	}
	if got := string(o.Bytes()); got != layered {
		t.Errorf("Bytes changed an untouched file:\n%s", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "origin has no [origin] refspec"},
		{"no refspec", "[origin]\nfoo=bar\n", "origin has no [origin] refspec"},
		{"empty refspec", "[origin]\nrefspec=\n", "origin has no [origin] refspec"},
		{"refspec in wrong group", "[packages]\nrefspec=a:b\n", "origin has no [origin] refspec"},
		{"empty image reference", "[origin]\ncontainer-image-reference=\n", "container-image-reference=IMAGE"},
		{"no equals", "[origin]\nrefspec=a:b\njunk\n", "origin line 3: expected key=value"},
		{"key before group", "refspec=a:b\n[origin]\n", "origin line 1:"},
		{"bad group", "[origin\nrefspec=a:b\n", "origin line 1: invalid group header"},
		{"empty group", "[]\n", "origin line 1: invalid group header"},
		{"nested brackets", "[a[b]]\n", "origin line 1: invalid group header"},
		{"empty key", "[origin]\n=x\n", "origin line 2: invalid key name"},
		{"bad locale", "[origin]\nname[=x\n", "origin line 2: invalid key name"},
		{"bad escape", "[origin]\nrefspec=a:b\nx=\\q\n", `origin line 3: value of x: invalid escape sequence \q`},
		{"trailing backslash", "[origin]\nrefspec=a:b\nx=ab\\\n", "origin line 3: value of x: escape character at end of line"},
		{"invalid utf8", "[origin]\nrefspec=a:\xff\n", "origin line 2: not valid UTF-8"},
		{"nul", "[origin]\nrefspec=a\x00b\n", "origin line 2: contains a NUL byte"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", c.in, err, c.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name, in  string
		group     string
		key, want string
	}{
		{"crlf", "[origin]\r\nrefspec=r:x\r\n", "origin", "refspec", "r:x"},
		{"no final newline", "[origin]\nrefspec=r:x", "origin", "refspec", "r:x"},
		{"spaces around =", "[origin]\n  refspec =  r:x\n", "origin", "refspec", "r:x"},
		{"trailing space kept", "[origin]\nrefspec=r:x\nk=v  \n", "origin", "k", "v  "},
		{"escapes", "[origin]\nrefspec=r:x\nk=\\sa\\tb\\nc\\rd\\\\e\\;f\n", "origin", "k", " a\tb\nc\rd\\e;f"},
		{"locale key", "[origin]\nrefspec=r:x\nName[de]=Ursprung\n", "origin", "Name[de]", "Ursprung"},
		{"comment and blank", "# c\n\n[origin]\n  # indented\nrefspec=r:x\n", "origin", "refspec", "r:x"},
		{"last duplicate wins", "[origin]\nrefspec=r:x\nk=old\nk=new\n", "origin", "k", "new"},
		{"repeated group merges", "[origin]\nrefspec=r:x\n[other]\na=1\n[origin]\nk=v\n", "origin", "k", "v"},
		{"group with spaces", "[origin]\nrefspec=r:x\n[my group]\na=1\n", "my group", "a", "1"},
		{"refspec beats baserefspec", "[origin]\nbaserefspec=r:base\nrefspec=r:x\n", "origin", "refspec", "r:x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if got, ok := o.Get(c.group, c.key); !ok || got != c.want {
				t.Errorf("Get(%s, %s) = %q, %v; want %q", c.group, c.key, got, ok, c.want)
			}
			if o.Refspec() != "r:x" {
				t.Errorf("Refspec = %q, want r:x", o.Refspec())
			}
		})
	}
}

func TestListFormats(t *testing.T) {
	cases := []struct {
		name, value string
		want        []string
	}{
		{"glib", "htop;vim-enhanced;", []string{"htop", "vim-enhanced"}},
		{"glib without trailing separator", "htop;vim-enhanced", []string{"htop", "vim-enhanced"}},
		{"spaces", "htop vim-enhanced", []string{"htop", "vim-enhanced"}},
		{"mixed and empty", ";htop;; vim-enhanced\t;", []string{"htop", "vim-enhanced"}},
		{"escaped separator", `a\;b;c\sd;`, []string{"a;b", "c d"}},
		{"empty", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse([]byte("[origin]\nrefspec=r:x\n[packages]\nrequested=" + c.value + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := o.RequestedPackages(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("RequestedPackages = %q, want %q", got, c.want)
			}
		})
	}
}

func TestEdits(t *testing.T) {
	cases := []struct {
		name string
		in   string
		edit func(o *Origin)
		want string
	}{
		{
			name: "new",
			in:   "",
			edit: func(*Origin) {},
			want: "[origin]\nrefspec=fedora:fedora/40/x86_64/silverblue\n",
		},
		{
			name: "add packages keeps everything else",
			in:   "# top\n[origin]\nrefspec=r:x\n# about foo\n[foo]\nbar = baz \n",
			edit: func(o *Origin) { o.SetRequestedPackages([]string{"htop", "git"}) },
			want: "# top\n[origin]\nrefspec=r:x\n# about foo\n[foo]\nbar = baz \n\n[packages]\nrequested=htop;git;\n",
		},
		{
			name: "replace in place",
			in:   "[packages]\nrequested=a;\nother=1\n[origin]\nrefspec=r:x\n",
			edit: func(o *Origin) { o.SetRequestedPackages([]string{"b", "c"}) },
			want: "[packages]\nrequested=b;c;\nother=1\n[origin]\nrefspec=r:x\n",
		},
		{
			name: "add key at end of its group, before a comment",
			in:   "[origin]\nrefspec=r:x\n\n# next\n[packages]\nrequested=a;\n",
			edit: func(o *Origin) { o.SetOverrideCommit("abc") },
			want: "[origin]\nrefspec=r:x\noverride-commit=abc\n\n# next\n[packages]\nrequested=a;\n",
		},
		{
			name: "remove last key drops the group",
			in:   "[origin]\nrefspec=r:x\n\n[packages]\nrequested=a;\n",
			edit: func(o *Origin) { o.SetRequestedPackages(nil) },
			want: "[origin]\nrefspec=r:x\n",
		},
		{
			name: "remove key keeps a group with comments",
			in:   "[origin]\nrefspec=r:x\n[packages]\n# mine\nrequested=a;\n[z]\nk=v\n",
			edit: func(o *Origin) { o.SetRequestedPackages([]string{}) },
			want: "[origin]\nrefspec=r:x\n[packages]\n# mine\n[z]\nk=v\n",
		},
		{
			name: "override commit removed",
			in:   "[origin]\nrefspec=r:x\noverride-commit=abc\n",
			edit: func(o *Origin) { o.SetOverrideCommit("") },
			want: "[origin]\nrefspec=r:x\n",
		},
		{
			name: "set refspec keeps baserefspec key",
			in:   "[origin]\nbaserefspec=r:x\n",
			edit: func(o *Origin) { o.SetRefspec("s:y") },
			want: "[origin]\nbaserefspec=s:y\n",
		},
		{
			name: "set refspec prefers refspec",
			in:   "[origin]\nrefspec=r:x\n",
			edit: func(o *Origin) { o.SetRefspec("s:y") },
			want: "[origin]\nrefspec=s:y\n",
		},
		{
			name: "duplicates collapse on set",
			in:   "[origin]\nrefspec=r:x\nk=1\nk=2\n",
			edit: func(o *Origin) { o.Set("origin", "k", "3") },
			want: "[origin]\nrefspec=r:x\nk=3\n",
		},
		{
			name: "escaping",
			in:   "[origin]\nrefspec=r:x\n",
			edit: func(o *Origin) {
				o.Set("origin", "k", " a\tb\nc\\d;e ")
				o.SetOverrideRemove([]string{"x;y", "p q", ""})
			},
			want: "[origin]\nrefspec=r:x\nk=\\sa\\tb\\nc\\\\d;e\\s\n\n[overrides]\nremove=x\\;y;p\\sq;\n",
		},
		{
			name: "crlf becomes lf",
			in:   "[origin]\r\nrefspec=r:x\r\n",
			edit: func(*Origin) {},
			want: "[origin]\nrefspec=r:x\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var o *Origin
			if c.in == "" {
				o = New("fedora:fedora/40/x86_64/silverblue")
			} else {
				var err error
				if o, err = Parse([]byte(c.in)); err != nil {
					t.Fatalf("Parse: %v", err)
				}
			}
			before := o.Clone()
			c.edit(o)
			if got := string(o.Bytes()); got != c.want {
				t.Errorf("after edit:\n%s\nwant:\n%s", got, c.want)
			}
			if got := string(before.Bytes()); c.in != "" && got != strings.ReplaceAll(c.in, "\r", "") {
				t.Errorf("edit changed the clone taken before it:\n%s", got)
			}
			// Whatever we write must read back.
			if _, err := Parse(o.Bytes()); err != nil && o.Refspec() != "" {
				t.Errorf("re-parsing our output: %v", err)
			}
		})
	}
}

func TestSetReadsBack(t *testing.T) {
	o := New("r:x")
	values := []string{"", " ", "  lead", "trail  ", "a\\b", "\\s", "tab\there", "multi\nline\r\n", "semi;colon", "bad\xffutf8", "nul\x00byte", "ünïcødé"}
	for _, v := range values {
		o.Set("t", "k", v)
		o2, err := Parse(o.Bytes())
		if err != nil {
			t.Fatalf("after Set(%q): Parse: %v\n%s", v, err, o.Bytes())
		}
		want := strings.ToValidUTF8(strings.ReplaceAll(v, "\x00", "\uFFFD"), "\uFFFD")
		if got, _ := o2.Get("t", "k"); got != want {
			t.Errorf("Set(%q) read back as %q, want %q", v, got, want)
		}
	}
	pkgs := []string{"a b", "c;d", `e\f`, "g\th"}
	o.SetRequestedPackages(pkgs)
	o2, err := Parse(o.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := o2.RequestedPackages(); !reflect.DeepEqual(got, pkgs) {
		t.Errorf("RequestedPackages read back as %q, want %q", got, pkgs)
	}
}

func TestSetInvalidNamePanics(t *testing.T) {
	for _, gk := range [][2]string{{"a]b", "k"}, {"", "k"}, {"g", "a=b"}, {"g", " k"}, {"g", "#k"}, {"g", "[k"}, {"g", ""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Set(%q, %q) did not panic", gk[0], gk[1])
				}
			}()
			New("r:x").Set(gk[0], gk[1], "v")
		}()
	}
}

func TestSplitRefspec(t *testing.T) {
	cases := []struct{ in, remote, ref string }{
		{"fedora:fedora/40/x86_64/silverblue", "fedora", "fedora/40/x86_64/silverblue"},
		{"fedora/40/x86_64/silverblue", "", "fedora/40/x86_64/silverblue"},
		{":ref", "", "ref"},
		{"remote:", "remote", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		remote, ref := SplitRefspec(c.in)
		if remote != c.remote || ref != c.ref {
			t.Errorf("SplitRefspec(%q) = %q, %q; want %q, %q", c.in, remote, ref, c.remote, c.ref)
		}
	}
}

func TestImageReference(t *testing.T) {
	const img = "ostree-unverified-registry:quay.io/fedora/fedora-coreos:stable"
	o, err := Parse([]byte("# kept\n[origin]\ncontainer-image-reference=" + img + "\n\n[packages]\nrequested=vim\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := o.ImageReference(); got != img {
		t.Errorf("ImageReference = %q, want %q", got, img)
	}
	if got := o.Refspec(); got != "" {
		t.Errorf("Refspec of an image origin = %q, want empty", got)
	}

	// Rebasing to an OSTree ref drops the image and keeps the rest.
	o.SetRefspec("fedora:fedora/x86_64/coreos/stable")
	want := "# kept\n[origin]\nrefspec=fedora:fedora/x86_64/coreos/stable\n\n[packages]\nrequested=vim\n"
	if got := string(o.Bytes()); got != want {
		t.Errorf("after SetRefspec:\n%s\nwant:\n%s", got, want)
	}

	// And back: refspec, baserefspec and a pinned commit all go.
	o.Set("origin", "baserefspec", "x:y")
	o.SetOverrideCommit(strings.Repeat("a", 64))
	o.SetImageReference(img)
	want = "# kept\n[origin]\ncontainer-image-reference=" + img + "\n\n[packages]\nrequested=vim\n"
	if got := string(o.Bytes()); got != want {
		t.Errorf("after SetImageReference:\n%s\nwant:\n%s", got, want)
	}
	if got := string(NewImage(img).Bytes()); got != "[origin]\ncontainer-image-reference="+img+"\n" {
		t.Errorf("NewImage = %q", got)
	}
}

// The rpm-ostree keys of initramfs, custom origin and repo replacements
// read back as written, in rpm-ostree's spelling (its origin.rs test file).
func TestRpmostreeKeys(t *testing.T) {
	o := New("demo:demo/stable")
	o.SetInitramfs(true, []string{"-I", "/etc/foobar.conf"})
	o.SetInitramfsEtc([]string{"/etc/cmdline.d/foobar.conf"})
	o.SetCustomOrigin("pantheon://x", "Custom build")
	o.SetOverrideReplace([]string{"repo=updates,foo,bar"})
	want := "[origin]\nrefspec=demo:demo/stable\ncustom-url=pantheon://x\ncustom-description=Custom build\n\n" +
		"[rpmostree]\nregenerate-initramfs=true\ninitramfs-args=-I;/etc/foobar.conf;\ninitramfs-etc=/etc/cmdline.d/foobar.conf;\n\n" +
		"[overrides]\nreplace=repo=updates,foo,bar;\n"
	if got := string(o.Bytes()); got != want {
		t.Fatalf("origin:\n%s\nwant:\n%s", got, want)
	}
	p, err := Parse(o.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !p.RegenerateInitramfs() || strings.Join(p.InitramfsArgs(), " ") != "-I /etc/foobar.conf" {
		t.Errorf("initramfs = %v %q", p.RegenerateInitramfs(), p.InitramfsArgs())
	}
	if u, d := p.CustomOrigin(); u != "pantheon://x" || d != "Custom build" {
		t.Errorf("CustomOrigin = %q %q", u, d)
	}
	if got := p.OverrideReplace(); len(got) != 1 || got[0] != "repo=updates,foo,bar" {
		t.Errorf("OverrideReplace = %q", got)
	}
	p.SetInitramfs(false, nil)
	p.SetInitramfsEtc(nil)
	p.SetCustomOrigin("", "")
	p.SetOverrideReplace(nil)
	if got := string(p.Bytes()); got != "[origin]\nrefspec=demo:demo/stable\n" {
		t.Errorf("after clearing: %q", got)
	}
}
