package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/strata-os/strata/internal/ostree"
)

// Labels and annotations of OSTree-native images (ostree-rs-ext's
// encapsulation format, version 1).
const (
	// LabelCommit names the commit the image encapsulates.
	LabelCommit = "ostree.commit"
	// LabelFinalDiffID is the diff ID of the last layer that is part of
	// the commit; layers after it are derived (plain) layers.
	LabelFinalDiffID = "ostree.final-diffid"
	// LabelBootable and LabelBootc mark a bootable OS image.
	LabelBootable = "ostree.bootable"
	LabelBootc    = "containers.bootc"
	// AnnotationComponents, on a chunk layer, lists the packages whose
	// files the layer carries, comma-separated.
	AnnotationComponents = "ostree.components"

	// MetaNativeLayer (u) marks a layer commit made from the objects of an
	// OSTree-native layer (an object set), with its format version.
	MetaNativeLayer = "strata.image.native-layer"
	// MetaBaseCommit (s), on an image commit merged from derived layers,
	// names the encapsulated commit the layers were applied to.
	MetaBaseCommit = "strata.image.base-commit"

	nativeLayerFormat = uint32(1)
	// repoObjects is where the encapsulated repo's objects live in a layer.
	repoObjects = "sysroot/ostree/repo/objects/"
	// maxMetadataObject bounds what a metadata or xattrs entry may make us
	// hold in memory.
	maxMetadataObject = 64 << 20
)

var checksumRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// nativeLayout says how an OSTree-native image's layers divide: layer 0
// carries the commit and its metadata objects, layers 1..Last carry content
// objects by package, layers after Last are derived layers.
type nativeLayout struct {
	Commit string
	Last   int
}

// detectNative reads the image's labels and config: an image with
// ostree.commit and ostree.final-diffid is OSTree-native. A native image
// whose final diff ID is not among its layers is refused.
func detectNative(img *Image) (nativeLayout, bool, error) {
	commit, ok := img.Labels[LabelCommit]
	final, ok2 := img.Labels[LabelFinalDiffID]
	if !ok || !ok2 {
		return nativeLayout{}, false, nil
	}
	if !checksumRE.MatchString(commit) {
		return nativeLayout{}, false, fmt.Errorf("image %s: label %s=%q is not a commit checksum", img.Ref, LabelCommit, commit)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		return nativeLayout{}, false, fmt.Errorf("image %s: reading config: %w", img.Ref, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(img.Layers) {
		return nativeLayout{}, false, fmt.Errorf("image %s: config lists %d diff IDs for %d layers", img.Ref, len(cfg.RootFS.DiffIDs), len(img.Layers))
	}
	for i, d := range cfg.RootFS.DiffIDs {
		if d == final {
			return nativeLayout{Commit: commit, Last: i}, true, nil
		}
	}
	return nativeLayout{}, false, fmt.Errorf("image %s: label %s=%s names no layer of the image", img.Ref, LabelFinalDiffID, final)
}

// imageInfoKeys are the commit metadata keys that describe an image rather
// than a tree; for a pure OSTree-native image they are kept in the commit's
// detached metadata, and never exported with it.
var imageInfoKeys = []string{MetaManifestDigest, MetaManifest, MetaImageConfig}

// ImageInfo is what the store knows about a pulled image.
type ImageInfo struct {
	// Commit is what ImageRef points at: the deployable tree.
	Commit string
	// BaseCommit is the encapsulated commit of an OSTree-native image ("" for
	// plain images); it equals Commit unless derived layers were merged.
	BaseCommit     string
	ManifestDigest string
	Manifest       []byte
	Config         []byte
	Version        string
}

// ImageInfo reads the stored state of the image ref names, whichever kind of
// image it was: merged commits carry the image's manifest in their metadata,
// a pure OSTree-native image (whose commit must stay as encapsulated) in the
// commit's detached metadata.
func (s *Store) ImageInfo(ref Reference) (ImageInfo, error) {
	csum, err := s.Repo.ResolveRev(ImageRef(ref.ImageRef()), true)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("reading image %s: %w", ref, err)
	}
	if csum == "" {
		return ImageInfo{}, fmt.Errorf("image %s has not been pulled", ref)
	}
	c, err := s.Repo.ReadCommit(csum)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("reading image %s: %w", ref, err)
	}
	info := ImageInfo{Commit: csum, Version: c.Version}
	md := c.Metadata
	if _, ok := md[MetaManifestDigest]; ok {
		info.BaseCommit, _ = md[MetaBaseCommit].(string)
	} else {
		if md, err = s.Repo.ReadDetachedMetadata(csum); err != nil {
			return ImageInfo{}, fmt.Errorf("reading image %s: %w", ref, err)
		}
		info.BaseCommit = csum
	}
	info.ManifestDigest, _ = md[MetaManifestDigest].(string)
	m, _ := md[MetaManifest].(string)
	cfg, _ := md[MetaImageConfig].(string)
	info.Manifest, info.Config = []byte(m), []byte(cfg)
	if info.ManifestDigest == "" {
		return ImageInfo{}, fmt.Errorf("image %s: commit %s records no manifest", ref, csum)
	}
	return info, nil
}

