package image

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/strata-os/strata/internal/ostree"
)

// Commit metadata keys of a merged image commit, as ostree-rs-ext writes
// them, so tools reading either kind of host find the same keys.
const (
	MetaManifestDigest = "ostree.manifest-digest"        // s: "sha256:…" of the manifest
	MetaManifest       = "ostree.manifest"               // s: the manifest JSON
	MetaImageConfig    = "ostree.container.image-config" // s: the image configuration JSON
	MetaVersion        = "version"                       // s: the image's version label
)

// Version labels, in order of preference (the OCI one, then the older
// "version" label ostree-rs-ext also reads).
var versionLabels = []string{"org.opencontainers.image.version", "version"}

// MergeSpec describes one image to commit from its imported layers.
type MergeSpec struct {
	// Reference names the image's ref (ImageRef), e.g.
	// "docker://quay.io/org/os:stable".
	Reference      string
	ManifestDigest string
	Manifest       []byte // raw JSON
	Config         []byte // raw JSON
	// Layers are the layer digests in manifest order, all imported.
	Layers []string
}

// Merge commits the image: its layers applied in order with whiteouts onto
// the root skeleton, the manifest and config recorded, ImageRef(Reference)
// pointed at the result, all in one repo transaction. An image without a
// kernel (usr/lib/modules/<kver>/vmlinuz) is refused as not bootable and
// nothing is written.
func (s *Store) Merge(ctx context.Context, m MergeSpec) (string, error) {
	skeleton, err := s.skeletonCommit(ctx)
	if err != nil {
		return "", fmt.Errorf("merging image %s: %w", m.Reference, err)
	}
	return s.mergeOnto(ctx, skeleton, m, nil)
}

// mergeOnto is Merge with base as the lowest layer (the skeleton, or the
// commit of an OSTree-native base) and extra commit metadata.
func (s *Store) mergeOnto(ctx context.Context, base string, m MergeSpec, extra map[string]any) (string, error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("merging image %s: %w", m.Reference, err)
	}
	var cfg struct {
		Created time.Time `json:"created"`
		Config  struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if len(m.Config) > 0 {
		if err := json.Unmarshal(m.Config, &cfg); err != nil {
			return fail(fmt.Errorf("reading image config: %w", err))
		}
	}
	layers := []ostree.LayerSpec{{Commit: base}}
	for _, d := range m.Layers {
		csum, ok := s.LayerCommit(d)
		if !ok {
			return fail(fmt.Errorf("layer %s is not imported", d))
		}
		c, err := s.Repo.ReadCommit(csum)
		if err != nil {
			return fail(err)
		}
		wh, _ := c.Metadata[MetaWhiteouts].([]string)
		implicit, _ := c.Metadata[MetaImplicitDirs].([]string)
		layers = append(layers, ostree.LayerSpec{Commit: csum, Dirty: dirtyDirs(wh), Implicit: implicit})
	}
	md := map[string]any{
		MetaManifestDigest: m.ManifestDigest,
		MetaManifest:       string(m.Manifest),
		MetaImageConfig:    string(m.Config),
	}
	for k, v := range extra {
		md[k] = v
	}
	for _, l := range versionLabels {
		if v := cfg.Config.Labels[l]; v != "" {
			md[MetaVersion] = v
			break
		}
	}
	csum, err := s.Repo.MergeLayers(ctx, ostree.LayerMergeSpec{
		Layers:    layers,
		Subject:   m.Reference,
		Metadata:  md,
		Timestamp: cfg.Created,
		Ref:       ImageRef(m.Reference),
		Check: func(t ostree.TreeLister) error {
			if !hasKernel(t) {
				return fmt.Errorf("image %s is not bootable: it has no /usr/lib/modules/<kver>/vmlinuz", m.Reference)
			}
			return nil
		},
	})
	if err != nil {
		return fail(err)
	}
	return csum, nil
}

// dirtyDirs is every directory holding a marker, and its ancestors.
func dirtyDirs(markers []string) []string {
	seen := map[string]bool{"": true}
	for _, m := range markers {
		for d := path.Dir(m); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
		}
	}
	return sortedKeys(seen)
}

func hasKernel(t ostree.TreeLister) bool {
	_, kvers, ok := t.List("usr/lib/modules")
	if !ok {
		return false
	}
	for _, k := range kvers {
		files, _, _ := t.List("usr/lib/modules/" + k)
		for _, f := range files {
			if f == "vmlinuz" {
				return true
			}
		}
	}
	return false
}
