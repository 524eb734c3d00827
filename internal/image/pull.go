package image

import (
	"context"
	"fmt"
)

// LayerProgress reports the download of one layer.
type LayerProgress struct {
	Index, Count int    // layer Index of Count, base first
	Digest       string // the layer's blob digest
	Read, Size   int64  // compressed bytes read so far, of Size (-1 when unknown)
	Reused       bool   // imported by an earlier pull: nothing is read
}

// Pulled is what Pull stored.
type Pulled struct {
	Commit         string // the merged image commit, on ImageRef(ref.ImageRef())
	ManifestDigest string
	Imported       int // layers downloaded and imported now
	Reused         int // layers an earlier pull had imported
	// BaseCommit, for an OSTree-native image, is the commit the image
	// encapsulates (Commit itself unless derived layers were merged on it).
	BaseCommit string
}

// Pull brings the image ref names into the store: the manifest and config are
// read (and for signed references the policy satisfied) first, each layer not
// imported yet is streamed into its own commit, and the layers are merged into
// the image commit. A layer imported by an earlier, even interrupted, pull is
// never downloaded again; a cancelled pull leaves the layers it completed.
//
// An OSTree-native image (ostree-rs-ext's encapsulation, see native.go) is
// imported object for object: Commit is then the very commit the image's
// ostree.commit label names, checked by libostree object by object, unless
// the image has derived layers, which are merged on top of it.
func (s *Store) Pull(ctx context.Context, ref Reference, cfg Config, progress func(LayerProgress)) (Pulled, error) {
	if progress == nil {
		progress = func(LayerProgress) {}
	}
	img, err := Open(ctx, ref, cfg)
	if err != nil {
		return Pulled{}, err
	}
	defer img.Close()
	if nl, ok, err := detectNative(img); err != nil {
		return Pulled{}, err
	} else if ok {
		return s.pullNative(ctx, img, nl, progress)
	}
	res := Pulled{ManifestDigest: img.ManifestDigest}
	if csum, ok := s.pulledAlready(ref, img.ManifestDigest); ok {
		// Nothing changed since the last pull: no layer is read and the
		// merge is not redone (an upgrade check costs one manifest fetch).
		for i, l := range img.Layers {
			progress(LayerProgress{Index: i, Count: len(img.Layers), Digest: l.Digest, Size: l.Size, Reused: true})
		}
		res.Commit, res.Reused = csum, len(img.Layers)
		return res, nil
	}
	digests := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		digests[i] = l.Digest
		lp := LayerProgress{Index: i, Count: len(img.Layers), Digest: l.Digest, Size: l.Size}
		if _, ok := s.LayerCommit(l.Digest); ok {
			lp.Reused = true
			progress(lp)
			res.Reused++
			continue
		}
		if err := s.pullLayer(ctx, img, i, lp, progress); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		res.Imported++
	}
	res.Commit, err = s.Merge(ctx, MergeSpec{
		Reference:      ref.ImageRef(),
		ManifestDigest: img.ManifestDigest,
		Manifest:       img.Manifest,
		Config:         img.Config,
		Layers:         digests,
	})
	if err != nil {
		return Pulled{}, err
	}
	return res, nil
}

func (s *Store) pullLayer(ctx context.Context, img *Image, i int, lp LayerProgress, progress func(LayerProgress)) error {
	r, err := img.OpenLayer(ctx, i, func(read int64) {
		lp.Read = read
		progress(lp)
	})
	if err != nil {
		return err
	}
	_, err = s.ImportLayer(ctx, lp.Digest, r)
	if cerr := r.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("layer %s: %w", lp.Digest, cerr)
	}
	return err
}

// pulledAlready returns the image commit of ref when it was merged from the
// manifest with digest.
func (s *Store) pulledAlready(ref Reference, digest string) (string, bool) {
	csum, err := s.Repo.ResolveRev(ImageRef(ref.ImageRef()), true)
	if err != nil || csum == "" {
		return "", false
	}
	c, err := s.Repo.ReadCommit(csum)
	if err != nil || c.Metadata[MetaManifestDigest] != digest {
		return "", false
	}
	return csum, true
}
