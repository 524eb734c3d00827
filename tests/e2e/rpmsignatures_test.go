package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// TestSignedPackages: with gpgcheck=1 and a gpgkey= on the repo, unsigned
// packages are refused before import, naming the package, the repo and the
// trusted key; once the repo is signed by that key the install goes through.
// With dnf.conf's localpkg_gpgcheck=1, local packages signed by another key
// or tampered with are refused too, and one signed by the trusted key
// installs. Nothing changes on any refusal.
func TestSignedPackages(t *testing.T) {
	e := newLayeringEnv(t)
	trusted, err := fixture.NewGPGKey(e.ctx, filepath.Join(e.dir, "trusted"), "trusted")
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewGPGKey(e.ctx, filepath.Join(e.dir, "other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	// The key is published next to the packages, as distributions do, and
	// named by an http:// gpgkey=.
	if err := trusted.ExportArmored(e.ctx, filepath.Join(e.pkgs.Dir, "RPM-GPG-KEY-trusted")); err != nil {
		t.Fatal(err)
	}
	keyURL := e.pkgs.URL + "/RPM-GPG-KEY-trusted"
	if err := e.host.RequireSignedPackages(fixture.PackageRepoID, keyURL); err != nil {
		t.Fatal(err)
	}
	shortID := func(k *fixture.GPGKey) string { return strings.ToLower(k.Fingerprint[len(k.Fingerprint)-8:]) }

	// The repo's packages are not signed yet.
	e.expectFailureNaming([]string{"install", "demo-extra"},
		"refusing package demo-extra-1.0-1.noarch from repo "+fixture.PackageRepoID, "not signed", "trusted keys: "+shortID(trusted), keyURL)

	// Local packages, checked because dnf.conf asks for it.
	if err := e.host.SetLocalPkgGPGCheck(true); err != nil {
		t.Fatal(err)
	}
	local := func(name string, key *fixture.GPGKey, tamper bool) string {
		t.Helper()
		data, err := os.ReadFile(e.pkgs.Packages[fixture.LocalPackageFile])
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(e.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fixture.LocalPackageFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if key != nil {
			if err := key.SignRPMs(e.ctx, path); err != nil {
				t.Fatal(err)
			}
		}
		if tamper {
			data, _ := os.ReadFile(path)
			data[len(data)-20] ^= 0xff // inside the compressed payload
			os.WriteFile(path, data, 0o644)
		}
		return path
	}
	e.expectFailureNaming([]string{"install", local("unsigned", nil, false)},
		"refusing local package demo-local-1.0-1.noarch", "not signed", shortID(trusted))
	e.expectFailureNaming([]string{"install", local("other", other, false)},
		"refusing local package demo-local-1.0-1.noarch", "signed by key "+shortID(other)+", which is not trusted", shortID(trusted))
	e.expectFailureNaming([]string{"install", local("tampered", trusted, true)},
		"refusing local package demo-local-1.0-1.noarch", "tampered")
	if got := e.versions(); got != "1.0" {
		t.Fatalf("refused installs changed the deployments: %s", got)
	}

	// Signed by the trusted key: accepted.
	if err := e.pkgs.SignAll(e.ctx, trusted); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("install", "demo-extra", local("trusted", trusted, false))
	s := e.status()
	if len(s.Deployments) != 2 || !strings.Contains(strings.Join(s.Deployments[0].Packages, " "), "demo-extra") {
		t.Fatalf("after installing signed packages: %+v", s.Deployments)
	}
	out := e.mustStrata("status")
	if !strings.Contains(out, "demo-local") {
		t.Errorf("status does not list the signed local package:\n%s", out)
	}
}
