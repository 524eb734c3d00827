package image

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"go.podman.io/image/v5/docker/reference"
)

// Verification says who vouches for an image: nobody, the containers policy,
// or an OSTree remote's keys.
type Verification int

const (
	// Unverified images are accepted whatever the policy says
	// (ostree-unverified-registry:, ostree-unverified-image:).
	Unverified Verification = iota
	// ImageSigned images must satisfy /etc/containers/policy.json
	// (ostree-image-signed:).
	ImageSigned
	// OstreeRemote images are fetched without the containers policy; the OSTree
	// commit inside is verified with the named remote's keys
	// (ostree-remote-image:, ostree-remote-registry:). The importer does that
	// check, not this package's fetching.
	OstreeRemote
)

func (v Verification) String() string {
	switch v {
	case Unverified:
		return "unverified"
	case ImageSigned:
		return "image-signed"
	case OstreeRemote:
		return "ostree-remote"
	}
	return fmt.Sprintf("Verification(%d)", int(v))
}

// Transport is where an image lives, named as containers/image names its
// transports.
type Transport string

const (
	// Registry is a Docker/OCI registry (docker://, registry:).
	Registry Transport = "docker"
	// OCIDir is an OCI image layout directory (oci:).
	OCIDir Transport = "oci"
	// OCIArchive is a tar of an OCI image layout (oci-archive:).
	OCIArchive Transport = "oci-archive"
)

// Reference is a parsed image reference: how it is verified and which image it
// names. It is a plain comparable value; two spellings of one reference
// (ostree-unverified-registry:X and ostree-unverified-image:docker://X) parse
// to equal values.
type Reference struct {
	Verification Verification
	// Remote is the OSTree remote whose keys verify the commit (OstreeRemote only).
	Remote    string
	Transport Transport
	// Name is the transport's part, as written: "quay.io/org/os:tag" or
	// "registry:5000/os@sha256:…" for Registry, "/path[:tag]" for the OCI ones.
	// Names are kept as written (not normalised), as ostree-rs-ext does, so
	// status shows what the administrator typed.
	Name string
}

// The prefixes that mark a refspec as an image reference.
const (
	schemeUnverifiedRegistry = "ostree-unverified-registry:"
	schemeUnverifiedImage    = "ostree-unverified-image:"
	schemeImageSigned        = "ostree-image-signed:"
	schemeRemoteImage        = "ostree-remote-image:"
	schemeRemoteRegistry     = "ostree-remote-registry:"
)

// acceptedForms is quoted in every parse error so the administrator sees what
// would have worked.
const acceptedForms = `accepted forms: ostree-unverified-registry:HOST[:PORT]/REPO[:TAG|@sha256:DIGEST], ` +
	`ostree-unverified-image:docker://HOST/REPO[:TAG|@DIGEST], ostree-unverified-image:oci:/DIR[:TAG], ` +
	`ostree-unverified-image:oci-archive:/FILE[:TAG], ostree-image-signed:docker://HOST/REPO[:TAG|@DIGEST], ` +
	`ostree-remote-image:REMOTE:docker://HOST/REPO[:TAG|@DIGEST], ostree-remote-registry:REMOTE:HOST/REPO[:TAG|@DIGEST]`

// IsImageReference reports whether refspec uses one of the image reference
// schemes. It says nothing about validity: a refspec for which it returns true
// belongs to ParseReference, whose error explains what is wrong.
func IsImageReference(refspec string) bool {
	for _, p := range []string{schemeUnverifiedRegistry, schemeUnverifiedImage, schemeImageSigned, schemeRemoteImage, schemeRemoteRegistry} {
		if strings.HasPrefix(refspec, p) {
			return true
		}
	}
	return false
}

// ParseReference parses an image reference in any spelling rpm-ostree and
// bootc accept. It does not touch the network or the filesystem, so a bad
// reference is refused before anything is fetched.
func ParseReference(s string) (Reference, error) {
	r, err := parseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid image reference %q: %w (%s)", s, err, acceptedForms)
	}
	return r, nil
}

