package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// rpm-ostree parity, the rest of issue 13: custom origins, initramfs and
// initramfs-etc, ModifyYumRepo and repo replacements.

// rawDeployments is `status --json`'s deployments as plain JSON values, for
// keys statusJSON does not name.
func (e *env) rawDeployments() []map[string]any {
	e.t.Helper()
	out := e.mustStrata("status", "--json")
	var s struct {
		Deployments []map[string]any `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	return s.Deployments
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRebaseCustomOrigin: a rebase to a commit checksum records the custom
// origin given with it; status shows it as rpm-ostree does (the URL as the
// deployment's name, a CustomOrigin: line, "custom-origin": [url, text]),
// and a rebase back to a ref drops it.
func TestRebaseCustomOrigin(t *testing.T) {
	e := newEnv(t, envOptions{http: true})
	v2 := e.host.Versions["2.0"]
	const url, desc = "pantheon://builds/42", "Build 42 of the pantheon pipeline"

	e.expectFailure("--custom-origin-description must be supplied with --custom-origin-url",
		"rebase", "--custom-origin-url="+url, v2)

	e.mustStrata("rebase", "--custom-origin-url="+url, "--custom-origin-description="+desc, v2)
	d := e.rawDeployments()[0]
	if d["checksum"] != v2 || d["origin"] != v2 {
		t.Fatalf("after rebase to %s: checksum %v origin %v", v2, d["checksum"], d["origin"])
	}
	if got, want := jsonString(d["custom-origin"]), jsonString([]string{url, desc}); got != want {
		t.Errorf("custom-origin = %s, want %s", got, want)
	}
	human := e.mustStrata("status")
	for _, want := range []string{"  " + url + "\n", "CustomOrigin: " + desc + "\n"} {
		if !strings.Contains(human, want) {
			t.Errorf("status lacks %q:\n%s", want, human)
		}
	}

	// A rebase to a ref names its origin itself: the custom one goes.
	e.mustStrata("rebase", stableRefspec)
	d = e.rawDeployments()[0]
	if _, ok := d["custom-origin"]; ok || d["origin"] != stableRefspec {
		t.Errorf("after rebase to %s: origin %v custom-origin %v", stableRefspec, d["origin"], d["custom-origin"])
	}
	human = e.mustStrata("status")
	if first, _, _ := strings.Cut(human, "\n\n"); strings.Contains(first, "CustomOrigin") || !strings.Contains(human, "CustomOrigin: "+desc) {
		t.Errorf("want the custom origin on the rollback deployment only:\n%s", human)
	}
}
