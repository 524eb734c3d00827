package e2e

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

	// The tag moves again (a new config, the same layers): the layered
	// package is resolved again on the new image, nothing is downloaded.
	digest3 := e.pushOSImage("3", "2.0")
	out = e.mustStrata("upgrade")
	if !strings.Contains(out, "0 layer(s) fetched, 2 already present") {
		t.Errorf("upgrade to a new config over the same layers:\n%s", out)
	}
	d = e.status().Deployments[0]
	if d.ImageDigest != digest3 || d.Version != "img-3" || strings.Join(d.Packages, " ") != "demo-extra" || d.BaseChecksum == "" {
		t.Errorf("layered deployment after the image upgrade: %+v", d)
	}

	// Rollback on an image base: the previous deployment is the default
	// again, and back.
	layered := d.Checksum
	e.mustStrata("rollback")
	if st := e.status(); st.Deployments[0].Checksum == layered || st.Deployments[1].Checksum != layered {
		t.Errorf("rollback did not swap the image deployments: %+v", st.Deployments)
	}
	e.mustStrata("rollback")

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

// TestImageRebaseByDigestAsMCO: the cluster's machine-config daemon runs
// `rpm-ostree rebase --experimental ostree-unverified-registry:…@sha256:…`
// and reads the digest back from `rpm-ostree status --json`.
func TestImageRebaseByDigestAsMCO(t *testing.T) {
	e, _ := imageEnv(t)
	digest, err := e.reg.Digest(e.ctx, "os:stable")
	if err != nil {
		t.Fatal(err)
	}
	ref := "ostree-unverified-registry:" + e.reg.Addr + "/os@" + digest
	if _, errOut, code := e.run(bins.rpmOstree, "rebase", "--experimental", ref); code != 0 {
		t.Fatalf("rpm-ostree rebase: exit %d: %s", code, errOut)
	}
	d := e.status().Deployments[0]
	if d.Image != ref || d.ImageDigest != digest {
		t.Errorf("status after rebase by digest: %+v", d)
	}
	// os:stable moves on; a digest reference does not.
	e.pushOSImage("2", "2.0")
	if _, _, code := e.run(bins.rpmOstree, "upgrade", "--check"); code != 77 {
		t.Errorf("upgrade --check of a digest reference: exit %d, want 77", code)
	}
}

// TestImagePullCancelledAndKilled: a pull cancelled, then one whose daemon
// is killed, while the second layer downloads, leave the deployments as they
// were and the repo consistent; the next rebase fetches only the layer that
// was not complete.
func TestImagePullCancelledAndKilled(t *testing.T) {
	e, _ := imageEnv(t)
	layers := e.layerDigests("os:stable")
	proxy := startStallingProxy(t, e.reg.Addr, layers[1])
	e.trustRegistry(proxy.addr)
	e.daemon.Stop()
	e.startDaemon() // to read the new registries.conf
	ref := "ostree-unverified-registry:" + proxy.addr + "/os:stable"
	before := e.ostreeStatus()

	start := func() *exec.Cmd {
		cmd := exec.CommandContext(e.ctx, bins.strata, "rebase", ref)
		cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+e.bus.Address)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		proxy.waitStalled(t)
		return cmd
	}

	cmd := start()
	e.mustStrata("cancel")
	if err := cmd.Wait(); err == nil {
		t.Error("the cancelled rebase reported success")
	}
	if after := e.ostreeStatus(); after != before {
		t.Errorf("deployments changed by a cancelled pull:\n%s", after)
	}
	e.fsck()

	cmd = start()
	if err := e.daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if after := e.ostreeStatus(); after != before {
		t.Errorf("deployments changed by a killed pull:\n%s", after)
	}
	e.fsck()

	proxy.stop()
	e.startDaemon()
	if out := e.mustStrata("rebase", ref); !strings.Contains(out, "1 layer(s) fetched, 1 already present") {
		t.Errorf("rebase after the interrupted pulls did not reuse the complete layer:\n%s", out)
	}
}

// layerDigests lists the layer digests of REPO:TAG in the registry.
func (e *env) layerDigests(repoTag string) []string {
	e.t.Helper()
	out, err := exec.CommandContext(e.ctx, "skopeo", "inspect", "--tls-verify=false", "--format", "{{range .Layers}}{{.}} {{end}}",
		"docker://"+e.reg.Addr+"/"+repoTag).Output()
	if err != nil {
		e.t.Fatalf("skopeo inspect: %v", err)
	}
	return strings.Fields(string(out))
}