// nativeChunkCommit returns the object-set commit of an already imported
// native content layer.
func (s *Store) nativeChunkCommit(digest string) (string, bool) {
	csum, err := s.Repo.ResolveRev(BlobRef(digest), true)
	if err != nil || csum == "" {
		return "", false
	}
	c, err := s.Repo.ReadCommit(csum)
	if err != nil || c.Metadata[MetaLayerDigest] != digest || c.Metadata[MetaNativeLayer] != nativeLayerFormat {
		return "", false
	}
	return csum, true
}

// pullNative imports an OSTree-native image object for object, so the image
// ref ends up on the very commit the image encapsulates; derived layers, if
// any, are imported as plain layers and merged on top of it.
func (s *Store) pullNative(ctx context.Context, img *Image, nl nativeLayout, progress func(LayerProgress)) (Pulled, error) {
	ref := img.Ref
	res := Pulled{ManifestDigest: img.ManifestDigest, BaseCommit: nl.Commit}
	lp := func(i int) LayerProgress {
		l := img.Layers[i]
		return LayerProgress{Index: i, Count: len(img.Layers), Digest: l.Digest, Size: l.Size}
	}
	reused := func(i int) {
		p := lp(i)
		p.Reused = true
		progress(p)
		res.Reused++
	}
	commitDone := false
	if csum, _ := s.Repo.ResolveRev(BlobRef(img.Layers[0].Digest), true); csum == nl.Commit {
		commitDone = true
	}
	// Content layers first: the commit layer's import checks that every
	// object the commit needs is there.
	for i := 1; i <= nl.Last; i++ {
		if _, ok := s.nativeChunkCommit(img.Layers[i].Digest); ok || commitDone {
			reused(i)
			continue
		}
		if err := s.pullNativeLayer(ctx, img, i, "", progress, lp(i)); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		res.Imported++
	}
	if commitDone {
		reused(0)
	} else {
		if err := s.pullNativeLayer(ctx, img, 0, nl.Commit, progress, lp(0)); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		res.Imported++
	}
	if nl.Last == len(img.Layers)-1 {
		// The image is the commit: the ref points at it, and what a merged
		// commit would record about the image goes in its detached metadata.
		info := map[string]string{
			MetaManifestDigest: img.ManifestDigest,
			MetaManifest:       string(img.Manifest),
			MetaImageConfig:    string(img.Config),
		}
		if err := s.Repo.EditDetachedMetadata(ctx, nl.Commit, info, nil); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		if err := s.Repo.SetRef("", ImageRef(ref.ImageRef()), nl.Commit); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		res.Commit = nl.Commit
		return res, nil
	}

	// Derived layers: plain layers on top of the encapsulated commit.
	derived := make([]string, 0, len(img.Layers)-nl.Last-1)
	for i := nl.Last + 1; i < len(img.Layers); i++ {
		d := img.Layers[i].Digest
		derived = append(derived, d)
		if _, ok := s.LayerCommit(d); ok {
			reused(i)
			continue
		}
		if err := s.pullLayer(ctx, img, i, lp(i), progress); err != nil {
			return Pulled{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
		res.Imported++
	}
	csum, err := s.mergeDerived(ctx, nl.Commit, MergeSpec{
		Reference:      ref.ImageRef(),
		ManifestDigest: img.ManifestDigest,
		Manifest:       img.Manifest,
		Config:         img.Config,
		Layers:         derived,
	})
	if err != nil {
		return Pulled{}, err
	}
	res.Commit = csum
	return res, nil
}

// mergeDerived commits the derived layers of m applied on base, as Merge
// does for a plain image, recording base in MetaBaseCommit.
func (s *Store) mergeDerived(ctx context.Context, base string, m MergeSpec) (string, error) {
	return s.mergeOnto(ctx, base, m, map[string]any{MetaBaseCommit: base})
}

// pullNativeLayer streams layer i and writes its objects in one transaction.
// For the commit layer (commit != ""), the layer must carry that commit, and
// every object the commit reaches must be in the repo afterwards; the blob
// ref then points at the commit itself. A content layer's objects are kept
// by an object-set commit on the blob ref.
func (s *Store) pullNativeLayer(ctx context.Context, img *Image, i int, commit string, progress func(LayerProgress), lp LayerProgress) error {
	digest := img.Layers[i].Digest
	r, err := img.OpenLayer(ctx, i, func(read int64) {
		lp.Read = read
		progress(lp)
	})
	if err != nil {
		return err
	}
	err = s.Repo.WriteObjects(ctx, "importing layer "+digest, func(w *ostree.ObjectWriter) error {
		imp := &nativeImporter{w: w, digest: digest, wantCommit: commit, xattrs: map[string][]byte{}}
		if err := imp.run(ctx, r); err != nil {
			return err
		}
		// Reach the stream's end so the blob's digest is checked before
		// anything is kept.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		if commit == "" {
			csum, err := w.ObjectSet(imp.files, "layer "+digest, map[string]any{
				MetaLayerDigest: digest,
				MetaNativeLayer: nativeLayerFormat,
			})
			if err != nil {
				return err
			}
			return w.SetRef(BlobRef(digest), csum)
		}
		if !imp.sawCommit {
			return fmt.Errorf("layer %s does not carry commit %s (the image's %s label)", digest, commit, LabelCommit)
		}
		if imp.commitmeta != nil {
			if err := w.DetachedMetadata(commit, imp.commitmeta); err != nil {
				return err
			}
		}
		if err := w.CheckComplete(commit); err != nil {
			return fmt.Errorf("image %s is incomplete: %w", img.Ref, err)
		}
		return w.SetRef(BlobRef(digest), commit)
	})
	cerr := r.Close()
	if err != nil {
		return fmt.Errorf("importing layer %s: %w", digest, err)
	}
	if cerr != nil {
		return fmt.Errorf("layer %s: %w", digest, cerr)
	}
	return nil
}

// nativeImporter reads the tar of one native layer: objects under
// sysroot/ostree/repo/objects/ are written, everything else (the checkout's
// hardlinks, directories, the repo's config) is skipped, as it only repeats
// what the objects say.
type nativeImporter struct {
	w          *ostree.ObjectWriter
	digest     string
	wantCommit string
	sawCommit  bool
	commitmeta []byte
	xattrs     map[string][]byte // .file-xattrs content by its sha256
	pending    struct{ file, xattrs string }
	files      []string
}

func (n *nativeImporter) errorf(name, format string, args ...any) error {
	return fmt.Errorf("layer %s: %q: %s", n.digest, name, fmt.Sprintf(format, args...))
}

func (n *nativeImporter) run(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer %s: %w (truncated or corrupt blob)", n.digest, err)
		}
		if err := n.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// objectName splits "sysroot/ostree/repo/objects/ab/cdef….ext".
func objectName(name string) (checksum, ext string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimPrefix(name, "./"), repoObjects)
	if !found {
		return "", "", false
	}
	dir, file, found := strings.Cut(rest, "/")
	if !found || len(dir) != 2 {
		return "", "", false
	}
	base, ext, found := strings.Cut(file, ".")
	if !found {
		return "", "", false
	}
	return dir + base, ext, true
}

