package transactions

import (
	"testing"

	"github.com/strata-os/strata/internal/origin"
)

func TestRebaseOriginDropsUnconfiguredState(t *testing.T) {
	o, err := origin.Parse([]byte("[origin]\nrefspec=demo:stable\nunconfigured-state=Register this host first\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConfigured(o); err == nil {
		t.Fatal("checkConfigured accepted an unconfigured origin")
	}
	if err := rebaseOrigin(o, "demo:testing", RebaseOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := o.UnconfiguredState(); got != "" {
		t.Errorf("after rebase unconfigured-state = %q, want none", got)
	}
	if got := o.Refspec(); got != "demo:testing" {
		t.Errorf("refspec = %q", got)
	}
	if err := checkConfigured(o); err != nil {
		t.Errorf("checkConfigured after rebase: %v", err)
	}
}
