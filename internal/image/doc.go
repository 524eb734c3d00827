// Package image owns strata's side of container images: it parses image
// references as rpm-ostree and bootc spell them, fetches manifests, configs and
// layers with containers/image (honouring the host's registries.conf,
// policy.json and auth files), imports each layer as an OSTree commit and
// merges the layers into the tree that gets deployed.
//
// It knows nothing of D-Bus, transactions or deployments: callers hand it a
// Reference and a repository and get commits back. It links only the
// containers/image transports strata supports (docker, oci, oci-archive), so no
// containers-storage graph driver and no cgo storage code is built in; see the
// Makefile's GOTAGS for the build tags this needs.
package image