func (n *nativeImporter) entry(hdr *tar.Header, data io.Reader) error {
	csum, ext, ok := objectName(hdr.Name)
	if !ok {
		return nil
	}
	if !checksumRE.MatchString(csum) {
		return n.errorf(hdr.Name, "is not named by an object checksum")
	}
	switch ext {
	case "commit", "dirtree", "dirmeta", "commitmeta", "file-xattrs":
		if hdr.Typeflag != tar.TypeReg {
			return n.errorf(hdr.Name, "is not a regular file")
		}
		if hdr.Size > maxMetadataObject {
			return n.errorf(hdr.Name, "is %d bytes, more than any metadata object may be", hdr.Size)
		}
		buf, err := io.ReadAll(data)
		if err != nil {
			return fmt.Errorf("reading layer %s: %s: %w (truncated or corrupt blob)", n.digest, hdr.Name, err)
		}
		return n.metadata(hdr.Name, csum, ext, buf)
	case "file-xattrs-link":
		return n.xattrsLink(hdr, csum, data)
	case "file":
		return n.file(hdr, csum, data)
	}
	return n.errorf(hdr.Name, "is an object of unknown kind %q", ext)
}

func (n *nativeImporter) metadata(name, csum, ext string, buf []byte) error {
	switch ext {
	case "commit":
		if n.wantCommit == "" {
			return n.errorf(name, "is a commit in a content layer")
		}
		if csum != n.wantCommit {
			return n.errorf(name, "is a commit other than the image's %s label names (%s)", LabelCommit, n.wantCommit)
		}
		if n.sawCommit {
			return n.errorf(name, "repeats the commit")
		}
		n.sawCommit = true
		return n.w.Metadata(ostree.ObjectCommit, csum, buf)
	case "commitmeta":
		if csum != n.wantCommit {
			return n.errorf(name, "is detached metadata of another commit")
		}
		n.commitmeta = buf
		return nil
	case "dirtree":
		return n.w.Metadata(ostree.ObjectDirTree, csum, buf)
	case "dirmeta":
		return n.w.Metadata(ostree.ObjectDirMeta, csum, buf)
	default: // file-xattrs: named by the sha256 of its content
		sum := sha256.Sum256(buf)
		if hex.EncodeToString(sum[:]) != csum {
			return n.errorf(name, "does not hash to its name")
		}
		n.xattrs[csum] = buf
		return nil
	}
}

