// Package rpmdb owns the rpm database inside an OSTree-shaped tree (it lives
// in usr/share/rpm, sqlite backend): listing, registering and erasing
// package headers, asking which files a package has and who owns a path,
// and the package-list value that commits carry as metadata. Every rpm
// invocation of strata lives here. The package vocabulary (identity,
// comparison, diffs) is internal/nevra's; rpmdb re-exports its names.
// Package signatures are checked here too (Keyring: rpmkeys on a keyring of
// its own, never the host's or the tree's).
//
// It never parses or writes the database itself: every read and write goes
// through the real rpm binary, so the result is exactly what rpm on the
// booted host will see. The one exception is Seal, which asks sqlite's own
// CLI to leave WAL mode before a commit: rpm has no way to. It must not unpack files, run scriptlets or decide
// what to install: composing the tree belongs to the layering package.
package rpmdb
