package ostree

// #cgo pkg-config: ostree-1
// #include <stdlib.h>
// #include "helpers.h"
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unsafe"
)

// GPGSignature is one OpenPGP signature on a commit as libostree's verifier
// describes it (ostree_gpg_verify_result_get_all). The fields are in the
// order of libostree's OstreeGpgSignatureAttr, so a value of this struct
// marshals to the same (bbbbbsxxsssssxx) tuple rpm-ostree puts in a
// deployment's "signatures".
type GPGSignature struct {
	Valid, SigExpired, KeyExpired, KeyRevoked, KeyMissing bool
	Fingerprint                                           string
	Timestamp, ExpTimestamp                               int64
	PubkeyAlgo, HashAlgo, UserName, UserEmail             string
	FingerprintPrimary                                    string
	KeyExpTimestamp, KeyExpTimestampPrimary               int64
}

// gpgErrorDomain is the GQuark string of OSTREE_GPG_ERROR.
const gpgErrorDomain = "OstreeGpgError"

// The OstreeGpgError codes strata words its own messages for.
const (
	gpgErrNoSignature      = int(C.OSTREE_GPG_ERROR_NO_SIGNATURE)
	gpgErrInvalidSignature = int(C.OSTREE_GPG_ERROR_INVALID_SIGNATURE)
	gpgErrMissingKey       = int(C.OSTREE_GPG_ERROR_MISSING_KEY)
)

// SignatureError is a commit refused because its signatures do not satisfy
// the remote's gpg-verify. Its message is one line naming the remote, the
// commit, what is wrong and which keys the remote trusts.
type SignatureError struct {
	Remote string
	// Commit is the refused commit, when libostree's message names it.
	Commit string
	// KeyID is the (long) ID of the key that signed it, when the signature
	// was made by a key the remote does not trust.
	KeyID string
	// Trusted lists the fingerprints of the keys the remote trusts.
	Trusted []string
	// Keyring is the remote's keyring file in the repo.
	Keyring string
	// Reason is libostree's error, folded onto one line.
	Reason string
	// Code is the OstreeGpgError code.
	Code int
}

func (e *SignatureError) Error() string {
	what := "commit"
	if e.Commit != "" {
		what = "commit " + e.Commit
	}
	trusted := "it trusts no keys yet"
	if len(e.Trusted) > 0 {
		trusted = "it trusts " + strings.Join(e.Trusted, ", ")
	}
	keyring := ""
	if e.Keyring != "" {
		keyring = " (keyring " + e.Keyring + ")"
	}
	switch e.Code {
	case gpgErrNoSignature:
		return fmt.Sprintf("remote %q verifies GPG signatures (gpg-verify=true) but %s is not signed; %s%s", e.Remote, what, trusted, keyring)
	case gpgErrMissingKey:
		by := "a key"
		if e.KeyID != "" {
			by = "key " + e.KeyID
		}
		return fmt.Sprintf("%s is signed by %s that remote %q does not trust; %s%s; import the right public key with `ostree remote gpg-import %s -k KEYFILE` if this key is legitimate", what, by, e.Remote, trusted, keyring, e.Remote)
	default:
		return fmt.Sprintf("GPG signature of %s from remote %q is not valid: %s; %s%s", what, e.Remote, e.Reason, trusted, keyring)
	}
}

var (
	commitInMessage = regexp.MustCompile(`[Cc]ommit ([0-9a-f]{64})`)
	keyIDInMessage  = regexp.MustCompile(`key ID ([0-9A-Fa-f]{8,40})`)
)

