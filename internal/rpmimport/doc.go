// Package rpmimport owns turning one RPM file into one OSTree commit: it reads
// the package header and cpio payload in Go, maps every payload path to its
// place in an OSTree tree (the rules of docs layering: /etc -> /usr/etc,
// /bin -> /usr/bin, /opt -> /usr/lib/opt, /var and /run -> tmpfiles.d lines),
// refuses content a package may not ship, and commits the result under the
// package's cache ref rpmostree/pkg/<name>/<evr>.<arch>.
//
// It must not decide which packages to import, resolve dependencies, run
// scriptlets or assemble trees: callers (the layering code) do that with the
// commits and the file lists (FilesOf) this package produces.
//
// What is hashed where:
//   - rpmostree.metadata is the package's lead, signature header and main
//     header exactly as they appear at the start of the file (everything
//     before the payload), so `rpm -qp` and header parsers can read it back.
//   - rpmostree.state-sha512 is the SHA-512 of those same bytes. The main
//     header carries the payload digest, so two RPMs with equal state differ
//     at most in their payload compression stream, never in content.
//
// Owners: files owned by "root" (user or group) get id 0; any other name must
// be given in Options.Users / Options.Groups (the caller reads the target
// tree's passwd/group), otherwise the import fails naming the file. /var and
// /run entries become tmpfiles.d lines that carry the names themselves, so
// they need no mapping.
//
// Parsing is done here rather than through go-rpmutils or cavaliergopher/rpm
// because both index header arrays without bounds checks (a crafted header
// panics or allocates gigabytes); this parser is bounded and fuzzed.
package rpmimport
