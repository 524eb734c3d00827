package client

import "github.com/godbus/dbus/v5"

// Signature is one GPG signature of a deployment's base commit, decoded from
// the (bbbbbsxxsssssxx) tuples of the "signatures" key (libostree's
// signature description, as rpm-ostree sends it).
type Signature struct {
	Valid, SigExpired, KeyExpired, KeyRevoked, KeyMissing bool
	Fingerprint                                           string
	Timestamp, ExpTimestamp                               int64
	PubkeyAlgo, HashAlgo, UserName, UserEmail             string
	FingerprintPrimary                                    string
}

// Signatures decodes the deployment's "signatures"; entries of another shape
// are skipped.
func (d Deployment) Signatures() []Signature {
	v, ok := d.Raw["signatures"]
	if !ok {
		return nil
	}
	list, ok := v.Value().([]dbus.Variant)
	if !ok {
		return nil
	}
	var out []Signature
	for _, e := range list {
		f, ok := e.Value().([]any)
		if !ok || len(f) < 13 {
			continue
		}
		var s Signature
		bools := []*bool{&s.Valid, &s.SigExpired, &s.KeyExpired, &s.KeyRevoked, &s.KeyMissing}
		strs := map[int]*string{5: &s.Fingerprint, 8: &s.PubkeyAlgo, 9: &s.HashAlgo, 10: &s.UserName, 11: &s.UserEmail, 12: &s.FingerprintPrimary}
		ints := map[int]*int64{6: &s.Timestamp, 7: &s.ExpTimestamp}
		good := true
		for i, p := range bools {
			*p, ok = f[i].(bool)
			good = good && ok
		}
		for i, p := range strs {
			*p, ok = f[i].(string)
			good = good && ok
		}
		for i, p := range ints {
			*p, ok = f[i].(int64)
			good = good && ok
		}
		if good {
			out = append(out, s)
		}
	}
	return out
}

// Describe says in a few words what the signature is worth, as rpm-ostree's
// status line does: "Valid signature by FINGERPRINT", or why it is not.
func (s Signature) Describe() string {
	switch {
	case s.Valid:
		return "Valid signature by " + s.Fingerprint
	case s.KeyMissing:
		return "Can't check signature: public key " + s.Fingerprint + " not found"
	case s.KeyRevoked:
		return "Signature by revoked key " + s.Fingerprint
	case s.KeyExpired:
		return "Signature by expired key " + s.Fingerprint
	case s.SigExpired:
		return "Expired signature by " + s.Fingerprint
	default:
		return "Invalid signature by " + s.Fingerprint
	}
}
