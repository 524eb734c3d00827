package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/strata-os/strata/internal/ostree"
)

// DefaultMaxLayers is how many layers Encapsulate writes at most unless told
// otherwise (rpm-ostree's default for container-encapsulate).
const DefaultMaxLayers = 64

// EncapsulateOptions tunes Encapsulate.
type EncapsulateOptions struct {
	// MaxLayers bounds the number of layers, the commit layer included
	// (0 = DefaultMaxLayers). 1 puts everything in the commit layer.
	MaxLayers int
	// Labels are added to the image config (and override the standard ones).
	Labels map[string]string
	// Config is the container configuration used to reach the destination
	// (registries.conf, auth); its TmpDir holds the image while it is built.
	Config Config
}

// Encapsulated is what Encapsulate wrote.
type Encapsulated struct {
	Commit         string
	ManifestDigest string
	// Layers are the layer digests, the commit layer first.
	Layers []string
}

// Encapsulate writes commit as an OSTree-native image (ostree-rs-ext's
// format version 1) to dest: layer 0 holds the commit, its metadata objects
// and the content no package owns; the other layers hold the content of the
// commit's packages, split by package (see chunkByPackage), each content
// object with its xattrs as separate objects and hardlinked at its paths so
// the image also runs as a plain container. The image is built in an OCI
// layout in a temporary directory and copied to dest with containers/image,
// digests preserved. Pull brings it back to the identical commit.
func Encapsulate(ctx context.Context, repo *ostree.Repo, commit string, dest Reference, opts EncapsulateOptions) (Encapsulated, error) {
	res, err := encapsulate(ctx, repo, commit, dest, opts)
	if err != nil {
		return Encapsulated{}, fmt.Errorf("encapsulating %s as %s: %w", commit, dest.ImageRef(), err)
	}
	return res, nil
}

func encapsulate(ctx context.Context, repo *ostree.Repo, rev string, dest Reference, opts EncapsulateOptions) (Encapsulated, error) {
	commit, err := repo.ResolveRev(rev, false)
	if err != nil {
		return Encapsulated{}, err
	}
	c, err := repo.ReadCommit(commit)
	if err != nil {
		return Encapsulated{}, err
	}
	tree, err := repo.WalkObjects(ctx, commit)
	if err != nil {
		return Encapsulated{}, err
	}
	max := opts.MaxLayers
	if max == 0 {
		max = DefaultMaxLayers
	}
	if max < 1 {
		return Encapsulated{}, fmt.Errorf("--max-layers must be at least 1, not %d", max)
	}
	sizes := map[string]int64{}
	sizeOf := func(csum string) int64 {
		if s, ok := sizes[csum]; ok {
			return s
		}
		f, rc, err := repo.OpenFile(ctx, csum)
		if err == nil && rc != nil {
			rc.Close()
		}
		sizes[csum] = f.Size
		return f.Size
	}
	chunks, remainder, err := chunkByPackage(ctx, repo, commit, tree, sizeOf, max-1)
	if err != nil {
		return Encapsulated{}, err
	}

	tmpRoot := opts.Config.path(opts.Config.TmpDir, "var/tmp")
	work, err := os.MkdirTemp(tmpRoot, "strata-encapsulate-")
	if err != nil {
		return Encapsulated{}, err
	}
	defer os.RemoveAll(work)
	blobs := filepath.Join(work, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return Encapsulated{}, err
	}
	ex := &exporter{ctx: ctx, repo: repo, commit: commit, tree: tree, paths: map[string][]string{}}
	for _, f := range tree.Files {
		ex.paths[f.Checksum] = append(ex.paths[f.Checksum], f.Path)
	}

	var layers []layerBlob
	base, err := writeLayer(blobs, func(tw *tar.Writer) error { return ex.commitLayer(tw, remainder) })
	if err != nil {
		return Encapsulated{}, fmt.Errorf("writing the commit layer: %w", err)
	}
	base.comment = "ostree export of commit " + commit
	layers = append(layers, base)
	for _, ch := range chunks {
		ch := ch
		l, err := writeLayer(blobs, func(tw *tar.Writer) error { return ex.chunkLayer(tw, ch.Objects) })
		if err != nil {
			return Encapsulated{}, fmt.Errorf("writing the layer of %s: %w", ch.Name, err)
		}
		l.comment = ch.Name
		l.annotations = map[string]string{AnnotationComponents: strings.Join(ch.Packages, ",")}
		layers = append(layers, l)
	}

	labels := map[string]string{
		LabelBootable:    "true",
		LabelBootc:       "1",
		LabelCommit:      commit,
		LabelFinalDiffID: layers[len(layers)-1].diffID,
	}
	if c.Version != "" {
		labels[versionLabels[0]] = c.Version
	}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	if err := writeLayout(work, blobs, c.Timestamp, labels, layers); err != nil {
		return Encapsulated{}, err
	}
	mdigest, err := proxyCopyLayout(ctx, work, dest, opts.Config)
	if err != nil {
		return Encapsulated{}, err
	}
	res := Encapsulated{Commit: commit, ManifestDigest: mdigest}
	for _, l := range layers {
		res.Layers = append(res.Layers, l.digest)
	}
	return res, nil
}