// trustRegistry adds addr to the registries stratad may reach over plain HTTP.
func (e *env) trustRegistry(addr string) {
	e.t.Helper()
	path := filepath.Join(e.containersRoot, "etc", "containers", "registries.conf")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "\n[[registry]]\nlocation = %q\ninsecure = true\n", addr); err != nil {
		e.t.Fatal(err)
	}
}

// stallingProxy forwards to a registry but holds every request for one blob
// until stopped, so a test can act while a pull is mid-layer.
type stallingProxy struct {
	addr    string
	stalled chan struct{} // one value per stalled request
	stopped chan struct{}
	once    sync.Once
	srv     *http.Server
}

func startStallingProxy(t *testing.T, registry, digest string) *stallingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{addr: ln.Addr().String(), stalled: make(chan struct{}, 8), stopped: make(chan struct{})}
	forward := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: registry})
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+digest) {
			select {
			case <-p.stopped:
			default:
				p.stalled <- struct{}{}
				select {
				case <-p.stopped:
				case <-r.Context().Done():
					return
				}
			}
		}
		forward.ServeHTTP(w, r)
	})}
	go p.srv.Serve(ln)
	t.Cleanup(func() { p.stop(); p.srv.Close() })
	return p
}

// waitStalled waits until a request for the held blob arrives.
func (p *stallingProxy) waitStalled(t *testing.T) {
	t.Helper()
	select {
	case <-p.stalled:
	case <-time.After(60 * time.Second):
		t.Fatal("the pull never asked for the held layer")
	}
}

// stop lets every request through from now on.
func (p *stallingProxy) stop() { p.once.Do(func() { close(p.stopped) }) }

