package imageproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"go.podman.io/image/v5/docker"
	cimage "go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/oci/archive"
	"go.podman.io/image/v5/oci/layout"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"

	"github.com/strata-os/strata/internal/image"
)

// Source is an image opened with containers/image: what the daemon is told,
// and the source its blobs are read from.
type Source struct {
	image.Opened
	src types.ImageSource
}

// Close releases the image source (connections, an extracted oci-archive).
func (s *Source) Close() error { return s.src.Close() }

// ContainersReference is the containers/image reference of the image. For the
// OCI transports this resolves the path, so it fails when the directory (or the
// archive's directory) does not exist.
func ContainersReference(r image.Reference) (types.ImageReference, error) {
	var ref types.ImageReference
	var err error
	switch r.Transport {
	case image.Registry:
		ref, err = docker.ParseReference("//" + r.Name)
	case image.OCIDir:
		ref, err = layout.ParseReference(r.Name)
	case image.OCIArchive:
		ref, err = archive.ParseReference(r.Name)
	default:
		err = fmt.Errorf("unknown transport %q", r.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", r, err)
	}
	return ref, nil
}

// SystemContext is the containers/image configuration for cfg.
func SystemContext(cfg image.Config) *types.SystemContext {
	c := cfg.Resolve()
	sys := &types.SystemContext{
		SystemRegistriesConfPath:    c.RegistriesConf,
		SystemRegistriesConfDirPath: c.RegistriesConfDir,
		SignaturePolicyPath:         c.PolicyPath,
		RegistriesDirPath:           c.RegistriesDir,
		AuthFilePath:                c.AuthFile,
		BigFilesTemporaryDir:        c.TmpDir,
		OSChoice:                    c.OS,
		ArchitectureChoice:          c.Arch,
		VariantChoice:               c.Variant,
		DockerRegistryUserAgent:     "strata",
	}
	if c.Root != "/" {
		// Certificates dirs and the containers auth file default live under Root too.
		sys.RootForImplicitAbsolutePaths = c.Root
	}
	return sys
}

// Open resolves ref with containers/image, honouring the host's configuration:
// it reads the manifest (choosing this machine's instance of a list), checks
// the signature policy for ostree-image-signed: references, and reads and
// verifies the config. No layer is read.
func Open(ctx context.Context, ref image.Reference, cfg image.Config) (*Source, error) {
	img, err := open(ctx, ref, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w%s", ref, err, remedy(ref, cfg, err))
	}
	return img, nil
}

// remedy says what to do about the failures an administrator can fix; it is
// empty for errors that already say it (the policy's) or that it cannot
// classify.
func remedy(ref image.Reference, cfg image.Config, err error) string {
	var coder errcode.ErrorCoder
	var dnsErr *net.DNSError
	var unauthorized docker.ErrUnauthorizedForCredentials
	switch {
	case errors.As(err, &coder) && coder.ErrorCode() == v2.ErrorCodeManifestUnknown:
		hint := "; the image has no such tag or digest: check the reference"
		if ref.Transport == image.Registry {
			if cref, cerr := ContainersReference(ref); cerr == nil && cref.DockerReference() != nil {
				hint += fmt.Sprintf(" (skopeo list-tags docker://%s lists its tags)", cref.DockerReference().Name())
			}
		}
		return hint
	case errors.As(err, &unauthorized):
		return fmt.Sprintf("; the registry refused the credentials: check %s or %s",
			filepath.Join(cfg.Resolve().Root, "etc/ostree/auth.json"), filepath.Join(cfg.Resolve().Root, "run/ostree/auth.json"))
	case errors.As(err, &coder) && coder.ErrorCode() == errcode.ErrorCodeUnauthorized:
		return fmt.Sprintf("; the registry wants credentials: put them in %s (or %s)",
			filepath.Join(cfg.Resolve().Root, "etc/ostree/auth.json"), filepath.Join(cfg.Resolve().Root, "run/ostree/auth.json"))
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dnsErr), errors.Is(err, os.ErrDeadlineExceeded):
		return "; the registry could not be reached: check that it is up, that the name is right, " +
			"and the mirrors in registries.conf"
	}
	return ""
}

func open(ctx context.Context, ref image.Reference, cfg image.Config) (_ *Source, err error) {
	cref, err := ContainersReference(ref)
	if err != nil {
		return nil, err
	}
	sys := SystemContext(cfg)
	// containers/image keeps registries.conf parsed for the life of the
	// process; a daemon must see an administrator's edit (a new mirror, an
	// insecure registry) at the next pull, as a freshly started skopeo would.
	sysregistriesv2.InvalidateCache()
	var policy *signature.Policy
	if ref.Verification == image.ImageSigned {
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
	img := &Source{
		Opened: image.Opened{
			ManifestDigest: manifestDigest.String(),
			Manifest:       manifestBytes,
			Config:         config,
			Labels:         map[string]string{},
		},
		src: src,
	}
	for k, v := range oci.Config.Labels {
		img.Labels[k] = v
	}
	for _, l := range parsed.LayerInfos() {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layer digest %q: %w", l.Digest, err)
		}
		img.Layers = append(img.Layers, image.Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: l.MediaType})
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
