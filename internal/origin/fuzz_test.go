package origin

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that whatever it accepts is
// written back in a form that parses to the same thing, and that edits made
// through the API read back.
func FuzzParse(f *testing.F) {
	f.Add([]byte(layered), "htop vim")
	f.Add([]byte("[origin]\nrefspec=r:x\n"), "")
	f.Add([]byte("[origin]\r\nbaserefspec=r:x\r\n[packages]\r\nrequested=a;b\\;c;\r\n"), "x;y z")
	f.Fuzz(func(t *testing.T, data []byte, extra string) {
		o, err := Parse(data)
		if err != nil {
			return
		}
		out := o.Bytes()
		o2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parsing output: %v\ninput %q\noutput %q", err, data, out)
		}
		if out2 := o2.Bytes(); !bytes.Equal(out, out2) {
			t.Fatalf("output changed on second round trip:\n%q\n%q", out, out2)
		}
		if !reflect.DeepEqual(o.lines, o2.lines) {
			t.Fatalf("parsed lines differ after round trip:\n%+v\n%+v", o.lines, o2.lines)
		}

		// Edits read back, and leave other content alone.
		valid := func(s string) string {
			return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
		}
		pkgs := strings.Fields(extra)
		o2.SetRequestedPackages(pkgs)
		o2.Set("fuzz", "value", extra)
		o2.SetOverrideCommit(extra)
		o3, err := Parse(o2.Bytes())
		if err != nil {
			t.Fatalf("re-parsing edited output: %v\n%q", err, o2.Bytes())
		}
		var wantPkgs []string
		for _, p := range pkgs {
			wantPkgs = append(wantPkgs, valid(p))
		}
		if got := o3.RequestedPackages(); !reflect.DeepEqual(got, wantPkgs) {
			t.Fatalf("RequestedPackages = %q, want %q", got, wantPkgs)
		}
		if got, _ := o3.Get("fuzz", "value"); got != valid(extra) {
			t.Fatalf("Get(fuzz, value) = %q, want %q", got, valid(extra))
		}
		if o3.Refspec() != o.Refspec() {
			t.Fatalf("Refspec changed from %q to %q by unrelated edits", o.Refspec(), o3.Refspec())
		}
	})
}
