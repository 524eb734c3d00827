package rpmdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// Keyring is a set of trusted OpenPGP public keys kept the way rpm keeps
// them (gpg-pubkey entries of an rpmdb), in a directory of its own, so that
// verifying a package trusts exactly these keys and never the host's or the
// tree's. Packages are checked with the real rpmkeys.
type Keyring struct {
	dir  string
	keys []Key
}

// Key is one imported public key.
type Key struct {
	// Source is where the key came from (a repo's gpgkey= URL).
	Source string
	// ID is rpm's short key ID (the last 8 hex digits of the fingerprint,
	// lower case) and Name its user ID.
	ID, Name string
}

func (k Key) String() string {
	return fmt.Sprintf("%s (%s, from %s)", k.ID, k.Name, k.Source)
}

// KeyFile is a public key file to trust and where it was found.
type KeyFile struct{ Source, Path string }

// NewKeyring creates a keyring in dir (which must exist and be empty) with
// the keys of files (armored or binary OpenPGP public keys).
func NewKeyring(ctx context.Context, dir string, files []KeyFile) (*Keyring, error) {
	k := &Keyring{dir: dir}
	for _, f := range files {
		before, err := k.ids(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := runTool(ctx, "rpmkeys", "--dbpath="+dir, "--import", "--", f.Path); err != nil {
			return nil, fmt.Errorf("importing GPG key %s: %w; check that it is an OpenPGP public key", f.Source, err)
		}
		after, err := k.ids(ctx)
		if err != nil {
			return nil, err
		}
		for id, name := range after {
			if _, old := before[id]; !old {
				k.keys = append(k.keys, Key{Source: f.Source, ID: id, Name: name})
			}
		}
	}
	return k, nil
}

// Keys lists the keys the keyring trusts.
func (k *Keyring) Keys() []Key { return k.keys }

// ids maps the short IDs of the keys in the keyring to their user IDs.
func (k *Keyring) ids(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	if entries, err := os.ReadDir(k.dir); err == nil && len(entries) == 0 {
		return out, nil // no rpmdb yet: no keys
	}
	// rpm -q exits 1 when nothing matches; the output is what counts.
	stdout, _ := runTool(ctx, "rpm", "--dbpath="+k.dir, "-q", "gpg-pubkey", "--qf", "%{VERSION}\t%{SUMMARY}\n")
	for _, line := range strings.Split(string(stdout), "\n") {
		id, summary, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		out[id] = strings.TrimSuffix(summary, " public key")
	}
	return out, nil
}

// SignatureError explains why a package failed verification.
type SignatureError struct {
	Path string
	// Reason says what is wrong in a few words ("not signed", "signed by
	// key 849ff71e, which is not trusted", "payload digest does not match").
	Reason string
	// SignerID is the short ID of the key that signed the package when
	// rpm could read it, else "".
	SignerID string
}

func (e *SignatureError) Error() string { return e.Reason }

var (
	signatureLine = regexp.MustCompile(`Signature, key ID ([0-9a-f]+): (\S+)`)
	badLine       = regexp.MustCompile(`^\s*(.+?): BAD`)
)

// Check verifies the package file at path: it must carry a signature by a
// key of the keyring, and its digests must match (rpm's
// %_pkgverify_level all). The error is a *SignatureError unless rpmkeys
// itself could not run.
func (k *Keyring) Check(ctx context.Context, path string) error {
	stdout, err := runTool(ctx, "rpmkeys", "--dbpath="+k.dir, "--checksig", "-v",
		"--define", "_pkgverify_level all", "--", path)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return fmt.Errorf("checking signature of %s: %w", path, err)
	}
	return explainChecksig(path, string(stdout))
}

// explainChecksig turns rpmkeys -Kv output of a failed check into a
// SignatureError.
func explainChecksig(path, out string) *SignatureError {
	e := &SignatureError{Path: path}
	var bad []string
	signed := false
	for _, line := range strings.Split(out, "\n") {
		if m := signatureLine.FindStringSubmatch(line); m != nil {
			signed = true
			e.SignerID = m[1]
			switch m[2] {
			case "NOKEY":
				e.Reason = fmt.Sprintf("signed by key %s, which is not trusted", m[1])
			case "BAD":
				bad = append(bad, "signature by key "+m[1])
			}
			continue
		}
		if m := badLine.FindStringSubmatch(line); m != nil {
			bad = append(bad, strings.TrimSpace(m[1]))
		}
	}
	switch {
	case len(bad) > 0:
		e.Reason = "damaged or tampered with (" + strings.Join(bad, ", ") + " does not match)"
	case e.Reason != "":
	case !signed:
		e.Reason = "not signed"
	default:
		e.Reason = "signature check failed: " + strings.Join(strings.Fields(out), " ")
	}
	return e
}

// runTool runs one of rpm's programs and returns its stdout; on failure the
// error carries its stderr.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return stdout.Bytes(), ctx.Err()
		}
		return stdout.Bytes(), &toolError{name: name, err: err, stderr: rpmErrors(stderr.String())}
	}
	return stdout.Bytes(), nil
}

type toolError struct {
	name   string
	err    error
	stderr string
}

func (e *toolError) Error() string { return fmt.Sprintf("%s: %v: %s", e.name, e.err, e.stderr) }
func (e *toolError) Unwrap() error { return e.err }
