package solv

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-os/strata/internal/nevra"
)

// Package is one solvable as the callers see it.
type Package struct {
	// The solvable's identity; NEVRA and EVR come with it.
	nevra.Package
	// RepoID is the id given to AddRepoMD, "@System" for the installed set
	// and "@commandline" for local files.
	RepoID string
	// Location is the href from the repo's primary metadata, relative to the
	// repo's base URL.
	Location string
	// ChecksumType ("sha256", ...) and Checksum (hex) are the package file's
	// checksum from the repo metadata; empty when the repo has none.
	ChecksumType string
	Checksum     string
	DownloadSize int64
	// LocalPath is the file a @commandline package was read from.
	LocalPath string
}

// Request is what the caller wants changed relative to the installed set.
type Request struct {
	// Install holds names ("foo", "foo.x86_64", "foo-1.0-1.noarch"),
	// provides ("pkgconfig(foo)", "foo >= 1.2") or file paths ("/usr/bin/x").
	Install []string
	// InstallLocal holds packages returned by AddRPMFile on this Pool.
	InstallLocal []Package
	// Remove holds names of installed packages to erase.
	Remove []string
	// AllowUninstallDeps also erases the dependencies of removed packages
	// that nothing else still needs.
	AllowUninstallDeps bool
	// ReplaceFrom replaces installed packages with the newest version a
	// given repo has (rpm-ostree's override replace --from repo=ID),
	// which may be older than the installed one.
	ReplaceFrom []RepoPackage
}

// RepoPackage names a package of one repo.
type RepoPackage struct{ Repo, Name string }

// Upgrade is one installed package replaced by a newer (or, for a downgrade,
// older) one.
type Upgrade struct{ Old, New Package }

// Transaction is the solver's answer: what to install, erase and replace.
type Transaction struct {
	Install []Package
	Erase   []Package
	Upgrade []Upgrade
}

// AlreadyInstalledError reports install requests already satisfied by the
// installed set; Names are the requests as given. Callers that want
// idempotent installs drop these names and solve again.
type AlreadyInstalledError struct {
	Names []string
}

func (e *AlreadyInstalledError) Error() string {
	return fmt.Sprintf("already installed: %s", strings.Join(e.Names, ", "))
}

// NotFoundError reports install or remove requests that match no package.
type NotFoundError struct {
	// Names are the requests as given.
	Names []string
	// Installed is true for remove requests (nothing installed matches).
	Installed bool
}

func (e *NotFoundError) Error() string {
	q := make([]string, len(e.Names))
	for i, n := range e.Names {
		q[i] = strconv.Quote(n)
	}
	if e.Installed {
		return fmt.Sprintf("no installed package matches %s", strings.Join(q, ", "))
	}
	// rpm-ostree's words, which scripts match on.
	return fmt.Sprintf("Packages not found: %s", strings.Join(e.Names, ", "))
}

// ProblemError carries libsolv's description of why a request cannot be
// satisfied: one entry per problem, each the problem's rule texts.
type ProblemError struct {
	Problems []string
}

func (e *ProblemError) Error() string {
	if len(e.Problems) == 1 {
		return "cannot resolve dependencies: " + e.Problems[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cannot resolve dependencies (%d problems):", len(e.Problems))
	for i, p := range e.Problems {
		fmt.Fprintf(&b, "\n problem %d: %s", i+1, p)
	}
	return b.String()
}
