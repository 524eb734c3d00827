// Package nevra owns the vocabulary every part of strata uses to talk about
// RPM packages: a package's identity (name, epoch, version, release, arch),
// its EVR and NEVRA strings and their parsing, rpm's version comparison, the
// kinds of change between two package lists (with rpm-ostree's wire values)
// and the diff that produces them.
//
// It is plain Go on purpose: no cgo, no exec, no I/O. The public client
// package and the cgo-backed packages (solv, rpmimport, rpmdb) can all
// import it, so there is one definition of each of these words.
package nevra
