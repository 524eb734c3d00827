// Package rpmmd owns the yum/dnf side of package layering that needs no
// solver: reading .repo files the way dnf does, fetching a repository's
// rpm-md metadata (repomd.xml and the primary and filelists files it names),
// keeping it in an on-disk cache, and downloading packages with their
// checksums verified.
//
// It must not interpret package metadata (that is libsolv's job, fed with
// the local paths this package returns) and must not write anywhere but the
// cache directory and the destinations it is given. Everything read from a
// repository is untrusted: hrefs are confined to the repository, sizes are
// bounded and every file is checked against the checksum repomd.xml names
// before it enters the cache.
package rpmmd
