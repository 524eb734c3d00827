package rpmmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalPkgGPGCheck(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, conf string
		want       bool
		err        string
	}{
		{"on", "[main]\nlocalpkg_gpgcheck=1\n", true, ""},
		{"case and spelling", "[main]\nLocalPkg_GPGCheck = True\n", true, ""},
		{"off", "[main]\ngpgcheck=1\nlocalpkg_gpgcheck=0\n", false, ""},
		{"unset", "[main]\ngpgcheck=1\n", false, ""},
		{"other section only", "[repo]\nlocalpkg_gpgcheck=1\n", false, ""},
		{"bad value", "[main]\nlocalpkg_gpgcheck=maybe\n", false, "localpkg_gpgcheck"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".conf")
			if err := os.WriteFile(path, []byte(c.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := LocalPkgGPGCheck(path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), path) {
					t.Errorf("got %v, %v; want an error naming %s and %q", got, err, path, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
	if got, err := LocalPkgGPGCheck(filepath.Join(dir, "missing.conf")); got || err != nil {
		t.Errorf("missing dnf.conf: %v, %v; want false, nil", got, err)
	}
}

func TestFetchGPGKey(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "key.asc")
	os.WriteFile(src, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"), 0o644)
	c := &Cache{Dir: filepath.Join(dir, "cache")}
	dst := filepath.Join(dir, "copy.asc")
	if err := c.FetchGPGKey(context.Background(), "file://"+src, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); !strings.HasPrefix(string(b), "-----BEGIN PGP") {
		t.Errorf("copied key = %q", b)
	}
	if err := c.FetchGPGKey(context.Background(), "file://"+filepath.Join(dir, "nope.asc"), dst); err == nil || !strings.Contains(err.Error(), "nope.asc") {
		t.Errorf("missing key: %v, want an error naming it", err)
	}
}
