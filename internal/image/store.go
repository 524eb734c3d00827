package image

import (
	"regexp"

	"github.com/strata-os/strata/internal/ostree"
)

// Store keeps container image layers and images in an OSTree repo under
// ostree-rs-ext's ref scheme: each layer is its own commit on
// BlobRef(digest), each image a merged commit on ImageRef(reference).
// Layer imports run one at a time per repo (libostree allows one
// transaction per repo object).
type Store struct{ Repo *ostree.Repo }

// Commit metadata keys written on layer commits.
const (
	// MetaLayerDigest (s) is the digest of the compressed blob the layer
	// came from.
	MetaLayerDigest = "strata.image.layer-digest"
	// MetaLayerFormat (u) is the version of the import rules used; a layer
	// imported by other rules is imported again.
	MetaLayerFormat = "strata.image.layer-format"
	// MetaWhiteouts (as) lists the whiteout markers kept in the layer
	// ("usr/share/.wh.foo", "usr/etc/.wh..wh..opq"), tree paths.
	MetaWhiteouts = "strata.image.whiteouts"
	// MetaImplicitDirs (as) lists directories the tar did not carry but
	// that had to be created for its content: a merge keeps the lower
	// layers' metadata for them.
	MetaImplicitDirs = "strata.image.implicit-dirs"
	// MetaFiltered (as) lists the top-level names whose content was
	// dropped (outside what an OSTree deployment carries), as
	// ostree-rs-ext's ostree.tar-filtered does.
	MetaFiltered = "strata.image.filtered"

	layerFormat = uint32(1)
)

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// LayerCommit returns the commit of an already imported layer. A layer is
// only reported when its ref exists and points at a commit made from that
// digest by the current import rules, so a layer is never downloaded again
// once completely imported.
func (s *Store) LayerCommit(digest string) (string, bool) {
	if !digestRE.MatchString(digest) {
		return "", false
	}
	csum, err := s.Repo.ResolveRev(BlobRef(digest), true)
	if err != nil || csum == "" {
		return "", false
	}
	c, err := s.Repo.ReadCommit(csum)
	if err != nil {
		return "", false
	}
	if c.Metadata[MetaLayerDigest] != digest || c.Metadata[MetaLayerFormat] != layerFormat {
		return "", false
	}
	return csum, true
}
