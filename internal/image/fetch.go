package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	cimage "go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/pkg/compression"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
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

	src       types.ImageSource
	closeOnce sync.Once
	closeErr  error
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

// SystemContext is the containers/image configuration for cfg.
func (c Config) SystemContext() *types.SystemContext {
	sys := &types.SystemContext{
		SystemRegistriesConfPath:    c.path(c.RegistriesConf, "etc/containers/registries.conf"),
		SystemRegistriesConfDirPath: c.path(c.RegistriesConfDir, "etc/containers/registries.conf.d"),
		SignaturePolicyPath:         c.path(c.PolicyPath, "etc/containers/policy.json"),
		RegistriesDirPath:           c.path(c.RegistriesDir, "etc/containers/registries.d"),
		AuthFilePath:                c.authFile(),
		BigFilesTemporaryDir:        c.path(c.TmpDir, "var/tmp"),
		OSChoice:                    c.OS,
		ArchitectureChoice:          c.Arch,
		VariantChoice:               c.Variant,
		DockerRegistryUserAgent:     "strata",
	}
	if c.root() != "/" {
		// Certificates dirs and the containers auth file default live under Root too.
		sys.RootForImplicitAbsolutePaths = c.root()
	}
	return sys
}

// Open resolves ref with containers/image, honouring the host's configuration:
// it reads the manifest (choosing this machine's instance of a list), checks
// the signature policy for ostree-image-signed: references, and reads and
// verifies the config. No layer is read.
func Open(ctx context.Context, ref Reference, cfg Config) (*Image, error) {
	img, err := open(ctx, ref, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w%s", ref, err, remedy(ref, cfg, err))
	}
	return img, nil
}

// remedy says what to do about the failures an administrator can fix; it is
// empty for errors that already say it (the policy's) or that it cannot
// classify.
func remedy(ref Reference, cfg Config, err error) string {
	var coder errcode.ErrorCoder
	var dnsErr *net.DNSError
	var unauthorized docker.ErrUnauthorizedForCredentials
	switch {
	case errors.As(err, &coder) && coder.ErrorCode() == v2.ErrorCodeManifestUnknown:
		hint := "; the image has no such tag or digest: check the reference"
		if ref.Transport == Registry {
			if cref, cerr := ref.ContainersReference(); cerr == nil && cref.DockerReference() != nil {
				hint += fmt.Sprintf(" (skopeo list-tags docker://%s lists its tags)", cref.DockerReference().Name())
			}
		}
		return hint
	case errors.As(err, &unauthorized):
		return fmt.Sprintf("; the registry refused the credentials: check %s or %s",
			filepath.Join(cfg.root(), "etc/ostree/auth.json"), filepath.Join(cfg.root(), "run/ostree/auth.json"))
	case errors.As(err, &coder) && coder.ErrorCode() == errcode.ErrorCodeUnauthorized:
		return fmt.Sprintf("; the registry wants credentials: put them in %s (or %s)",
			filepath.Join(cfg.root(), "etc/ostree/auth.json"), filepath.Join(cfg.root(), "run/ostree/auth.json"))
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dnsErr), errors.Is(err, os.ErrDeadlineExceeded):
		return "; the registry could not be reached: check that it is up, that the name is right, " +
			"and the mirrors in registries.conf"
	}
	return ""
}