// xattrsLink ties the next file object to an xattrs object: a hardlink to
// the .file-xattrs entry, or (when a tar writer did not link) its content.
func (n *nativeImporter) xattrsLink(hdr *tar.Header, csum string, data io.Reader) error {
	if n.pending.file != "" {
		return n.errorf(hdr.Name, "follows an xattrs link for %s that no file object used", n.pending.file)
	}
	switch hdr.Typeflag {
	case tar.TypeLink:
		target, ext, ok := objectName(hdr.Linkname)
		if !ok || ext != "file-xattrs" {
			return n.errorf(hdr.Name, "links to %q, not an xattrs object", hdr.Linkname)
		}
		if _, ok := n.xattrs[target]; !ok {
			return n.errorf(hdr.Name, "links to xattrs %s, which the layer did not carry before", target)
		}
		n.pending.file, n.pending.xattrs = csum, target
	case tar.TypeReg:
		if hdr.Size > maxMetadataObject {
			return n.errorf(hdr.Name, "is too large for xattrs")
		}
		buf, err := io.ReadAll(data)
		if err != nil {
			return fmt.Errorf("reading layer %s: %s: %w", n.digest, hdr.Name, err)
		}
		sum := sha256.Sum256(buf)
		key := hex.EncodeToString(sum[:])
		n.xattrs[key] = buf
		n.pending.file, n.pending.xattrs = csum, key
	default:
		return n.errorf(hdr.Name, "is neither a hardlink nor a regular file")
	}
	return nil
}

func (n *nativeImporter) file(hdr *tar.Header, csum string, data io.Reader) error {
	var xattrs []byte
	if n.pending.file != "" {
		if n.pending.file != csum {
			return n.errorf(hdr.Name, "follows the xattrs link of another object (%s)", n.pending.file)
		}
		xattrs = n.xattrs[n.pending.xattrs]
		n.pending.file, n.pending.xattrs = "", ""
	}
	f := ostree.FileObject{UID: uint32(hdr.Uid), GID: uint32(hdr.Gid), Mode: uint32(hdr.Mode) & 0o7777, Xattrs: xattrs}
	switch hdr.Typeflag {
	case tar.TypeReg:
		f.Mode |= 0o100000
		f.Size = hdr.Size
	case tar.TypeSymlink:
		f.Mode |= 0o120000
		f.Target = hdr.Linkname
		if f.Target == "" {
			return n.errorf(hdr.Name, "is a symlink without a target")
		}
	case tar.TypeLink:
		// A tar writer may link a repeated object to its first copy.
		target, ext, ok := objectName(hdr.Linkname)
		if !ok || ext != "file" || target != csum {
			return n.errorf(hdr.Name, "is a hardlink to %q, not to the same object", hdr.Linkname)
		}
		return nil
	default:
		return n.errorf(hdr.Name, "has tar type %q, which no file object has", hdr.Typeflag)
	}
	if err := n.w.File(csum, f, data); err != nil {
		return fmt.Errorf("layer %s: %w", n.digest, err)
	}
	n.files = append(n.files, csum)
	return nil
}

// objectPath is the tar path of an object in the encapsulated repo.
func objectPath(checksum, ext string) string {
	return path.Join(repoObjects, checksum[:2], checksum[2:]+"."+ext)
}