func parseReference(s string) (Reference, error) {
	var r Reference
	var rest string
	switch {
	case strings.HasPrefix(s, schemeUnverifiedRegistry):
		r.Verification = Unverified
		rest = "registry:" + strings.TrimPrefix(s, schemeUnverifiedRegistry)
	case strings.HasPrefix(s, schemeUnverifiedImage):
		r.Verification = Unverified
		rest = strings.TrimPrefix(s, schemeUnverifiedImage)
	case strings.HasPrefix(s, schemeImageSigned):
		r.Verification = ImageSigned
		rest = strings.TrimPrefix(s, schemeImageSigned)
	case strings.HasPrefix(s, schemeRemoteImage), strings.HasPrefix(s, schemeRemoteRegistry):
		r.Verification = OstreeRemote
		scheme := schemeRemoteImage
		if strings.HasPrefix(s, schemeRemoteRegistry) {
			scheme = schemeRemoteRegistry
		}
		remote, after, ok := strings.Cut(strings.TrimPrefix(s, scheme), ":")
		if !ok {
			return r, errors.New("missing ':' after the remote name")
		}
		if !validRemoteName(remote) {
			return r, fmt.Errorf("%q is not a valid OSTree remote name", remote)
		}
		r.Remote = remote
		rest = after
		if scheme == schemeRemoteRegistry {
			rest = "registry:" + after
		}
	default:
		scheme, _, _ := strings.Cut(s, ":")
		return r, fmt.Errorf("unknown scheme %q", scheme)
	}

	transport, name, ok := strings.Cut(rest, ":")
	if !ok {
		return r, fmt.Errorf("missing transport in %q", rest)
	}
	switch transport {
	case "registry":
		r.Transport = Registry
	case "docker":
		r.Transport = Registry
		n, ok := strings.CutPrefix(name, "//")
		if !ok {
			return r, errors.New("the docker transport is written docker://HOST/REPO")
		}
		name = n
	case "oci":
		r.Transport = OCIDir
	case "oci-archive":
		r.Transport = OCIArchive
	default:
		return r, fmt.Errorf("unsupported transport %q (strata fetches from docker://, registry:, oci: and oci-archive:)", transport)
	}
	if name == "" {
		return r, errors.New("empty image name")
	}
	r.Name = name
	if err := r.validateName(); err != nil {
		return r, err
	}
	return r, nil
}

// remoteNameRE is OSTree's rule for remote names.
var remoteNameRE = regexp.MustCompile(`^[A-Za-z0-9_][-._A-Za-z0-9]*$`)

func validRemoteName(s string) bool { return remoteNameRE.MatchString(s) }

// ociTagRE is the shape of an image name inside an OCI layout (the
// org.opencontainers.image.ref.name annotation), as containers/image checks it.
var ociTagRE = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

// validateName checks the transport-specific name without touching the
// filesystem or network.
func (r Reference) validateName() error {
	switch r.Transport {
	case Registry:
		// containers/image's reference grammar (a small package, so the
		// daemon needs no registry client to check a name); the registry
		// client also refuses a tag and a digest together.
		named, err := reference.ParseNormalizedNamed(r.Name)
		if err != nil {
			return err
		}
		_, tagged := named.(reference.NamedTagged)
		_, digested := named.(reference.Canonical)
		if tagged && digested {
			return errors.New("Docker references with both a tag and digest are currently not supported")
		}
		return nil
	case OCIDir, OCIArchive:
		dir, tag, _ := strings.Cut(r.Name, ":")
		if !path.IsAbs(dir) {
			// The daemon's working directory means nothing to the caller.
			return fmt.Errorf("the %s path %q must be absolute", r.Transport, dir)
		}
		if path.Clean(dir) != dir {
			return fmt.Errorf("the %s path %q is not clean (write %q)", r.Transport, dir, path.Clean(dir))
		}
		if strings.ContainsRune(dir, 0) {
			return fmt.Errorf("the %s path contains a NUL byte", r.Transport)
		}
		if tag != "" && !ociTagRE.MatchString(tag) {
			return fmt.Errorf("invalid image name %q in %s reference", tag, r.Transport)
		}
		return nil
	}
	return fmt.Errorf("unknown transport %q", r.Transport)
}

// ImageRef is the reference without its verification scheme, as
// containers/image and ostree-rs-ext write it: "docker://quay.io/org/os:tag",
// "oci:/dir:tag", "oci-archive:/file.tar". The image's ref in the repository
// (ostree/container/image/…) is named after this string.
func (r Reference) ImageRef() string {
	if r.Transport == Registry {
		return "docker://" + r.Name
	}
	return string(r.Transport) + ":" + r.Name
}

// String gives the canonical spelling, the one rpm-ostree shows in status:
// unverified registry images as ostree-unverified-registry:NAME, everything
// else as SCHEME:TRANSPORT-REFERENCE.
func (r Reference) String() string {
	switch r.Verification {
	case Unverified:
		if r.Transport == Registry {
			return schemeUnverifiedRegistry + r.Name
		}
		return schemeUnverifiedImage + r.ImageRef()
	case ImageSigned:
		return schemeImageSigned + r.ImageRef()
	case OstreeRemote:
		return schemeRemoteImage + r.Remote + ":" + r.ImageRef()
	}
	return fmt.Sprintf("invalid-image-reference:%s", r.ImageRef())
}
