// Package image owns strata's side of container images: it parses image
// references as rpm-ostree and bootc spell them, has manifests, configs and
// layers fetched, imports each layer as an OSTree commit and merges the
// layers into the tree that gets deployed.
//
// It knows nothing of D-Bus, transactions or deployments: callers hand it a
// Reference and a repository and get commits back. It does not link
// containers/image: as rpm-ostree runs skopeo's image proxy, it runs
// strata-image-proxy (internal/imageproxy) per image, which reads the host's
// registries.conf, policy.json and auth files and streams blobs as stored;
// this package verifies each blob's digest and decompresses it (proxy.go
// describes the wire). That keeps the registry client, signature code and
// their ~200 Go packages out of the long-lived daemon.
package image