func open(ctx context.Context, ref Reference, cfg Config) (_ *Image, err error) {
	cref, err := ref.ContainersReference()
	if err != nil {
		return nil, err
	}
	sys := cfg.SystemContext()
	// containers/image keeps registries.conf parsed for the life of the
	// process; a daemon must see an administrator's edit (a new mirror, an
	// insecure registry) at the next pull, as a freshly started skopeo would.
	sysregistriesv2.InvalidateCache()
	var policy *signature.Policy
	if ref.Verification == ImageSigned {
		// Read the policy first: a missing or unreadable policy is refused
		// before any request is made.
		policy, err = signature.NewPolicyFromFile(sys.SignaturePolicyPath)
		if err != nil {
			return nil, fmt.Errorf("reading signature policy (ostree-image-signed: references need one): %w", err)
		}
		if defaultIsInsecure(policy) {
			return nil, fmt.Errorf("%s sets a default of insecureAcceptAnything, which cannot verify an ostree-image-signed: reference; set the default to reject or use ostree-unverified-registry:", sys.SignaturePolicyPath)
		}
	}
	src, err := cref.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			src.Close()
		}
	}()

	top := cimage.UnparsedInstance(src, nil)
	if policy != nil {
		if err := checkPolicy(ctx, policy, top); err != nil {
			return nil, fmt.Errorf("refused by the signature policy %s, which requires %s: %w; "+
				"push the image signed as the policy requires, or fix the policy",
				sys.SignaturePolicyPath, describeRequirements(policy, cref), err)
		}
	}
	// UnparsedInstance checks the manifest against a digest in the reference.
	topManifest, topType, err := top.Manifest(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	unparsed := top
	manifestBytes := topManifest
	manifestDigest, err := manifest.Digest(topManifest)
	if err != nil {
		return nil, fmt.Errorf("digesting manifest: %w", err)
	}
	if manifest.MIMETypeIsMultiImage(topType) {
		list, err := manifest.ListFromBlob(topManifest, topType)
		if err != nil {
			return nil, fmt.Errorf("parsing manifest list: %w", err)
		}
		instance, err := list.ChooseInstance(sys)
		if err != nil {
			return nil, fmt.Errorf("choosing this machine's image in the manifest list: %w", err)
		}
		unparsed = cimage.UnparsedInstance(src, &instance)
		// Checked against the list's digest for the instance.
		manifestBytes, _, err = unparsed.Manifest(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading manifest %s: %w", instance, err)
		}
		manifestDigest = instance
	}
	parsed, err := cimage.FromUnparsedImage(ctx, sys, unparsed)
	if err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	// ConfigBlob verifies the config's digest.
	config, err := parsed.ConfigBlob(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	oci, err := parsed.OCIConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	img := &Image{
		Ref:            ref,
		ManifestDigest: manifestDigest.String(),
		Manifest:       manifestBytes,
		Config:         config,
		Labels:         map[string]string{},
		src:            src,
	}
	for k, v := range oci.Config.Labels {
		img.Labels[k] = v
	}
	for _, l := range parsed.LayerInfos() {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layer digest %q: %w", l.Digest, err)
		}
		img.Layers = append(img.Layers, Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: l.MediaType})
	}
	return img, nil
}

// checkPolicy lets the policy decide about an ostree-image-signed: image.
func checkPolicy(ctx context.Context, policy *signature.Policy, unparsed types.UnparsedImage) error {
	pc, err := signature.NewPolicyContext(policy)
	if err != nil {
		return fmt.Errorf("loading signature policy: %w", err)
	}
	defer pc.Destroy()
	allowed, err := pc.IsRunningImageAllowed(ctx, unparsed)
	if err != nil {
		return err
	}
	if !allowed {
		return errors.New("the policy did not allow the image")
	}
	return nil
}

// describeRequirements says which requirements of policy apply to ref, and
// under which scope, so a refusal tells the administrator what the image
// lacked. The most specific scope wins (containers-policy.json(5)): the
// image's own identity, then its namespaces from the innermost out, then the
// transport's "" scope, then the policy's default.
func describeRequirements(policy *signature.Policy, ref types.ImageReference) string {
	reqs, scope := policy.Default, "the default"
	transport := ref.Transport().Name()
	if scopes, ok := policy.Transports[transport]; ok {
		candidates := append([]string{ref.PolicyConfigurationIdentity()}, ref.PolicyConfigurationNamespaces()...)
		candidates = append(candidates, "")
		for _, c := range candidates {
			if r, ok := scopes[c]; ok {
				reqs, scope = r, fmt.Sprintf("%s scope %q", transport, c)
				break
			}
		}
	}
	if len(reqs) == 0 {
		return "nothing (an empty requirement list, which containers/image refuses) under " + scope
	}
	descs := make([]string, 0, len(reqs))
	for _, r := range reqs {
		descs = append(descs, describeRequirement(r))
	}
	return strings.Join(descs, " and ") + " (" + scope + ")"
}

