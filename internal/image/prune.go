package image

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Prune deletes the image refs whose commit is not in keep (the base
// commits deployments use), then the layer refs no remaining image lists in
// its manifest, as `rpm-ostree cleanup -b` does on an image-based host. It
// returns how many image and layer refs it deleted; their objects go with
// the repo's next prune. A layer is imported again if an image needs it.
func (s *Store) Prune(keep []string) (images, layers int, err error) {
	imageRefs, err := s.Repo.ListRefs(ImageRefPrefix)
	if err != nil {
		return 0, 0, err
	}
	used := map[string]bool{}
	for ref, csum := range imageRefs {
		if !slices.Contains(keep, csum) {
			if err := s.Repo.SetRef("", ref, ""); err != nil {
				return images, 0, fmt.Errorf("deleting %s: %w", ref, err)
			}
			images++
			continue
		}
		digests, err := s.manifestLayers(csum)
		if err != nil {
			// Keep every layer rather than guess which this image needs.
			return images, 0, fmt.Errorf("reading the manifest of %s: %w", ref, err)
		}
		for _, d := range digests {
			used[BlobRef(d)] = true
		}
	}
	blobRefs, err := s.Repo.ListRefs(BlobRefPrefix)
	if err != nil {
		return images, 0, err
	}
	for ref := range blobRefs {
		if used[ref] {
			continue
		}
		if err := s.Repo.SetRef("", ref, ""); err != nil {
			return images, layers, fmt.Errorf("deleting %s: %w", ref, err)
		}
		layers++
	}
	return images, layers, nil
}

// manifestLayers lists the layer digests of the manifest an image commit
// records.
func (s *Store) manifestLayers(commit string) ([]string, error) {
	c, err := s.Repo.ReadCommit(commit)
	if err != nil {
		return nil, err
	}
	md := c.Metadata
	if _, merged := md[MetaManifestDigest]; !merged {
		// A pure OSTree-native image keeps its manifest in the commit's
		// detached metadata (see ImageInfo).
		if md, err = s.Repo.ReadDetachedMetadata(commit); err != nil {
			return nil, err
		}
	}
	raw, _ := md[MetaManifest].(string)
	var m struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("commit %s has no readable %s: %w", commit, MetaManifest, err)
	}
	out := make([]string, len(m.Layers))
	for i, l := range m.Layers {
		out[i] = l.Digest
	}
	return out, nil
}
