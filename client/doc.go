// Package client is the typed Go API of strata's D-Bus interface, which is
// wire-compatible with rpm-ostree's org.projectatomic.rpmostree1 API.
//
// It owns: connecting to the daemon on the system bus (RegisterClient on
// connect, UnregisterClient on Close), decoding the Sysroot and OS
// properties into Go types, calling the mutating OS methods, and following
// the resulting transactions over their peer-to-peer connection until
// Finished. It knows nothing about terminals or output formats (that is
// cmd/strata's job) and must never link libostree or any cgo package: it is
// meant to be imported by any Go program that drives strata (or rpm-ostree).
//
// Every property is read live with org.freedesktop.DBus.Properties (no
// client-side cache), so values read after a transaction are current.
package client
