package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// imageEnv is a demo host with a loopback registry serving os:stable, an
// image of the host's OS 1.0 with one more layer, built with umoci and
// pushed with skopeo. It returns the image reference strata rebases to.
func imageEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t, envOptions{registry: true, packages: true})
	e.pushOSImage("1", "1.0")
	return e, "ostree-unverified-registry:" + e.reg.Addr + "/os:stable"
}

// pushOSImage builds the host's OS baseVersion plus a layer carrying
// /usr/share/demo/image-release, and pushes it as os:stable (and os:tag).
func (e *env) pushOSImage(tag, baseVersion string) string {
	e.t.Helper()
	layout := filepath.Join(e.dir, "layout")
	src, err := e.host.BuildOSImage(e.ctx, layout, tag, baseVersion,
		map[string]string{"org.opencontainers.image.version": "img-" + tag},
		map[string]string{"usr/share/demo/image-release": "extra layer\n"})
	if err != nil {
		e.t.Fatalf("building image: %v", err)
	}
	if _, err := e.reg.Push(e.ctx, src, "os:"+tag); err != nil {
		e.t.Fatal(err)
	}
	digest, err := e.reg.Push(e.ctx, src, "os:stable")
	if err != nil {
		e.t.Fatal(err)
	}
	return digest
}

// TestImageLifecycle is the main path: rebase an OSTree host onto an
// image in a registry, check for and take an upgrade that changes one
// layer, layer a package on the image, roll back, rebase back to the OSTree
// ref and prune what no deployment needs.
func TestImageLifecycle(t *testing.T) {
	e, ref := imageEnv(t)
	digest1, err := e.reg.Digest(e.ctx, "os:stable")
	if err != nil {
		t.Fatal(err)
	}

	out := e.mustStrata("rebase", ref)
	for _, want := range []string{"Pulling image " + ref, "Fetching layer 1/2 sha256:", "Fetching layer 2/2 sha256:", "2 layer(s) fetched, 0 already present"} {
		if !strings.Contains(out, want) {
			t.Errorf("rebase output lacks %q:\n%s", want, out)
		}
	}
	st := e.status()
	d := st.Deployments[0]
	if d.Image != ref || d.ImageDigest != digest1 || d.Origin != "" || d.Version != "img-1" {
		t.Errorf("image deployment in status --json: %+v", d)
	}
	if human := e.mustStrata("status"); !strings.Contains(human, ref) || !strings.Contains(human, "Digest: "+digest1) || !strings.Contains(human, "Version: img-1") {
		t.Errorf("status:\n%s", human)
	}
	root := e.deploymentRoot(d.Checksum, d.Serial)
	if data, err := os.ReadFile(filepath.Join(root, "usr/share/demo/image-release")); err != nil || string(data) != "extra layer\n" {
		t.Errorf("the image's second layer is not in the deployment: %q, %v", data, err)
	}
	// /etc came from the image as /usr/etc and was merged into the
	// deployment's /etc by libostree.
	if _, err := os.Lstat(filepath.Join(root, "usr/etc/demo.conf")); err != nil {
		t.Errorf("image /etc not at /usr/etc: %v", err)
	}
	origin, err := os.ReadFile(root + ".origin")
	if err != nil || !strings.Contains(string(origin), "container-image-reference="+ref) {
		t.Errorf("origin file: %q, %v", origin, err)
	}

	// Nothing new in the registry.
	if _, _, code := e.strata("upgrade", "--check"); code != 77 {
		t.Errorf("upgrade --check with no new image: exit %d, want 77", code)
	}
	if out := e.mustStrata("upgrade"); !strings.Contains(out, "No upgrade available.") {
		t.Errorf("upgrade with no new image:\n%s", out)
	}

	// os:stable moves to OS 2.0: the base layer differs, the extra layer
	// is the same blob and is not downloaded again.
	digest2 := e.pushOSImage("2", "2.0")
	out, _, code := e.strata("upgrade", "--preview")
	if code != 0 || !strings.Contains(out, "Digest: "+digest2) || !strings.Contains(out, "demo-base-files 1.0-1 -> 2.0-1") {
		t.Errorf("upgrade --preview: exit %d\n%s", code, out)
	}
	out = e.mustStrata("upgrade")
	if !strings.Contains(out, "0 layer(s) fetched, 2 already present") {
		t.Errorf("upgrade after --preview downloaded again:\n%s", out)
	}
	if got := e.versions(); got != "img-2 img-1" {
		t.Errorf("versions after upgrade: %q", got)
	}
	if d := e.status().Deployments[0]; d.ImageDigest != digest2 {
		t.Errorf("upgraded digest %s, want %s", d.ImageDigest, digest2)
	}

	// A package layered on the image base.
	e.mustStrata("install", "demo-extra")
	d = e.status().Deployments[0]
	if d.Image != ref || d.ImageDigest != digest2 || d.BaseChecksum == "" || strings.Join(d.Packages, " ") != "demo-extra" {
		t.Errorf("layered image deployment: %+v", d)
	}
	if diff := e.mustStrata("db", "diff"); !strings.Contains(diff, "demo-extra") {
		t.Errorf("db diff:\n%s", diff)
	}

	// Back to the OSTree ref; the image deployment stays as rollback.
	e.mustStrata("rebase", fixture.Remote+":"+fixture.StableRef)
	st = e.status()
	if st.Deployments[0].Origin != fixture.Remote+":"+fixture.StableRef || st.Deployments[0].Image != "" || st.Deployments[1].Image != ref {
		t.Errorf("after rebase back: %+v", st.Deployments)
	}
	e.mustStrata("cleanup", "-b")
	if refs := e.repoRefs(); !strings.Contains(refs, "ostree/container/image/") {
		t.Errorf("cleanup -b pruned the image the rollback deployment uses:\n%s", refs)
	}
	e.mustStrata("cleanup", "-r")
	e.mustStrata("cleanup", "-b")
	if refs := e.repoRefs(); strings.Contains(refs, "ostree/container/") {
		t.Errorf("cleanup -b left images no deployment uses:\n%s", refs)
	}
}