// oneLine folds a multi-line libostree message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// signatureError turns a GPG failure of a pull from remote into a
// SignatureError; any other error is returned as it is.
func (r *Repo) signatureError(remote string, err *Error) error {
	if err.Domain != gpgErrorDomain {
		return err
	}
	e := &SignatureError{Remote: remote, Code: err.Code, Reason: oneLine(err.Message)}
	if m := commitInMessage.FindStringSubmatch(err.Message); m != nil {
		e.Commit = m[1]
	}
	if m := keyIDInMessage.FindStringSubmatch(err.Message); m != nil {
		e.KeyID = m[1]
	}
	e.Trusted, _ = r.RemoteGPGKeys(remote)
	if kr := filepath.Join(r.path, remote+".trustedkeys.gpg"); fileExists(kr) {
		e.Keyring = kr
	}
	return e
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// RemoteGPGVerify says whether pulls from remote verify GPG signatures
// (the remote's gpg-verify, true unless switched off).
func (r *Repo) RemoteGPGVerify(remote string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	cname := C.CString(remote)
	defer C.free(unsafe.Pointer(cname))
	var out C.gboolean
	var gerr *C.GError
	if C.ostree_repo_remote_get_gpg_verify(r.ptr, cname, &out, &gerr) == 0 {
		return false, fmt.Errorf("reading gpg-verify of remote %q: %w", remote, takeError(gerr))
	}
	return out != 0, nil
}

// RemoteGPGKeys lists the fingerprints of the keys remote trusts (its own
// keyring, its gpgkeypath and the global keyrings).
func (r *Repo) RemoteGPGKeys(remote string) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	cname := C.CString(remote)
	defer C.free(unsafe.Pointer(cname))
	var keys *C.GPtrArray
	var gerr *C.GError
	if C.ostree_repo_remote_get_gpg_keys(r.ptr, cname, nil, &keys, nil, &gerr) == 0 {
		return nil, fmt.Errorf("listing GPG keys of remote %q: %w", remote, takeError(gerr))
	}
	defer C.g_ptr_array_unref(keys)
	var out []string
	for _, p := range unsafe.Slice(keys.pdata, int(keys.len)) {
		// Each key is (aa{sv} subkeys, aa{sv} uids, a{sv} extras); the
		// first subkey is the primary key.
		subkeys := C.g_variant_get_child_value((*C.GVariant)(p), 0)
		if C.g_variant_n_children(subkeys) > 0 {
			primary := C.g_variant_get_child_value(subkeys, 0)
			if fp, ok := vardictToGo(primary)["fingerprint"].(string); ok {
				out = append(out, fp)
			}
			C.g_variant_unref(primary)
		}
		C.g_variant_unref(subkeys)
	}
	return out, nil
}

// CommitSignatures verifies the GPG signatures of commit with the keys
// remote trusts and describes each. An unsigned commit gives an empty list
// and no error: the caller decides whether that is acceptable.
func (r *Repo) CommitSignatures(commit, remote string) ([]GPGSignature, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	ccommit := C.CString(commit)
	defer C.free(unsafe.Pointer(ccommit))
	cname := C.CString(remote)
	defer C.free(unsafe.Pointer(cname))
	var gerr *C.GError
	res := C.ostree_repo_verify_commit_for_remote(r.ptr, ccommit, cname, nil, &gerr)
	if res == nil {
		e := takeError(gerr)
		if e.Domain == gpgErrorDomain && e.Code == gpgErrNoSignature {
			return []GPGSignature{}, nil
		}
		return nil, fmt.Errorf("verifying commit %s for remote %q: %w", commit, remote, errors.New(oneLine(e.Message)))
	}
	defer C.g_object_unref(C.gpointer(res))
	n := int(C.ostree_gpg_verify_result_count_all(res))
	out := make([]GPGSignature, 0, n)
	for i := 0; i < n; i++ {
		v := C.ostree_gpg_verify_result_get_all(res, C.guint(i))
		C.g_variant_ref_sink(v)
		out = append(out, gpgSignatureFromVariant(v))
		C.g_variant_unref(v)
	}
	return out, nil
}

// gpgSignatureFromVariant reads a (bbbbbsxxsssssxx) signature tuple.
func gpgSignatureFromVariant(v *C.GVariant) GPGSignature {
	n := int(C.g_variant_n_children(v))
	field := func(i int) any {
		if i >= n {
			return nil
		}
		c := C.g_variant_get_child_value(v, C.gsize(i))
		defer C.g_variant_unref(c)
		return variantToGo(c)
	}
	b := func(i int) bool { x, _ := field(i).(bool); return x }
	s := func(i int) string { x, _ := field(i).(string); return x }
	x := func(i int) int64 { y, _ := field(i).(int64); return y }
	return GPGSignature{
		Valid: b(0), SigExpired: b(1), KeyExpired: b(2), KeyRevoked: b(3), KeyMissing: b(4),
		Fingerprint: s(5), Timestamp: x(6), ExpTimestamp: x(7),
		PubkeyAlgo: s(8), HashAlgo: s(9), UserName: s(10), UserEmail: s(11),
		FingerprintPrimary: s(12), KeyExpTimestamp: x(13), KeyExpTimestampPrimary: x(14),
	}
}