// layerBlob is one written layer.
type layerBlob struct {
	digest, diffID string
	size           int64
	comment        string
	annotations    map[string]string
}

// writeLayer writes a gzip-compressed tar filled by fill into blobs, named
// by its digest.
func writeLayer(blobs string, fill func(*tar.Writer) error) (layerBlob, error) {
	f, err := os.CreateTemp(blobs, ".layer-")
	if err != nil {
		return layerBlob{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	compressed, uncompressed := sha256.New(), sha256.New()
	counter := &countingWriter{w: io.MultiWriter(f, compressed)}
	gz := gzip.NewWriter(counter)
	tw := tar.NewWriter(io.MultiWriter(gz, uncompressed))
	if err := fill(tw); err != nil {
		return layerBlob{}, err
	}
	if err := tw.Close(); err != nil {
		return layerBlob{}, err
	}
	if err := gz.Close(); err != nil {
		return layerBlob{}, err
	}
	if err := f.Close(); err != nil {
		return layerBlob{}, err
	}
	l := layerBlob{digest: "sha256:" + hexSum(compressed), diffID: "sha256:" + hexSum(uncompressed), size: counter.n}
	if err := os.Rename(f.Name(), filepath.Join(blobs, strings.TrimPrefix(l.digest, "sha256:"))); err != nil {
		return layerBlob{}, err
	}
	return l, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// exporter writes the objects of one commit into layer tars.
type exporter struct {
	ctx    context.Context
	repo   *ostree.Repo
	commit string
	tree   *ostree.ObjectTree
	paths  map[string][]string // content checksum -> tree paths using it
}

// epoch is every entry's mtime: OSTree keeps none, and a fixed one makes the
// layers reproducible.
var epoch = time.Unix(0, 0)

func (e *exporter) dir(tw *tar.Writer, name string, uid, gid, mode uint32) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Uid: int(uid), Gid: int(gid), Mode: int64(mode & 0o7777), ModTime: epoch})
}