// describeRequirement renders one requirement from its policy.json form; the
// requirement types keep their fields private, their JSON is the stable part.
func describeRequirement(r signature.PolicyRequirement) string {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf("%v", r)
	}
	var f struct {
		Type     string   `json:"type"`
		KeyType  string   `json:"keyType"`
		KeyPath  string   `json:"keyPath"`
		KeyPaths []string `json:"keyPaths"`
		KeyData  []byte   `json:"keyData"`
		KeyDatas [][]byte `json:"keyDatas"`
		Fulcio   *struct {
			OIDCIssuer   string `json:"oidcIssuer"`
			SubjectEmail string `json:"subjectEmail"`
		} `json:"fulcio"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return string(b)
	}
	keys := func() string {
		switch {
		case f.KeyPath != "":
			return "the key in " + f.KeyPath
		case len(f.KeyPaths) > 0:
			return "a key in " + strings.Join(f.KeyPaths, ", ")
		case len(f.KeyData) > 0 || len(f.KeyDatas) > 0:
			return "a key given inline (keyData)"
		case f.Fulcio != nil && f.Fulcio.SubjectEmail != "":
			return fmt.Sprintf("a Fulcio certificate for %s issued by %s", f.Fulcio.SubjectEmail, f.Fulcio.OIDCIssuer)
		}
		return "a configured key"
	}
	switch f.Type {
	case "signedBy":
		return fmt.Sprintf("a %s signature by %s (signedBy)", f.KeyType, keys())
	case "sigstoreSigned":
		return fmt.Sprintf("a sigstore signature by %s (sigstoreSigned)", keys())
	case "signedBaseLayer":
		return "a base layer with a given identity (signedBaseLayer)"
	case "reject":
		return "that every image be rejected (reject)"
	case "insecureAcceptAnything":
		return "nothing (insecureAcceptAnything)"
	}
	return string(b)
}

// defaultIsInsecure reports a policy whose default is a lone
// insecureAcceptAnything; ostree-rs-ext refuses signed references under it
// because such a policy verifies nothing.
func defaultIsInsecure(p *signature.Policy) bool {
	if len(p.Default) != 1 {
		return false
	}
	b, err := json.Marshal(p.Default[0])
	if err != nil {
		return false
	}
	var t struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(b, &t) == nil && t.Type == "insecureAcceptAnything"
}

// Close releases the image source (connections, an extracted oci-archive).
func (img *Image) Close() error {
	img.closeOnce.Do(func() {
		if img.src != nil {
			img.closeErr = img.src.Close()
		}
	})
	return img.closeErr
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
	blob, _, err := img.src.GetBlob(ctx, types.BlobInfo{Digest: want, Size: l.Size, MediaType: l.MediaType}, none.NoCache)
	if err != nil {
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
// most common, gets a sequential reader: containers/image's own gzip reader
// reads ahead in other goroutines, which would hash (and download) past what
// the caller consumed.
func decompress(r io.Reader) (io.ReadCloser, error) {
	algo, fn, r, err := compression.DetectCompressionFormat(r)
	if err != nil {
		return nil, err
	}
	switch {
	case fn == nil:
		return io.NopCloser(r), nil
	case algo.Name() == compression.Gzip.Name():
		return gzip.NewReader(r)
	default:
		return fn(r)
	}
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
	if err != nil && !errors.Is(err, io.EOF) && l.v.err != nil {
		// The compressed side's error (digest, size, network) is the real cause.
		return n, l.v.err
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
