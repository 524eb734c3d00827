package transactions

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/origin"
)

const osImage = "ostree-unverified-registry:registry.example:5000/os:stable"

// osImageRef is the repo ref osImage is pulled to (ostree-rs-ext's escaping,
// tested in internal/image).
const osImageRef = "ostree/container/image/docker_3A__2F__2F_registry_2E_example_3A_5000/os_3A_stable"

// imageHost is a booted host on image commit i1 of osImage; the registry
// serves head for it (i0 older, i1, i2 newer).
func imageHost(t *testing.T, head string, edit func(o *origin.Origin)) *memSysroot {
	m := newMem(t)
	m.image(osImage, "i0", "40.0", 50)
	m.image(osImage, "i1", "41.0", 100)
	m.image(osImage, "i2", "42.0", 200)
	m.registry[osImage] = head
	m.repo.refs[osImageRef] = "i1"
	o := origin.NewImage(osImage)
	if edit != nil {
		edit(o)
	}
	m.deploy("demo", "i1", true, o)
	return m
}

func TestImageRefEscaping(t *testing.T) {
	ref, err := image.ParseReference(osImage)
	if err != nil {
		t.Fatal(err)
	}
	if got := image.ImageRef(ref.ImageRef()); got != osImageRef {
		t.Fatalf("image ref %s, the tests use %s", got, osImageRef)
	}
}

func TestRebaseOntoImage(t *testing.T) {
	m := host1(t, "v1", func(o *origin.Origin) { o.SetRequestedPackages([]string{"hello"}) })
	m.image(osImage, "i1", "41.0", 100)
	p := &recorder{}
	res, err := testEngine(m).Rebase(context.Background(), "demo", osImage, RebaseOptions{}, p)
	if err != nil {
		t.Fatal(err)
	}
	// The packages layered on the old base are layered on the image.
	if !res.Changed || len(m.composed) != 1 || m.composed[0].Base != "i1" {
		t.Fatalf("result %+v, composed %+v", res, m.composed)
	}
	o, err := origin.Parse([]byte(m.deps[0].Origin))
	if err != nil {
		t.Fatal(err)
	}
	if o.ImageReference() != osImage || o.Refspec() != "" || !reflect.DeepEqual(o.RequestedPackages(), []string{"hello"}) {
		t.Errorf("origin %q", m.deps[0].Origin)
	}
	if _, kept := m.repo.refs[stable]; kept {
		t.Error("the OSTree ref left behind was not deleted")
	}
	if m.repo.refs[osImageRef] != "i1" {
		t.Errorf("image ref %q", m.repo.refs[osImageRef])
	}
	if len(p.percents) == 0 || !strings.HasPrefix(p.percents[0], "Fetching layer 1/1 sha256:i1 (10 B)") {
		t.Errorf("layer progress %q", p.percents)
	}

	st := snapshot(m)
	d := st.Deployments[0]
	if d.Origin.ImageReference != osImage || d.Origin.Refspec != "" || d.ImageDigest != "sha256:i1" || d.BaseChecksum != "i1" {
		t.Errorf("state of the image deployment: %+v origin %+v", d, d.Origin)
	}
}