func (e *exporter) data(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// repoStructure writes the encapsulated repo's directories and config, as
// every layer of the format carries them.
func (e *exporter) repoStructure(tw *tar.Writer) error {
	for _, d := range []string{"sysroot", "sysroot/ostree", "sysroot/ostree/repo", "sysroot/ostree/repo/objects"} {
		if err := e.dir(tw, d, 0, 0, 0o755); err != nil {
			return err
		}
	}
	for i := 0; i < 256; i++ {
		if err := e.dir(tw, fmt.Sprintf("%s%02x", repoObjects, i), 0, 0, 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"extensions", "refs", "refs/heads", "refs/mirrors", "refs/remotes", "state", "tmp", "tmp/cache"} {
		if err := e.dir(tw, "sysroot/ostree/repo/"+d, 0, 0, 0o755); err != nil {
			return err
		}
	}
	return e.data(tw, "sysroot/ostree/repo/config", []byte("[core]\nrepo_version=1\nmode=bare-split-xattrs\n"))
}

func (e *exporter) metadata(tw *tar.Writer, t ostree.ObjectType, ext, csum string, seen map[string]bool) error {
	if seen[ext+csum] {
		return nil
	}
	seen[ext+csum] = true
	data, err := e.repo.LoadMetadata(t, csum)
	if err != nil {
		return err
	}
	return e.data(tw, objectPath(csum, ext), data)
}

// checkoutPath maps a tree path to where a container sees it (/usr/etc is
// /etc there).
func checkoutPath(p string) string {
	if p == "usr/etc" || strings.HasPrefix(p, "usr/etc/") {
		return strings.TrimPrefix(p, "usr/")
	}
	return p
}

// commitLayer writes layer 0: the root, the repo, the commit, every dirtree
// and dirmeta with the checkout's directories, /var/tmp, then the content
// objects of remainder.
func (e *exporter) commitLayer(tw *tar.Writer, remainder []string) error {
	uid, gid, mode, err := e.repo.DirMeta(e.tree.RootMeta)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Uid: int(uid), Gid: int(gid), Mode: int64(mode & 0o7777), ModTime: epoch}); err != nil {
		return err
	}
	if err := e.repoStructure(tw); err != nil {
		return err
	}
	seen := map[string]bool{}
	if err := e.metadata(tw, ostree.ObjectCommit, "commit", e.commit, seen); err != nil {
		return err
	}
	// What a pull recorded about the image it came from is not the commit's.
	detached, err := e.repo.DetachedMetadataBytes(e.commit, imageInfoKeys)
	if err != nil {
		return err
	}
	if detached != nil {
		if err := e.data(tw, objectPath(e.commit, "commitmeta"), detached); err != nil {
			return err
		}
	}
	if err := e.metadata(tw, ostree.ObjectDirMeta, "dirmeta", e.tree.RootMeta, seen); err != nil {
		return err
	}
	if err := e.metadata(tw, ostree.ObjectDirTree, "dirtree", e.tree.RootContents, seen); err != nil {
		return err
	}
	hasVarTmp := false
	for _, d := range e.tree.Dirs {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		if err := e.metadata(tw, ostree.ObjectDirMeta, "dirmeta", d.Meta, seen); err != nil {
			return err
		}
		// The tree's own /sysroot would repeat the repo's directory.
		if d.Path != "sysroot" {
			uid, gid, mode, err := e.repo.DirMeta(d.Meta)
			if err != nil {
				return err
			}
			if err := e.dir(tw, checkoutPath(d.Path), uid, gid, mode); err != nil {
				return err
			}
		}
		hasVarTmp = hasVarTmp || d.Path == "var/tmp"
		if err := e.metadata(tw, ostree.ObjectDirTree, "dirtree", d.Contents, seen); err != nil {
			return err
		}
	}
	if !hasVarTmp {
		// A container runtime expects /var/tmp; OSTree makes it at boot.
		if err := e.dir(tw, "var/tmp", 0, 0, 0o1777); err != nil {
			return err
		}
	}
	return e.content(tw, remainder)
}

// chunkLayer writes a content layer.
func (e *exporter) chunkLayer(tw *tar.Writer, objects []string) error {
	if err := e.repoStructure(tw); err != nil {
		return err
	}
	return e.content(tw, objects)
}