// TestImageRebaseRefusals: bad references and unusable images are refused
// with a clear error, and nothing changes.
func TestImageRebaseRefusals(t *testing.T) {
	e, _ := imageEnv(t)
	layout := filepath.Join(e.dir, "nokernel")
	src, err := fixture.BuildImage(e.ctx, layout, "x", nil, map[string]string{"usr/bin/tool": "#!/bin/sh\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Push(e.ctx, src, "app:latest"); err != nil {
		t.Fatal(err)
	}
	registry := "ostree-unverified-registry:" + e.reg.Addr
	for _, tt := range []struct{ ref, want string }{
		{"ostree-unverified-image:ftp://host/os", "accepted forms"},
		{"docker://" + e.reg.Addr + "/os:stable", "has no ostree image scheme"},
		{registry + "/os:missing", "os:missing"},
		{registry + "/app:latest", "not bootable"},
		{"ostree-image-signed:docker://" + e.reg.Addr + "/os:stable", "policy"},
	} {
		t.Run(tt.ref, func(sub *testing.T) {
			e.t = sub
			defer func() { e.t = t }()
			e.expectFailure(tt.want, "rebase", tt.ref)
		})
	}
	// Registry down.
	e.reg.Stop()
	e.expectFailure("os:stable", "rebase", registry+"/os:stable")
}

// deploymentRoot is the checkout directory of a deployment.
func (e *env) deploymentRoot(checksum string, serial int) string {
	return filepath.Join(e.host.Sysroot, "ostree/deploy", fixture.OSName, "deploy", checksum+"."+strconv.Itoa(serial))
}

// repoRefs lists the sysroot repo's refs.
func (e *env) repoRefs() string {
	e.t.Helper()
	out, _, code := e.run("ostree", "refs", "--repo="+filepath.Join(e.host.Sysroot, "ostree/repo"))
	if code != 0 {
		e.t.Fatalf("ostree refs failed")
	}
	return out
}
