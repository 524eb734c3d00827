package rpmmd

import (
	"strings"
	"testing"
	"time"
)

const sampleRepomd = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1795857468</revision>
  <data type="primary">
    <checksum type="sha256">1CB61EA996355ADD02B1426ED4C1780EA75CE0C04C5D1107C025C3FBD7D8BCAE</checksum>
    <open-checksum type="sha256">e1e2ffd2fb1ee76f87b70750d00ca5677a252b397ab6c2389137a0c33e7b359f</open-checksum>
    <location href="repodata/1cb61ea9-primary.xml.gz"/>
    <timestamp>1795857468</timestamp>
    <size>134</size>
    <open-size>167</open-size>
  </data>
  <data type="filelists">
    <checksum type="sha">da39a3ee5e6b4b0d3255bfef95601890afd80709</checksum>
    <location href="repodata/filelists.xml.zst"/>
    <timestamp>1795857470.5</timestamp>
    <size>123</size>
  </data>
  <data type="other">
    <checksum type="md5">d41d8cd98f00b204e9800998ecf8427e</checksum>
    <location href="../elsewhere/other.xml.gz"/>
  </data>
</repomd>`

func TestParseRepomd(t *testing.T) {
	m, err := ParseRepomd([]byte(sampleRepomd))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Data["primary"]
	want := DataFile{Type: "primary", Href: "repodata/1cb61ea9-primary.xml.gz", ChecksumType: "sha256",
		Checksum:         "1cb61ea996355add02b1426ed4c1780ea75ce0c04c5d1107c025c3fbd7d8bcae",
		OpenChecksumType: "sha256", OpenChecksum: "e1e2ffd2fb1ee76f87b70750d00ca5677a252b397ab6c2389137a0c33e7b359f",
		Size: 134, OpenSize: 167, Timestamp: time.Unix(1795857468, 0).UTC()}
	if p != want {
		t.Fatalf("primary = %+v\nwant      %+v", p, want)
	}
	f := m.Data["filelists"]
	if f.ChecksumType != "sha1" || f.Href != "repodata/filelists.xml.zst" {
		t.Fatalf("filelists = %+v", f)
	}
	if m.Revision != "1795857468" || !m.Timestamp().Equal(time.Unix(1795857470, 0)) {
		t.Fatalf("revision %q timestamp %v", m.Revision, m.Timestamp())
	}
	if _, ok := m.Data["other"]; !ok {
		t.Fatal("unused entries should be kept, unchecked")
	}
	if got := dataFileName(f); got != "filelists-sha1-da39a3ee5e6b4b0d3255bfef95601890afd80709.xml.zst" {
		t.Fatalf("cache name %q", got)
	}
}

func TestParseRepomdRejects(t *testing.T) {
	primary := func(inner string) string {
		return `<repomd><data type="primary">` + inner + `</data></repomd>`
	}
	const okSum = `<checksum type="sha256">e1e2ffd2fb1ee76f87b70750d00ca5677a252b397ab6c2389137a0c33e7b359f</checksum>`
	tests := []struct{ in, want string }{
		{"", "parsing repomd.xml"},
		{"<repomd></repomd>", "no primary entry"},
		{"<other/>", "parsing repomd.xml"},
		{primary(okSum + `<location href="../x-primary.xml.gz"/>`), "leaves the repository"},
		{primary(okSum + `<location href="repodata/../../x.xml"/>`), "leaves the repository"},
		{primary(okSum + `<location href="/etc/passwd"/>`), "is absolute"},
		{primary(okSum + `<location href="http://evil.example/p.xml.gz"/>`), "not a relative path"},
		{primary(okSum + `<location href="file:etc/passwd"/>`), "not a relative path"},
		{primary(okSum + `<location href="repodata/p.xml?x=1"/>`), "characters not allowed"},
		{primary(okSum + `<location href=""/>`), "empty location href"},
		{primary(okSum + `<location href="repodata/"/>`), "names no file"},
		{primary(okSum + `<location href="./"/>`), "names no file"},
		{primary(okSum + `<location href="p.xml" xml:base="http://elsewhere/"/>`), "xml:base"},
		{primary(`<checksum type="md5">d41d8cd98f00b204e9800998ecf8427e</checksum><location href="p.xml"/>`), "md5 is too weak"},
		{primary(`<checksum type="sha256">abcd</checksum><location href="p.xml"/>`), "not a sha256 digest"},
		{primary(`<checksum>e1e2ffd2fb1ee76f87b70750d00ca5677a252b397ab6c2389137a0c33e7b359f</checksum><location href="p.xml"/>`), "missing checksum type"},
		{primary(`<checksum type="crc32">abcd</checksum><location href="p.xml"/>`), "unknown checksum type"},
		{primary(okSum + `<location href="p.xml"/><size>-3</size>`), "size"},
		{primary(okSum + `<location href="p.xml"/><timestamp>soon</timestamp>`), "timestamp"},
		{`<repomd><data type="primary">` + okSum + `<location href="p.xml"/></data><data type="primary">` + okSum + `<location href="p.xml"/></data></repomd>`, "listed twice"},
		{`<?xml version="1.0" encoding="ISO-8859-1"?><repomd/>`, "unsupported XML encoding"},
		{"<repomd>" + strings.Repeat(" ", MaxRepomdSize) + "</repomd>", "more than the"},
	}
	for _, tc := range tests {
		_, err := ParseRepomd([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRepomd(%.80q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}
