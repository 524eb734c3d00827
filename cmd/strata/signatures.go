package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/strata-os/strata/client"
)

// writeGPGSignature prints the GPGSignature line(s) of a deployment or
// cached update from a remote that verifies signatures, as rpm-ostree does:
// one signature per line, the ones that make the commit trusted first, and
// "(unsigned)" when there are none.
func writeGPGSignature(w io.Writer, width int, d client.Deployment) {
	if !d.GPGEnabled {
		return
	}
	sigs := d.Signatures()
	sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].Valid && !sigs[j].Valid })
	if len(sigs) == 0 {
		fmt.Fprintf(w, "  %*s: %s\n", width, "GPGSignature", "(unsigned)")
	}
	for i, s := range sigs {
		if i == 0 {
			fmt.Fprintf(w, "  %*s: %s\n", width, "GPGSignature", s.Describe())
			continue
		}
		fmt.Fprintf(w, "  %*s  %s\n", width, "", s.Describe())
	}
}

// writeEd25519Signature prints the Ed25519Signature line(s) of a deployment
// from a sign-verify remote. rpm-ostree prints nothing for ed25519, so
// strata prints this in `status -v` only, keeping the default output
// rpm-ostree's.
func writeEd25519Signature(w io.Writer, width int, d client.Deployment) {
	if !d.Ed25519Enabled {
		return
	}
	if len(d.Ed25519Signatures) == 0 {
		fmt.Fprintf(w, "  %*s: %s\n", width, "Ed25519Signature", "(no valid signature)")
	}
	for i, k := range d.Ed25519Signatures {
		label := "Ed25519Signature:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "  %*s %s\n", width+1, label, "Valid signature by "+k)
	}
}
