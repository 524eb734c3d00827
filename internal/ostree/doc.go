// Package ostree is strata's only binding to libostree (through cgo): it owns
// opening repositories and sysroots, resolving and setting refs, reading
// commits, pulling, checking out and committing trees, and reading and writing
// deployments.
//
// It must not hold policy: which refs to pull, what goes into an origin file,
// when to clean up, all belong to the callers. Nothing else in strata links C.
//
// Thread safety: a Repo may be used from several goroutines for read
// operations, as libostree's OstreeRepo allows. A Sysroot is not thread-safe
// (libostree's OstreeSysroot keeps unsynchronised state): callers must
// serialise every call on one Sysroot and on the Deployments it returned,
// for example by running all sysroot work under the daemon's single
// transaction lock.
//
// Errors coming from libostree carry the GError message text (see Error).
// Every blocking call takes a context; cancelling it cancels the underlying
// GCancellable, and the returned error then wraps ctx.Err().
package ostree
