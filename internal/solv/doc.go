// Package solv is strata's only binding to libsolv (through cgo): it owns the
// solver pool, loading the installed set from a tree's rpmdb, loading rpm-md
// repositories (with a .solv cache) and local .rpm files, turning install and
// remove requests into solver jobs, and reporting the resulting transaction or
// libsolv's problem text.
//
// It must not hold policy: which repositories are enabled, what the origin
// requests, whether an already installed package is an error (see
// AlreadyInstalledError) all belong to the callers. It neither downloads nor
// installs anything.
//
// Thread safety: a Pool is not safe for concurrent use; libsolv's pool has
// no locking. Callers must serialise every call on one Pool (separate Pools
// may be used from separate goroutines).
//
// Version comparison follows rpm semantics, and the architecture policy is
// libsolv's for the pool's architecture: on x86_64 that admits x86_64 and
// its compatible older arches plus noarch, never aarch64.
package solv
