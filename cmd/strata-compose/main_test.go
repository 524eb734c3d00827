package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-os/strata/internal/image"
	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/tests/fixture"
)

// buildCLI builds strata and strata-compose side by side, as make installs
// them, so `strata compose` finds its helper.
func buildCLI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range []struct{ name, cgo string }{{"strata", "0"}, {"strata-compose", "1"}} {
		cmd := exec.Command("go", "build", "-tags", "containers_image_openpgp", "-o", filepath.Join(dir, c.name), "../"+c.name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+c.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", c.name, err, out)
		}
	}
	return dir
}

// TestStrataComposeEncapsulate runs `strata compose container-encapsulate`
// on the fixture's 1.0 commit into a loopback registry, and pulls the image
// back: the imported commit is the one encapsulated, checksum for checksum.
func TestStrataComposeEncapsulate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (bare OSTree repos keep file owners)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := buildCLI(t)
	dir := t.TempDir()
	h, err := fixture.BuildHost(ctx, filepath.Join(dir, "host"), fixture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	reg, err := fixture.StartRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	conf, err := reg.WriteRegistriesConf()
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, filepath.Join(bin, "strata"), "compose", "container-encapsulate",
		"--repo="+h.RemoteRepo, "--max-layers=3", "--label", "demo=yes", fixture.StableRef, "registry:"+reg.Addr+"/os:composed")
	cmd.Env = append(os.Environ(), "CONTAINERS_REGISTRIES_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("strata compose container-encapsulate: %v\n%s", err, out)
	}
	want := h.Versions["2.0"] // StableRef's head
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "3 layers") {
		t.Errorf("output does not name commit %s in 3 layers:\n%s", want, out)
	}

	repoDir := filepath.Join(dir, "repo")
	if out, err := exec.Command("ostree", "init", "--mode=bare", "--repo="+repoDir).CombinedOutput(); err != nil {
		t.Fatalf("ostree init: %v: %s", err, out)
	}
	repo, err := ostree.OpenRepo(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	ref, err := image.ParseReference("ostree-unverified-registry:" + reg.Addr + "/os:composed")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	cfg := image.Config{Root: root, RegistriesConf: conf, TmpDir: dir}
	img, err := image.Open(ctx, ref, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 || img.Labels["demo"] != "yes" || img.Labels["org.opencontainers.image.version"] != "2.0" {
		t.Errorf("image has %d layers, labels %v", len(img.Layers), img.Labels)
	}
	img.Close()
	got, err := (&image.Store{Repo: repo}).Pull(ctx, ref, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Commit != want {
		t.Errorf("pulled commit %s, encapsulated %s", got.Commit, want)
	}
	if out, err := exec.Command("ostree", "fsck", "--repo="+repoDir).CombinedOutput(); err != nil {
		t.Errorf("ostree fsck: %v\n%s", err, out)
	}

	// Usage mistakes exit 1 with the command's help, as other commands do.
	bad := exec.CommandContext(ctx, filepath.Join(bin, "strata"), "compose", "container-encapsulate", "only-ref")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "IMAGE-REF") {
		t.Errorf("one argument: %v\n%s", err, out)
	}
}