// content writes each object (after its xattrs objects) and links it at
// every path that uses it; empty files are written as themselves, never as
// links, as ostree-rs-ext does.
func (e *exporter) content(tw *tar.Writer, objects []string) error {
	wroteXattrs := map[string]bool{}
	for _, csum := range objects {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		f, rc, err := e.repo.OpenFile(e.ctx, csum)
		if err != nil {
			return err
		}
		err = e.object(tw, csum, f, rc, wroteXattrs)
		if rc != nil {
			rc.Close()
		}
		if err != nil {
			return err
		}
		paths := append([]string(nil), e.paths[csum]...)
		sort.Strings(paths)
		for _, p := range paths {
			h := &tar.Header{Name: checkoutPath(p), Uid: int(f.UID), Gid: int(f.GID), Mode: int64(f.Mode & 0o7777), ModTime: epoch}
			if f.Target == "" && f.Size == 0 {
				h.Typeflag = tar.TypeReg
			} else {
				h.Typeflag = tar.TypeLink
				h.Linkname = objectPath(csum, "file")
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *exporter) object(tw *tar.Writer, csum string, f ostree.FileObject, rc io.Reader, wroteXattrs map[string]bool) error {
	x := f.Xattrs
	if x == nil {
		x = []byte{}
	}
	sum := sha256.Sum256(x)
	xcsum := hex.EncodeToString(sum[:])
	xpath := objectPath(xcsum, "file-xattrs")
	if !wroteXattrs[xcsum] {
		wroteXattrs[xcsum] = true
		if err := e.data(tw, xpath, x); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: objectPath(csum, "file-xattrs-link"), Linkname: xpath, Mode: 0o644, ModTime: epoch}); err != nil {
		return err
	}
	h := &tar.Header{Name: objectPath(csum, "file"), Uid: int(f.UID), Gid: int(f.GID), Mode: int64(f.Mode & 0o7777), ModTime: epoch}
	if f.Target != "" {
		h.Typeflag = tar.TypeSymlink
		h.Linkname = f.Target
		return tw.WriteHeader(h)
	}
	h.Typeflag = tar.TypeReg
	h.Size = f.Size
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := io.Copy(tw, rc); err != nil {
		return fmt.Errorf("exporting file object %s: %w", csum, err)
	}
	return nil
}

// writeLayout writes the OCI image layout around the layers: config,
// manifest (annotated with the labels, as ostree-rs-ext does) and index.
func writeLayout(dir, blobs string, created time.Time, labels map[string]string, layers []layerBlob) error {
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	type history struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}
	cfg := struct {
		Created      string `json:"created"`
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
		RootFS struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []history `json:"history"`
	}{Created: created.UTC().Format(time.RFC3339), Architecture: runtime.GOARCH, OS: "linux"}
	cfg.Config.Labels = labels
	cfg.RootFS.Type = "layers"
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, history{Created: cfg.Created, CreatedBy: l.comment})
	}
	cfgBlob, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgDesc, err := writeBlob(blobs, "application/vnd.oci.image.config.v1+json", cfgBlob)
	if err != nil {
		return err
	}
	man := struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Config        descriptor        `json:"config"`
		Layers        []descriptor      `json:"layers"`
		Annotations   map[string]string `json:"annotations,omitempty"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json", Annotations: labels}
	man.Config = descriptor{MediaType: cfgDesc.mediaType, Digest: cfgDesc.digest, Size: cfgDesc.size}
	for _, l := range layers {
		man.Layers = append(man.Layers, descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: l.digest, Size: l.size, Annotations: l.annotations})
	}
	manBlob, err := json.Marshal(man)
	if err != nil {
		return err
	}
	manDesc, err := writeBlob(blobs, man.MediaType, manBlob)
	if err != nil {
		return err
	}
	index := map[string]any{
		"schemaVersion": 2,
		"manifests": []any{descriptor{MediaType: manDesc.mediaType, Digest: manDesc.digest, Size: manDesc.size,
			Annotations: map[string]string{"org.opencontainers.image.ref.name": "encapsulated"}}},
	}
	indexBlob, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), indexBlob, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

type blobDesc struct {
	mediaType, digest string
	size              int64
}

func writeBlob(blobs, mediaType string, data []byte) (blobDesc, error) {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(blobs, h), data, 0o644); err != nil {
		return blobDesc{}, err
	}
	return blobDesc{mediaType: mediaType, digest: "sha256:" + h, size: int64(len(data))}, nil
}
