package transactions

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-os/strata/internal/origin"
	"github.com/strata-os/strata/internal/ostree"
)

// ed25519 commit signatures (a remote's sign-verify), checked by strata
// itself: Debian's libostree is built without sign-ed25519, so pulls tell
// libostree to skip sign-verify (internal/ostree) and every commit pulled
// from such a remote passes verifyCommitSigned before it can be deployed.
//
// The format is libostree's sign API: the detached metadata key
// ostree.sign.ed25519 holds an aay of 64-byte signatures over the commit
// object's serialized bytes; public keys are 32 bytes in base64, given by
// the remote's verification-ed25519-key (one key) or
// verification-ed25519-file (one key per line), or else read from the
// well-known trusted.ed25519 files of /etc/ostree and /usr/share/ostree.

// The remote options strata reads; the same names libostree uses.
const (
	optSignVerify     = "sign-verify"
	optEd25519Key     = "verification-ed25519-key"
	optEd25519KeyFile = "verification-ed25519-file"
)

// wellKnownEd25519 are where libostree looks for trusted public keys when a
// remote names none: files with a key per line, and directories of them.
var wellKnownEd25519 = []string{
	"/etc/ostree/trusted.ed25519",
	"/etc/ostree/trusted.ed25519.d",
	"/usr/share/ostree/trusted.ed25519",
	"/usr/share/ostree/trusted.ed25519.d",
}

// trustedKey is one public key a remote trusts and where it was configured.
type trustedKey struct {
	key    ed25519.PublicKey
	source string
}

func (k trustedKey) String() string { return base64.StdEncoding.EncodeToString(k.key) }

// signPolicy is what a remote with sign-verify asks of its commits.
type signPolicy struct {
	remote string
	keys   []trustedKey
}

// SignatureRefusedError is a commit refused because its ed25519
// signatures do not satisfy its remote's sign-verify.
type SignatureRefusedError struct {
	Remote, Commit string
	// Signatures is how many ed25519 signatures the commit carries.
	Signatures int
	// Trusted describes the keys the remote trusts ("KEY (from where)").
	Trusted []string
}

func (e *SignatureRefusedError) Error() string {
	trusted := "it trusts no ed25519 key (set verification-ed25519-key or verification-ed25519-file on the remote)"
	if len(e.Trusted) > 0 {
		trusted = "it trusts key " + strings.Join(e.Trusted, ", key ")
	}
	if e.Signatures == 0 {
		return fmt.Sprintf("remote %q verifies ed25519 signatures (sign-verify=true) but commit %s is not signed; %s", e.Remote, e.Commit, trusted)
	}
	return fmt.Sprintf("commit %s from remote %q carries %d ed25519 signature(s), none valid for a key the remote trusts; %s; the commit was not deployed", e.Commit, e.Remote, e.Signatures, trusted)
}

// remoteSignPolicy reads remote's sign-verify configuration; nil when the
// remote does not verify ed25519 signatures.
func remoteSignPolicy(repo Repo, remote string) (*signPolicy, error) {
	v, set, err := repo.RemoteOption(remote, optSignVerify)
	if err != nil || !set {
		return nil, err
	}
	on, err := signVerifyEnabled(v)
	if err != nil {
		return nil, fmt.Errorf("remote %q: %w", remote, err)
	}
	if !on {
		return nil, nil
	}
	p := &signPolicy{remote: remote}
	if k, ok, err := repo.RemoteOption(remote, optEd25519Key); err != nil {
		return nil, err
	} else if ok {
		key, err := parseEd25519PublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("remote %q: %s: %w", remote, optEd25519Key, err)
		}
		p.keys = append(p.keys, trustedKey{key: key, source: optEd25519Key})
	}
	if f, ok, err := repo.RemoteOption(remote, optEd25519KeyFile); err != nil {
		return nil, err
	} else if ok {
		keys, err := readEd25519KeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("remote %q: %s: %w", remote, optEd25519KeyFile, err)
		}
		p.keys = append(p.keys, keys...)
	}
	if len(p.keys) == 0 {
		// As libostree: a remote that names no key trusts the host's
		// well-known ones.
		for _, path := range wellKnownEd25519 {
			keys, err := readEd25519Keys(path)
			if err != nil {
				return nil, fmt.Errorf("remote %q: %w", remote, err)
			}
			p.keys = append(p.keys, keys...)
		}
	}
	return p, nil
}

