package rpmimport

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/tests/fixture"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root: files are committed with their package owners")
	}
}

func newRepo(t *testing.T, mode string) *ostree.Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	ostreeRun(t, dir, "init", "--mode="+mode)
	repo, err := ostree.OpenRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	return repo
}

func ostreeRun(t *testing.T, repo string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ostree", append([]string{"--repo=" + repo}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ostree %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func build(t *testing.T, macros map[string]string, pkgs ...fixture.Package) map[string]string {
	t.Helper()
	out, err := fixture.BuildPackagesWithMacros(context.Background(), t.TempDir(), macros, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lsEntry is one line of `ostree ls -R`.
type lsEntry struct{ mode, uid, gid, target string }

func lsTree(t *testing.T, repo *ostree.Repo, rev string, extra ...string) map[string]lsEntry {
	t.Helper()
	out := ostreeRun(t, repo.Path(), append([]string{"ls", "-R", rev}, extra...)...)
	m := map[string]lsEntry{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		e := lsEntry{mode: f[0], uid: f[1], gid: f[2]}
		if len(f) >= 7 && f[5] == "->" {
			e.target = f[6]
		}
		m[f[4]] = e
	}
	return m
}

var layoutPkg = fixture.Package{
	Name:    "demo-layout",
	Version: "1.0",
	Install: `mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/demo %{buildroot}/var/lib/demo %{buildroot}/opt/demo/bin \
  %{buildroot}/usr/share/demo/empty %{buildroot}/usr/share/demo/private %{buildroot}/usr/lib/demo \
  %{buildroot}/usr/local/share/demo %{buildroot}/bin
printf '#!/bin/sh\necho demo\n' > %{buildroot}/usr/bin/demo
chmod 0755 %{buildroot}/usr/bin/demo
cp %{buildroot}/usr/bin/demo %{buildroot}/usr/bin/demo-suid
echo cap > %{buildroot}/usr/bin/demo-cap
ln -s ../lib/demo/target %{buildroot}/usr/bin/demo-link
echo target > %{buildroot}/usr/lib/demo/target
ln %{buildroot}/usr/lib/demo/target %{buildroot}/usr/lib/demo/hardlink
echo 'greeting=hi' > %{buildroot}/etc/demo/demo.conf
echo opt > %{buildroot}/opt/demo/bin/tool
echo local > %{buildroot}/usr/local/share/demo/x
echo old > %{buildroot}/bin/demo-old
ln -s ../../../run/demo %{buildroot}/var/lib/demo/run-link
echo state > %{buildroot}/var/lib/demo/state
`,
	Files: `/usr/bin/demo
%attr(4755,root,root) /usr/bin/demo-suid
%caps(cap_net_raw=ep) /usr/bin/demo-cap
/usr/bin/demo-link
/usr/lib/demo
%dir /etc/demo
%config(noreplace) /etc/demo/demo.conf
%dir /var/lib/demo
/var/lib/demo/run-link
/var/lib/demo/state
%ghost /var/log/demo.log
/opt/demo
%dir /usr/share/demo
%dir /usr/share/demo/empty
%attr(0750,nobody,nogroup) %dir /usr/share/demo/private
/usr/local/share/demo
/bin/demo-old
`,
}

var nobody = Options{RepoID: "test-repo", Users: map[string]uint32{"nobody": 65534}, Groups: map[string]uint32{"nogroup": 65534}}

func TestImportLayout(t *testing.T) {
	requireRoot(t)
	rpms := build(t, nil, layoutPkg)
	rpmPath := rpms["demo-layout-1.0-1.noarch.rpm"]
	for _, mode := range []string{"bare", "bare-user"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			repo := newRepo(t, mode)
			res, err := Import(ctx, repo, rpmPath, nobody)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reused || res.Ref != "rpmostree/pkg/demo-layout/1.0-1.noarch" || res.Name != "demo-layout" || res.NEVRA() != "demo-layout-1.0-1.noarch" {
				t.Fatalf("unexpected result %+v", res)
			}
			ls := lsTree(t, repo, res.Ref)
			want := map[string]lsEntry{
				"/usr/bin/demo":                            {mode: "-00755", uid: "0", gid: "0"},
				"/usr/bin/demo-suid":                       {mode: "-04755", uid: "0", gid: "0"},
				"/usr/bin/demo-link":                       {mode: "l00777", uid: "0", gid: "0", target: "../lib/demo/target"},
				"/usr/etc/demo":                            {mode: "d00755", uid: "0", gid: "0"},
				"/usr/etc/demo/demo.conf":                  {mode: "-00644", uid: "0", gid: "0"},
				"/usr/lib/opt/demo/bin/tool":               {mode: "-00644", uid: "0", gid: "0"},
				"/usr/lib/usrlocal/share/demo/x":           {mode: "-00644", uid: "0", gid: "0"},
				"/usr/bin/demo-old":                        {mode: "-00644", uid: "0", gid: "0"},
				"/usr/share/demo/empty":                    {mode: "d00755", uid: "0", gid: "0"},
				"/usr/share/demo/private":                  {mode: "d00750", uid: "65534", gid: "65534"},
				"/usr/lib/tmpfiles.d/pkg-demo-layout.conf": {mode: "-00644", uid: "0", gid: "0"},
			}
			for p, w := range want {
				if got, ok := ls[p]; !ok || got != w {
					t.Errorf("%s: got %+v (present %v), want %+v", p, got, ok, w)
				}
			}
			for p := range ls {
				for _, bad := range []string{"/etc", "/var", "/opt", "/bin", "/usr/local", "/boot", "/run"} {
					if p == bad || strings.HasPrefix(p, bad+"/") {
						t.Errorf("tree has %s", p)
					}
				}
			}
			conf := ostreeRun(t, repo.Path(), "cat", res.Ref, "/usr/lib/tmpfiles.d/pkg-demo-layout.conf")
			wantConf := "L /opt/demo - - - - ../../usr/lib/opt/demo\n" +
				"L /usr/local/share - - - - ../../usr/lib/usrlocal/share\n" +
				"d /var/lib/demo 0755 root root - -\n" +
				"L /var/lib/demo/run-link - - - - ../../../run/demo\n"
			if conf != wantConf {
				t.Errorf("tmpfiles.d fragment:\n%s\nwant:\n%s", conf, wantConf)
			}
			if c := ostreeRun(t, repo.Path(), "cat", res.Ref, "/usr/etc/demo/demo.conf"); c != "greeting=hi\n" {
				t.Errorf("demo.conf = %q", c)
			}
			// The hardlinked pair is one object.
			cs := ostreeRun(t, repo.Path(), "ls", "-C", res.Ref, "/usr/lib/demo/target", "/usr/lib/demo/hardlink")
			lines := strings.Split(strings.TrimSpace(cs), "\n")
			if len(lines) != 2 || strings.Fields(lines[0])[4] != strings.Fields(lines[1])[4] {
				t.Errorf("hardlinks differ:\n%s", cs)
			}
			xattrs := ostreeRun(t, repo.Path(), "ls", "-X", res.Ref, "/usr/bin/demo-cap")
			if !strings.Contains(xattrs, "security.capability") {
				t.Errorf("demo-cap has no file capability: %s", xattrs)
			}

			// Metadata: header bytes, state, repo id, subject.
			c, err := repo.ReadCommit(res.Commit)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(rpmPath)
			hdr, _ := c.Metadata[MetaHeader].([]byte)
			if len(hdr) == 0 || !bytes.HasPrefix(raw, hdr) {
				t.Errorf("%s is not the start of the RPM (%d bytes)", MetaHeader, len(hdr))
			}
			sum := sha512.Sum512(hdr)
			if c.Metadata[MetaState] != hex.EncodeToString(sum[:]) || res.StateSHA512 != c.Metadata[MetaState] {
				t.Errorf("state %v, want sha512 of the header", c.Metadata[MetaState])
			}
			if c.Metadata[MetaRepo] != "test-repo" || c.Subject != "demo-layout-1.0-1.noarch" || c.Metadata[MetaNEVRA] != "demo-layout-1.0-1.noarch" {
				t.Errorf("metadata %v subject %q", c.Metadata[MetaRepo], c.Subject)
			}
			// rpm itself reads the stored header back.
			hdrFile := filepath.Join(t.TempDir(), "h.rpm")
			os.WriteFile(hdrFile, hdr, 0o644)
			if out, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", "%{NEVRA}", hdrFile).Output(); err != nil || string(out) != "demo-layout-1.0-1.noarch" {
				t.Errorf("rpm -qp on stored header: %q %v", out, err)
			}

			// FilesOf agrees with the tree.
			files, err := FilesOf(repo, res.Ref)
			if err != nil {
				t.Fatal(err)
			}
			byPath := map[string]File{}
			for _, f := range files {
				byPath[f.Path] = f
				if _, ok := ls["/"+f.Path]; !ok {
					t.Errorf("FilesOf lists %s, not in the tree", f.Path)
				}
			}
			for p := range ls {
				if p != "/" {
					if _, ok := byPath[strings.TrimPrefix(p, "/")]; !ok {
						t.Errorf("tree has %s, FilesOf does not", p)
					}
				}
			}
			conf256 := sha256.Sum256([]byte("greeting=hi\n"))
			if f := byPath["usr/etc/demo/demo.conf"]; f.Digest != "sha256:"+hex.EncodeToString(conf256[:]) || f.PackagePath != "/etc/demo/demo.conf" || f.Mode != 0o100644 {
				t.Errorf("FilesOf demo.conf = %+v", f)
			}
			if f := byPath["usr/share/demo/private"]; f.User != "nobody" || f.Mode != 0o40750 {
				t.Errorf("FilesOf private = %+v", f)
			}
			if f := byPath["usr/bin/demo-link"]; f.LinkTarget != "../lib/demo/target" {
				t.Errorf("FilesOf demo-link = %+v", f)
			}

			// A second import reuses the commit and writes nothing.
			objects := countObjects(t, repo)
			var st Stats
			st.Add(res)
			again, err := Import(ctx, repo, rpmPath, nobody)
			if err != nil {
				t.Fatal(err)
			}
			st.Add(again)
			if !again.Reused || again.Commit != res.Commit || st != (Stats{Imported: 1, Reused: 1}) {
				t.Errorf("second import: %+v, stats %+v", again, st)
			}
			if n := countObjects(t, repo); n != objects {
				t.Errorf("second import wrote objects: %d -> %d", objects, n)
			}
			ostreeRun(t, repo.Path(), "fsck")
			assertNoLeftovers(t, repo)
		})
	}
}

