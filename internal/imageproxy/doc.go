// Package imageproxy owns strata's use of containers/image: it resolves image
// references (honouring the host's registries.conf, policy.json and auth
// files), reads blobs and pushes built images, on behalf of the daemon, in
// the strata-image-proxy helper process. The daemon does not link it (it is a
// third of the Go a registry client needs); internal/image is its client.
package imageproxy