// TestImageRegistryConfiguration: the host's containers configuration
// applies unchanged. A registries.conf mirror serves an image named after a
// registry that does not exist, and a registry that wants credentials is
// reached with /etc/ostree/auth.json; edits count at the next pull, without
// restarting the daemon.
func TestImageRegistryConfiguration(t *testing.T) {
	e, _ := imageEnv(t)
	conf := filepath.Join(e.containersRoot, "etc", "containers", "registries.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[[registry]]\nlocation = \"os.mirrored.invalid\"\n[[registry.mirror]]\nlocation = %q\ninsecure = true\n", e.reg.Addr)
	f.Close()
	mirrored := "ostree-unverified-registry:os.mirrored.invalid/os:stable"
	e.mustStrata("rebase", mirrored)
	if d := e.status().Deployments[0]; d.Image != mirrored {
		t.Errorf("deployment after a rebase through a mirror: %+v", d)
	}

	regDir := filepath.Join(e.dir, "private-registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		t.Fatal(err)
	}
	private, err := fixture.StartRegistry(e.ctx, regDir, fixture.WithBasicAuth("strata", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer private.Stop()
	src, err := e.host.BuildOSImage(e.ctx, filepath.Join(e.dir, "layout"), "private", "2.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := private.Push(e.ctx, src, "os:private"); err != nil {
		t.Fatal(err)
	}
	e.trustRegistry(private.Addr)
	ref := "ostree-unverified-registry:" + private.Addr + "/os:private"
	e.expectFailure("the registry wants credentials: put them in", "rebase", ref)

	authDir := filepath.Join(e.containersRoot, "etc", "ostree")
	if err := os.MkdirAll(authDir, 0o755); err != nil {
		t.Fatal(err)
	}
	auth := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, private.Addr, base64.StdEncoding.EncodeToString([]byte("strata:s3cret")))
	if err := os.WriteFile(filepath.Join(authDir, "auth.json"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustStrata("rebase", ref)
	if d := e.status().Deployments[0]; d.Image != ref {
		t.Errorf("deployment after a rebase with credentials: %+v", d)
	}
}

// TestImageDerivedWithBuildah: an image derived from the OS image the way a
// Containerfile's RUN line makes one (buildah, not our fixture, writes the
// layer and its whiteouts) deploys with the deleted file gone and the new
// one present.
func TestImageDerivedWithBuildah(t *testing.T) {
	e, _ := imageEnv(t)
	src, err := fixture.DeriveImage(e.ctx, filepath.Join(e.dir, "buildah"), filepath.Join(e.dir, "layout"), "1", "derived",
		"rm /usr/share/demo/image-release && rm -rf /usr/lib/modules/*/doesnotexist && mkdir -p /usr/share/derived && echo derived > /usr/share/derived/marker && echo tuned > /etc/demo.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Push(e.ctx, src, "os:derived"); err != nil {
		t.Fatal(err)
	}
	ref := "ostree-unverified-registry:" + e.reg.Addr + "/os:derived"
	if out := e.mustStrata("rebase", ref); !strings.Contains(out, "Fetching layer 3/3") {
		t.Errorf("rebase onto the derived image:\n%s", out)
	}
	d := e.status().Deployments[0]
	root := e.deploymentRoot(d.Checksum, d.Serial)
	if _, err := os.Lstat(filepath.Join(root, "usr/share/demo/image-release")); !os.IsNotExist(err) {
		t.Errorf("the file the RUN line deleted is in the deployment (%v)", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "usr/share/derived/marker")); err != nil || string(data) != "derived\n" {
		t.Errorf("the RUN line's new file: %q, %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "usr/etc/demo.conf")); err != nil || string(data) != "tuned\n" {
		t.Errorf("the RUN line's /etc edit is not the image's /usr/etc: %q, %v", data, err)
	}
}

// TestImageSigned: for ostree-image-signed: the host's policy.json decides.
// Images signed with skopeo copy --sign-by by the trusted key deploy; an
// unsigned image and one signed by another key are refused naming the
// requirement, and nothing changes.
func TestImageSigned(t *testing.T) {
	e, _ := imageEnv(t)
	confDir := filepath.Join(e.containersRoot, "etc", "containers")
	trusted, err := fixture.NewGPGKey(e.ctx, filepath.Join(e.dir, "gpg-trusted"), "trusted")
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewGPGKey(e.ctx, filepath.Join(e.dir, "gpg-other"), "other")
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := fixture.NewLookaside(confDir, e.reg.Addr) // confDir/registries.d: where the host looks
	if err != nil {
		t.Fatal(err)
	}
	if err := fixture.WriteSignedByPolicy(filepath.Join(confDir, "policy.json"), e.reg.Addr, trusted.PublicKey); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(e.dir, "layout") + ":1" // the image imageEnv pushed as os:stable
	if _, err := e.reg.PushSigned(e.ctx, src, "signed/os:1", trusted, sigs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.PushSigned(e.ctx, src, "mallory/os:1", other, sigs); err != nil {
		t.Fatal(err)
	}
	signed := "ostree-image-signed:docker://" + e.reg.Addr
	e.expectFailure("signedBy", "rebase", signed+"/os:stable")
	e.expectFailure("signedBy", "rebase", signed+"/mallory/os:1")
	if refs := e.repoRefs(); strings.Contains(refs, "ostree/container/image/") {
		t.Errorf("a refused image left an image ref:\n%s", refs)
	}

	e.mustStrata("rebase", signed+"/signed/os:1")
	if d := e.status().Deployments[0]; d.Image != signed+"/signed/os:1" || d.Version != "img-1" {
		t.Errorf("signed image deployment: %+v", d)
	}
	// The policy holds for upgrades too: the tag moved to an unsigned
	// image is refused.
	e.pushOSImage("2", "2.0")
	if err := e.reg.Tag(e.ctx, "os:2", "signed/os:1"); err != nil {
		t.Fatal(err)
	}
	e.expectFailure("signedBy", "upgrade")
}

// TestImageNativeRoundTrip: `strata compose container-encapsulate` writes
// an OSTree commit as an OSTree-native image into the registry, and a host
// rebased onto that image deploys the very same commit (the checksum
// status shows is the one inside the image).
func TestImageNativeRoundTrip(t *testing.T) {
	e, _ := imageEnv(t)
	conf := filepath.Join(e.containersRoot, "etc", "containers", "registries.conf")
	target := "docker://" + e.reg.Addr + "/native:2.0"
	cmd := exec.CommandContext(e.ctx, bins.strata, "compose", "container-encapsulate", "--repo="+e.host.RemoteRepo, "--max-layers=4",
		e.host.Versions["2.0"], target)
	cmd.Env = append(os.Environ(), "CONTAINERS_REGISTRIES_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strata compose container-encapsulate: %v\n%s", err, out)
	}
	ref := "ostree-unverified-registry:" + e.reg.Addr + "/native:2.0"
	e.mustStrata("rebase", ref)
	d := e.status().Deployments[0]
	if d.Checksum != e.host.Versions["2.0"] || d.Image != ref || d.ImageDigest == "" || d.Version != "2.0" {
		t.Errorf("native image deployment %+v, want commit %s", d, e.host.Versions["2.0"])
	}
	if _, _, code := e.strata("upgrade", "--check"); code != 77 {
		t.Errorf("upgrade --check right after the rebase: exit %d, want 77", code)
	}
	// Packages layer on a native base as on any other.
	e.mustStrata("install", "demo-extra")
	if d := e.status().Deployments[0]; d.BaseChecksum != e.host.Versions["2.0"] || d.Image != ref {
		t.Errorf("layered native deployment %+v", d)
	}
	e.mustStrata("cleanup", "-b")
}
