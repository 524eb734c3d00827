package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/ulikunitz/xz"
)

// Layer is one layer of the image's manifest, as the registry stores it.
type Layer struct {
	Digest    string // "sha256:<hex>" of the blob as stored (compressed)
	Size      int64  // compressed size in bytes (-1 when unknown)
	MediaType string
}

// Image is an opened image: manifest and config read and checked (and for
// signed references, the policy satisfied) before any layer is read.
type Image struct {
	Ref            Reference
	ManifestDigest string            // "sha256:<hex>" of the manifest (for a list: of the chosen instance)
	Manifest       []byte            // raw manifest
	Config         []byte            // raw config blob (OCI image config JSON)
	Layers         []Layer           // base first
	Labels         map[string]string // config labels

	proxy *proxyClient
}

// Opened is what resolving a reference tells: the image's manifest, config
// and layers, read and checked by the image helper.
type Opened struct {
	ManifestDigest string
	Manifest       []byte
	Config         []byte
	Layers         []Layer
	Labels         map[string]string
}

// Config says where the host's container configuration lives. The zero value
// reads the host's own files.
type Config struct {
	// Root prefixes every default path below ("" is "/"); tests point it at a
	// directory they fill.
	Root string
	// Explicit paths override the defaults under Root.
	RegistriesConf    string // default Root/etc/containers/registries.conf
	RegistriesConfDir string // default Root/etc/containers/registries.conf.d
	PolicyPath        string // default Root/etc/containers/policy.json
	RegistriesDir     string // signature lookaside config; default Root/etc/containers/registries.d
	// AuthFile, when empty, is the first of Root/run/ostree/auth.json,
	// Root/etc/ostree/auth.json, Root/usr/lib/ostree/auth.json that exists
	// (ostree-rs-ext's order); when none exists, containers/image's default
	// auth file lookup applies.
	AuthFile string
	// TmpDir holds oci-archive extractions; default Root/var/tmp.
	TmpDir string
	// OS, Arch and Variant choose the manifest list instance; default this machine.
	OS, Arch, Variant string
	// ProxyPath is the image helper (strata-image-proxy) to run; default
	// $STRATA_IMAGE_PROXY, then next to this executable, then ../libexec.
	ProxyPath string
}

// Resolve fills in every default: Root, each path and the auth file found
// on the host. The image helper calls it, on the host it reads.
func (c Config) Resolve() Config {
	c.RegistriesConf = c.path(c.RegistriesConf, "etc/containers/registries.conf")
	c.RegistriesConfDir = c.path(c.RegistriesConfDir, "etc/containers/registries.conf.d")
	c.PolicyPath = c.path(c.PolicyPath, "etc/containers/policy.json")
	c.RegistriesDir = c.path(c.RegistriesDir, "etc/containers/registries.d")
	c.AuthFile = c.authFile()
	c.TmpDir = c.path(c.TmpDir, "var/tmp")
	c.Root = c.root()
	return c
}

func (c Config) root() string {
	if c.Root == "" {
		return "/"
	}
	return c.Root
}

func (c Config) path(explicit string, rel string) string {
	if explicit != "" {
		return explicit
	}
	return filepath.Join(c.root(), rel)
}

// authFile finds the auth file ostree-rs-ext would use, or "" for the
// containers default.
func (c Config) authFile() string {
	if c.AuthFile != "" {
		return c.AuthFile
	}
	for _, p := range []string{"run/ostree/auth.json", "etc/ostree/auth.json", "usr/lib/ostree/auth.json"} {
		full := filepath.Join(c.root(), p)
		if _, err := os.Stat(full); err == nil {
			return full
		}
	}
	return ""
}

// Open resolves ref in the image helper (strata-image-proxy), which reads
// the host's configuration with containers/image: it reads the manifest
// (choosing this machine's instance of a list), checks the signature policy
// for ostree-image-signed: references, and reads and verifies the config. No
// layer is read. The helper lives until Close.
func Open(ctx context.Context, ref Reference, cfg Config) (*Image, error) {
	p, err := startProxy(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w", ref, err)
	}
	o, err := p.open(ctx, ref, cfg)
	if err != nil {
		p.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("opening image %s: %w", ref, ctx.Err())
		}
		return nil, err
	}
	return &Image{
		Ref: ref, ManifestDigest: o.ManifestDigest, Manifest: o.Manifest, Config: o.Config,
		Layers: o.Layers, Labels: o.Labels, proxy: p,
	}, nil
}

// Close stops the image helper, which releases the image source
// (connections, an extracted oci-archive).
func (img *Image) Close() error {
	if img.proxy == nil {
		return nil
	}
	return img.proxy.close()
}

