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