// signVerifyEnabled reads sign-verify: a keyfile boolean, or a list of
// signature types (libostree's form), of which strata knows ed25519.
func signVerifyEnabled(v string) (bool, error) {
	switch strings.TrimSpace(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		if t != "ed25519" {
			return false, fmt.Errorf("sign-verify=%s: strata verifies only ed25519 signatures, not %q", v, t)
		}
	}
	return true, nil
}

func parseEd25519PublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("an ed25519 public key is %d bytes, this is %d", ed25519.PublicKeySize, len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// readEd25519KeyFile reads a file of base64 public keys, one per line.
func readEd25519KeyFile(path string) ([]trustedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading ed25519 keys: %w", err)
	}
	var out []trustedKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := parseEd25519PublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, trustedKey{key: key, source: path})
	}
	return out, nil
}

// readEd25519Keys reads a well-known key file or directory of key files;
// a missing one holds no keys.
func readEd25519Keys(path string) ([]trustedKey, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return readEd25519KeyFile(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []trustedKey
	for _, n := range names {
		keys, err := readEd25519KeyFile(filepath.Join(path, n))
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
	}
	return out, nil
}

// verify checks commit against the policy and returns the keys (base64)
// of its valid signatures; at least one is required.
func (p *signPolicy) verify(repo Repo, commit string) ([]string, error) {
	meta, err := repo.ReadDetachedMetadata(commit)
	if err != nil {
		return nil, fmt.Errorf("reading the signatures of commit %s: %w", commit, err)
	}
	sigs, _ := meta[ostree.Ed25519SignatureKey].([][]byte)
	refused := &SignatureRefusedError{Remote: p.remote, Commit: commit, Signatures: len(sigs)}
	for _, k := range p.keys {
		refused.Trusted = append(refused.Trusted, k.String()+" ("+k.source+")")
	}
	if len(sigs) == 0 {
		return nil, refused
	}
	data, err := repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s to verify its signatures: %w", commit, err)
	}
	var valid []string
	for _, k := range p.keys {
		for _, sig := range sigs {
			if len(sig) == ed25519.SignatureSize && ed25519.Verify(k.key, data, sig) {
				valid = append(valid, k.String())
				break
			}
		}
	}
	if len(valid) == 0 {
		return nil, refused
	}
	return valid, nil
}

// verifyCommitSigned refuses commit when the remote of refspec verifies
// ed25519 signatures and commit has none valid; it returns the keys of
// the valid signatures (nil when the remote does not verify).
func verifyCommitSigned(repo Repo, refspec, commit string) ([]string, error) {
	remote, _ := origin.SplitRefspec(refspec)
	if remote == "" {
		return nil, nil
	}
	p, err := remoteSignPolicy(repo, remote)
	if err != nil || p == nil {
		return nil, err
	}
	return p.verify(repo, commit)
}

// commitEd25519 describes commit's ed25519 verification for status:
// whether refspec's remote verifies, and the keys that signed it validly.
// Errors (an unsigned commit deployed before sign-verify was turned on)
// leave the list empty.
func commitEd25519(repo Repo, refspec, commit string) (bool, []string) {
	remote, _ := origin.SplitRefspec(refspec)
	if remote == "" || commit == "" {
		return false, nil
	}
	p, err := remoteSignPolicy(repo, remote)
	if err != nil || p == nil {
		return false, nil
	}
	valid, _ := p.verify(repo, commit)
	return true, valid
}
