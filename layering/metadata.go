package layering

import (
	"crypto/sha512"
	"encoding/hex"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-os/strata/internal/ostree"
	"github.com/strata-os/strata/rpmdb"
)

// clientLayerVersion is the layered-commit format rpm-ostree's tools expect.
const clientLayerVersion = uint32(6)

// layeredMetadata is the commit metadata that tells tools (rpm-ostree's among
// them) a layered commit from its base: see ../shared/spec/layering.md.
func layeredMetadata(base *ostree.Commit, req Request, all []rpmdb.Package, res *Result) map[string]any {
	requested := append([]string{}, req.Packages...)
	sort.Strings(requested)
	var removed []string
	for _, p := range res.Removed {
		removed = append(removed, p.NEVRA())
	}
	sort.Strings(removed)
	var replaced []string
	for _, p := range res.Replaced {
		replaced = append(replaced, p.NEVRA())
	}
	sort.Strings(replaced)
	md := map[string]any{
		"rpmostree.clientlayer":            true,
		"rpmostree.clientlayer_version":    clientLayerVersion,
		"rpmostree.packages":               requested,
		"rpmostree.removed-base-packages":  nonNil(removed),
		"rpmostree.replaced-base-packages": nonNil(replaced),
		"rpmostree.rpmdb.pkglist":          rpmdb.PkgList(all),
		"rpmostree.state-sha512":           stateChecksum(base.Checksum, requested, append(localNames(req.LocalPackages), localNames(req.ReplaceLocal)...), removed),
	}
	if base.Version != "" {
		md["version"] = base.Version
	}
	return md
}

// stateChecksum identifies the request a layered commit was built from: the
// same base and the same requests give the same value.
func stateChecksum(base string, requested, local, removed []string) string {
	h := sha512.New()
	for _, part := range [][]string{{base}, requested, local, removed} {
		h.Write([]byte(strings.Join(part, "\x00")))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// localNames identifies local packages by file name (the daemon stores them
// by checksum), so the state checksum does not depend on where they sit.
func localNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