func TestRebaseRefusesBadImageReferences(t *testing.T) {
	for _, tt := range []struct{ ref, want string }{
		{"ostree-unverified-image:ftp://host/os", "accepted forms"},
		{"ostree-unverified-registry:", "accepted forms"},
		{"docker://quay.io/fedora/fedora-coreos:stable", "ostree-unverified-registry:HOST/REPO"},
	} {
		t.Run(tt.ref, func(t *testing.T) {
			m := host1(t, "v1", nil)
			before := m.deps[0].Origin
			_, err := testEngine(m).Rebase(context.Background(), "demo", tt.ref, RebaseOptions{}, &recorder{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(m.repo.pulls) != 0 || len(m.deps) != 1 || m.deps[0].Origin != before {
				t.Errorf("refused rebase changed something: %d pulls, %d deployments", len(m.repo.pulls), len(m.deps))
			}
		})
	}
}

func TestRebaseImageRefusesRevision(t *testing.T) {
	m := host1(t, "v1", nil)
	m.image(osImage, "i1", "41.0", 100)
	_, err := testEngine(m).Rebase(context.Background(), "demo", osImage, RebaseOptions{Revision: "41.0"}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "@sha256:<digest>") {
		t.Fatalf("err = %v", err)
	}
}

func TestUpgradeImage(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, head, want, said, err string
	}{
		{"no update", "i1", "i1", "No upgrade available.", ""},
		{"newer image", "i2", "i2 i1", "", ""},
		{"older image refused", "i0", "i1", "", "is chronologically older than current revision"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := imageHost(t, tt.head, nil)
			p := &recorder{}
			_, err := testEngine(m).Upgrade(ctx, "demo", UpgradeOptions{}, p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := checksums(m.deps); got != tt.want {
				t.Errorf("deployments %q, want %q", got, tt.want)
			}
			if tt.said != "" && !p.said(tt.said) {
				t.Errorf("messages %q, want %q", p.messages, tt.said)
			}
		})
	}
}

func TestUpgradeImageRecomposesLayers(t *testing.T) {
	m := imageHost(t, "i2", func(o *origin.Origin) { o.SetRequestedPackages([]string{"hello"}) })
	if _, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if len(m.composed) != 1 || m.composed[0].Base != "i2" || !reflect.DeepEqual(m.composed[0].Packages, []string{"hello"}) {
		t.Fatalf("composed %+v", m.composed)
	}
	if m.repo.refs["rpmostree/base/0"] != "i2" {
		t.Errorf("the image base is not held by a base ref: %v", m.repo.refs)
	}
}

func TestUpgradeImageCacheOnly(t *testing.T) {
	m := imageHost(t, "i2", nil)
	delete(m.repo.refs, osImageRef)
	_, err := testEngine(m).Upgrade(context.Background(), "demo", UpgradeOptions{CacheOnly: true}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "has not been pulled yet") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeployRevisionOfImageRefused(t *testing.T) {
	m := imageHost(t, "i2", nil)
	_, err := testEngine(m).Deploy(context.Background(), "demo", "42.0", DeployOptions{}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "is a container image") || len(m.deps) != 1 {
		t.Fatalf("err = %v, deployments %s", err, checksums(m.deps))
	}
}

func TestCheckUpdateImage(t *testing.T) {
	m := imageHost(t, "i2", nil)
	e := testEngine(m)
	if err := e.CheckUpdate(context.Background(), "demo", &recorder{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.State(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	u := st.Updates["demo"]
	want := &Update{Osname: "demo", Refspec: osImage, IsImage: true, ImageDigest: "sha256:i2", Checksum: "i2", Version: "42.0", Timestamp: u.Timestamp}
	if !reflect.DeepEqual(u, want) || u.Timestamp.Unix() != 200 {
		t.Errorf("cached update %+v, want %+v", u, want)
	}
}

func TestRebaseOstreeScheme(t *testing.T) {
	m := host1(t, "v1", nil)
	m.commit("n1", "", "next-1", 300)
	m.repo.remote["demo:demo/next"] = "n1"
	if _, err := testEngine(m).Rebase(context.Background(), "demo", "ostree://demo:demo/next", RebaseOptions{}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if o, _ := origin.Parse([]byte(m.deps[0].Origin)); o.Refspec() != "demo:demo/next" {
		t.Errorf("origin after rebase to ostree://demo:demo/next: %q", m.deps[0].Origin)
	}
}

func TestRebaseImageBackToRef(t *testing.T) {
	m := imageHost(t, "i1", nil)
	m.commit("n1", "", "next-1", 300)
	m.repo.remote["demo:demo/next"] = "n1"
	if _, err := testEngine(m).Rebase(context.Background(), "demo", "demo:demo/next", RebaseOptions{}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	o, _ := origin.Parse([]byte(m.deps[0].Origin))
	if o.Refspec() != "demo:demo/next" || o.ImageReference() != "" || checksums(m.deps) != "n1 i1" {
		t.Errorf("origin %q, deployments %s", m.deps[0].Origin, checksums(m.deps))
	}
	// "REMOTE:" keeps the current ref, and an image has none.
	m = imageHost(t, "i1", nil)
	if _, err := testEngine(m).Rebase(context.Background(), "demo", "demo:", RebaseOptions{}, &recorder{}); err == nil || !strings.Contains(err.Error(), "container image") {
		t.Errorf("rebase to REMOTE: from an image: err = %v", err)
	}
}

func TestCleanupBasePrunesUndeployedImages(t *testing.T) {
	m := imageHost(t, "i1", func(o *origin.Origin) { o.SetRequestedPackages([]string{"hello"}) })
	m.commit("L", "i1", "", 100)
	m.repo.commits["L"].Metadata["rpmostree.clientlayer"] = true
	m.deps[0].Checksum = "L"
	if err := testEngine(m).Cleanup(context.Background(), "demo", []string{CleanupBase}, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if len(m.pruned) != 1 || !reflect.DeepEqual(m.pruned[0], []string{"L", "i1"}) {
		t.Errorf("PruneImages keep-lists %v, want [[L i1]]", m.pruned)
	}
}

// A pure OSTree-native image's commit stays as encapsulated: its manifest
// digest is read from the commit's detached metadata.
func TestStateNativeImageDigest(t *testing.T) {
	m := newMem(t)
	m.commit("native", "", "43.0", 100)
	m.repo.detached = map[string]map[string]any{"native": {image.MetaManifestDigest: "sha256:n"}}
	m.deploy("demo", "native", true, origin.NewImage(osImage))
	if d := snapshot(m).Deployments[0]; d.ImageDigest != "sha256:n" || d.Version != "43.0" {
		t.Errorf("native image deployment: %+v", d)
	}
}