func countObjects(t *testing.T, repo *ostree.Repo) int {
	n := 0
	filepath.WalkDir(filepath.Join(repo.Path(), "objects"), func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func assertNoLeftovers(t *testing.T, repo *ostree.Repo) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(repo.Path(), "tmp"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "strata-rpmimport-") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestImportUnknownOwner(t *testing.T) {
	requireRoot(t)
	rpms := build(t, nil, layoutPkg)
	repo := newRepo(t, "bare")
	_, err := Import(context.Background(), repo, rpms["demo-layout-1.0-1.noarch.rpm"], Options{})
	if err == nil || !strings.Contains(err.Error(), `importing demo-layout-1.0-1.noarch: payload path "/usr/share/demo/private" is owned by user "nobody"`) {
		t.Fatalf("err = %v", err)
	}
	assertNothingImported(t, repo)
}

func TestImportCompressions(t *testing.T) {
	requireRoot(t)
	repo := newRepo(t, "bare")
	for name, payload := range map[string]string{
		"gzip": "w9.gzdio", "xz": "w6.xzdio", "zstd": "w19.zstdio", "bzip2": "w9.bzdio", "lzma": "w6.lzdio", "none": "w.ufdio",
	} {
		pkg := fixture.Package{
			Name: "comp-" + name, Version: "2.0", Release: "3", Install: `mkdir -p %{buildroot}/usr/share/comp
seq 1 20000 > %{buildroot}/usr/share/comp/numbers`,
			Files: "/usr/share/comp\n",
		}
		rpms := build(t, map[string]string{"_binary_payload": payload}, pkg)
		res, err := Import(context.Background(), repo, rpms["comp-"+name+"-2.0-3.noarch.rpm"], Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := ostreeRun(t, repo.Path(), "cat", res.Ref, "/usr/share/comp/numbers")
		if !strings.HasPrefix(got, "1\n2\n") || !strings.HasSuffix(got, "\n20000\n") {
			t.Errorf("%s: numbers file is wrong (%d bytes)", name, len(got))
		}
	}
	ostreeRun(t, repo.Path(), "fsck")
}

func assertNothingImported(t *testing.T, repo *ostree.Repo) {
	t.Helper()
	refs, err := repo.ListRefs("")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 0 {
		t.Errorf("refs created: %v", refs)
	}
	ostreeRun(t, repo.Path(), "fsck")
	assertNoLeftovers(t, repo)
}

func TestImportRefusesBadPackages(t *testing.T) {
	requireRoot(t)
	pkgs := []fixture.Package{
		{Name: "bad-boot", Version: "1.0", Install: "mkdir -p %{buildroot}/boot && echo x > %{buildroot}/boot/x", Files: "/boot/x\n"},
		{Name: "bad-home", Version: "1.0", Install: "mkdir -p %{buildroot}/home/u && echo x > %{buildroot}/home/u/x", Files: "/home/u/x\n"},
		{Name: "bad-dev", Version: "1.0", Install: "mkdir -p %{buildroot}/usr/share/bad", Files: "%dir /usr/share/bad\n%dev(c,1,3) /usr/share/bad/null\n"},
		{Name: "bad-link", Version: "1.0", Install: "mkdir -p %{buildroot}/usr/share/bad && ln -s ../../../../etc/shadow %{buildroot}/usr/share/bad/esc", Files: "/usr/share/bad/esc\n"},
		{Name: "bad-dotdot", Version: "1.0", Install: "mkdir -p %{buildroot}/usr/share/padd && echo x > %{buildroot}/usr/share/padd/x", Files: "/usr/share/padd/x\n"},
	}
	rpms := build(t, nil, pkgs...)
	// rpmbuild refuses ".." in %files, so the last package is patched: its
	// header path becomes "/usr/../../../x/x" and its digests are fixed up
	// so that the path, not the digest, is what the importer rejects.
	dotdot := filepath.Join(t.TempDir(), "bad-dotdot.rpm")
	patchHeaderString(t, rpms["bad-dotdot-1.0-1.noarch.rpm"], dotdot, "/usr/share/padd/", "/usr/../../../x/")
	for file, want := range map[string]string{
		rpms["bad-boot-1.0-1.noarch.rpm"]: `importing bad-boot-1.0-1.noarch: payload path "/boot/x" is outside what packages may ship (/usr, /etc, /var, /opt)`,
		rpms["bad-home-1.0-1.noarch.rpm"]: `importing bad-home-1.0-1.noarch: payload path "/home/u/x" is outside what packages may ship`,
		rpms["bad-dev-1.0-1.noarch.rpm"]:  `payload path "/usr/share/bad/null" is a device node`,
		rpms["bad-link-1.0-1.noarch.rpm"]: `payload path "/usr/share/bad/esc" is a symlink to "../../../../etc/shadow", which leaves the tree`,
		dotdot:                            `importing bad-dotdot-1.0-1.noarch: payload path "/usr/../../../x/x" contains ".."`,
	} {
		repo := newRepo(t, "bare")
		_, err := Import(context.Background(), repo, file, Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", filepath.Base(file), err, want)
		}
		assertNothingImported(t, repo)
	}
}

func TestImportDamagedFiles(t *testing.T) {
	requireRoot(t)
	good := build(t, nil, layoutPkg)["demo-layout-1.0-1.noarch.rpm"]
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, err := readPackageHeaders(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	payloadAt := len(hdrs.prefix)
	cases := map[string][]byte{
		"empty":           {},
		"cut-in-lead":     raw[:50],
		"cut-in-header":   raw[:payloadAt-100],
		"cut-at-payload":  raw[:payloadAt],
		"cut-mid-payload": raw[:payloadAt+(len(raw)-payloadAt)/2],
		"cut-last-bytes":  raw[:len(raw)-4],
	}
	for _, off := range []int{payloadAt - 40, payloadAt + 30, payloadAt + (len(raw)-payloadAt)/2, len(raw) - 12} {
		b := bytes.Clone(raw)
		b[off] ^= 0x5a
		b[off+1] ^= 0xff
		cases["flip-"+string(rune('a'+len(cases)))] = b
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "damaged.rpm")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			repo := newRepo(t, "bare")
			_, err := Import(context.Background(), repo, p, nobody)
			if err == nil {
				t.Fatal("damaged package imported")
			}
			t.Log(err)
			assertNothingImported(t, repo)
		})
	}
}

// patchHeaderString replaces old by new (same length) in the main header of
// the RPM at src and rewrites the signature header's SHA-1 and SHA-256 of
// the main header to match, writing the result to dst.
func patchHeaderString(t *testing.T, src, dst, old, new string) {
	t.Helper()
	if len(old) != len(new) {
		t.Fatal("patch must keep the length")
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	h, err := readPackageHeaders(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mainAt := len(h.prefix) - len(h.main.raw)
	mainRaw := bytes.ReplaceAll(raw[mainAt:len(h.prefix)], []byte(old), []byte(new))
	if bytes.Equal(mainRaw, raw[mainAt:len(h.prefix)]) {
		t.Fatalf("%q not found in the header", old)
	}
	copy(raw[mainAt:], mainRaw)
	sigStore := 96 + 16 + 16*len(h.sig.entries)
	s1 := sha1.Sum(mainRaw)
	s256 := sha256.Sum256(mainRaw)
	for tag, sum := range map[uint32][]byte{sigTagSHA1: s1[:], sigTagSHA256: s256[:]} {
		if e, ok := h.sig.entries[tag]; ok {
			copy(raw[sigStore+int(e.offset):], hex.EncodeToString(sum))
		}
	}
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