// OpenLayer streams layer i decompressed (an uncompressed tar stream).
// progress, when not nil, is called with the compressed bytes read so far. The
// blob's digest is verified as it is read: a mismatch makes Read return an
// error at the latest at EOF, never silently.
//
// Read to io.EOF: a tar reader stops at the end-of-archive marker, before the
// padding and the compressed stream's end, so drain the rest
// (io.Copy(io.Discard, r)) before trusting the layer. Close returns an error
// when the stream was closed before its digest was checked.
func (img *Image) OpenLayer(ctx context.Context, i int, progress func(read int64)) (io.ReadCloser, error) {
	if i < 0 || i >= len(img.Layers) {
		return nil, fmt.Errorf("image %s has no layer %d (it has %d)", img.Ref, i, len(img.Layers))
	}
	l := img.Layers[i]
	want, err := digest.Parse(l.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %d of %s: %w", i, img.Ref, err)
	}
	if img.proxy == nil {
		return nil, fmt.Errorf("image %s is closed", img.Ref)
	}
	blob, err := img.proxy.blob(ctx, i)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("fetching layer %s of %s: %w", l.Digest, img.Ref, err)
	}
	v := &verifyingReader{
		ctx: ctx, r: blob, closer: blob, verifier: want.Verifier(),
		want: want, size: l.Size, progress: progress,
		what: fmt.Sprintf("layer %s of %s", l.Digest, img.Ref),
	}
	d, err := decompress(v)
	if err != nil {
		blob.Close()
		return nil, fmt.Errorf("decompressing %s: %w", v.what, err)
	}
	return &layerReader{d: d, v: v}, nil
}

// decompress picks the decompressor from the stream's magic. gzip, by far the
// most common, gets a sequential reader (a read-ahead one would hash, and
// download, past what the caller consumed).
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b, 0x08}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		d, err := xz.NewReader(br)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(d), nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return io.NopCloser(br), nil
}

// badBlobRemedy ends the errors for a blob that is not what the manifest
// names: the layer is refused whole, so a retry starts it afresh.
const badBlobRemedy = "the registry's copy is corrupt or was tampered with; " +
	"retry, and if it persists have the image pushed again"

// verifyingReader reads a compressed blob, hashing it, and turns EOF into an
// error when the digest or size is wrong.
type verifyingReader struct {
	ctx      context.Context
	r        io.Reader
	closer   io.Closer
	verifier digest.Verifier
	want     digest.Digest
	size     int64
	read     int64
	progress func(int64)
	what     string
	done     bool // EOF reached and checked
	err      error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if err := v.ctx.Err(); err != nil {
		v.err = err
		return 0, err
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.verifier.Write(p[:n])
		v.read += int64(n)
		if v.progress != nil {
			v.progress(v.read)
		}
	}
	if errors.Is(err, io.EOF) {
		if v.size >= 0 && v.read != v.size {
			v.err = fmt.Errorf("%s: read %d bytes, the manifest says %d: %s", v.what, v.read, v.size, badBlobRemedy)
			return n, v.err
		}
		if !v.verifier.Verified() {
			v.err = fmt.Errorf("%s: digest mismatch: the blob read does not hash to %s: %s", v.what, v.want, badBlobRemedy)
			return n, v.err
		}
		v.done = true
		return n, io.EOF
	}
	if err != nil {
		v.err = fmt.Errorf("reading %s: %w", v.what, err)
		return n, v.err
	}
	return n, nil
}

// layerReader is the decompressed side. At the decompressor's EOF it drains
// the compressed stream (gzip may leave trailing bytes unread) so the digest
// is always checked before EOF is returned.
type layerReader struct {
	d io.ReadCloser
	v *verifyingReader
}

func (l *layerReader) Read(p []byte) (int, error) {
	n, err := l.d.Read(p)
	if errors.Is(err, io.EOF) && !l.v.done {
		if _, derr := io.Copy(io.Discard, l.v); derr != nil {
			return n, derr
		}
		if !l.v.done {
			return n, fmt.Errorf("%s: stream ended before the blob was verified", l.v.what)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if l.v.err == nil && !l.v.done {
			// A decompression error in a blob that is not what the manifest
			// names is the blob's fault: read it to the end to tell which.
			io.Copy(io.Discard, l.v)
		}
		if l.v.err != nil {
			// The compressed side's error (digest, size, network) is the real cause.
			return n, l.v.err
		}
		return n, fmt.Errorf("decompressing %s: %w", l.v.what, err)
	}
	return n, err
}

func (l *layerReader) Close() error {
	derr := l.d.Close()
	cerr := l.v.closer.Close()
	if !l.v.done {
		if l.v.err != nil {
			return l.v.err
		}
		return fmt.Errorf("%s: closed before its end, digest not verified", l.v.what)
	}
	if derr != nil {
		return derr
	}
	return cerr
}
