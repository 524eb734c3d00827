package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Helpers for the tests ported from rpm-ostree's own suite (upstream_*_test.go,
// listed in UPSTREAM.md). Upstream checks `status --json` with jq expressions
// and files with grep regexes; these say the same in Go.

// rawDeployments is `strata status --json`'s deployments as generic JSON, so
// that a test can ask whether a key is present at all, as jq does.
func (e *env) rawDeployments(args ...string) []map[string]any {
	e.t.Helper()
	out := e.mustStrata(append([]string{"status", "--json"}, args...)...)
	var s struct {
		Deployments []map[string]any `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	return s.Deployments
}

// jqLen is jq's `length` of a key of a deployment: the length of an array
// or object, -1 when the key is missing or null.
func jqLen(d map[string]any, key string) int {
	switch v := d[key].(type) {
	case []any:
		return len(v)
	case map[string]any:
		return len(v)
	case string:
		return len(v)
	}
	return -1
}

// jqTruthy is jq's truthiness of a key: absent, null and false are false.
func jqTruthy(d map[string]any, key string) bool {
	v, ok := d[key]
	return ok && v != nil && v != false
}

// jqStrings is an array of strings under key ("requested-packages").
func jqStrings(d map[string]any, key string) []string {
	var out []string
	if a, ok := d[key].([]any); ok {
		for _, v := range a {
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

// jqPairNEVRAs is the first elements of the package tuples under key, e.g.
// `[.deployments[0]["base-removals"][][0]]` (each a (nevra, name, ...) tuple),
// or with nested=true `[...[][i][0]]` for base-local-replacements, whose
// entries are ((new...), (old...)) and i picks new (0) or old (1).
func jqTupleNEVRAs(d map[string]any, key string, nested bool, i int) []string {
	var out []string
	a, _ := d[key].([]any)
	for _, entry := range a {
		tuple, _ := entry.([]any)
		if nested {
			if len(tuple) <= i {
				continue
			}
			tuple, _ = tuple[i].([]any)
		}
		if len(tuple) > 0 {
			out = append(out, fmt.Sprint(tuple[0]))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// expectJQ fails unless cond holds, naming the upstream jq expression it
// stands for and showing the deployment.
func (e *env) expectJQ(cond bool, expr string, d any) {
	e.t.Helper()
	if !cond {
		b, _ := json.MarshalIndent(d, "", "  ")
		e.t.Errorf("status --json: %s does not hold:\n%s", expr, b)
	}
}

// expectMatch is assert_file_has_content: the regex (grep's basic syntax
// written as Go's) must match some line of text.
func (e *env) expectMatch(what, text, re string) {
	e.t.Helper()
	if !regexp.MustCompile("(?m)" + re).MatchString(text) {
		e.t.Errorf("%s does not match %q:\n%s", what, re, text)
	}
}

// expectNoMatch is assert_not_file_has_content.
func (e *env) expectNoMatch(what, text, re string) {
	e.t.Helper()
	if regexp.MustCompile("(?m)" + re).MatchString(text) {
		e.t.Errorf("%s matches %q, which it must not:\n%s", what, re, text)
	}
}

// mustFail runs a command that must fail and returns its combined output
// (upstream's `if cmd &> err.txt; then assert_not_reached; fi`).
func (e *env) mustFail(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.strata(args...)
	if code == 0 {
		e.t.Fatalf("strata %v succeeded, want a failure:\n%s%s", args, out, errOut)
	}
	return out + errOut
}

// exitCode runs a command and returns its exit code, failing the test on
// any exit other than the allowed ones.
func (e *env) exitCode(args []string, allowed ...int) int {
	e.t.Helper()
	out, errOut, code := e.strata(args...)
	for _, a := range allowed {
		if code == a {
			return code
		}
	}
	e.t.Fatalf("strata %v exited %d, want one of %v: %s%s\ndaemon log:\n%s", args, code, allowed, out, errOut, e.daemonLog())
	return code
}

// readDeploymentFile is a file of the index-th deployment's checkout.
func (e *env) readDeploymentFile(index int, path string) string {
	e.t.Helper()
	b, err := os.ReadFile(e.deploymentDir(index) + "/" + strings.TrimPrefix(path, "/"))
	if err != nil {
		e.t.Fatalf("reading %s of deployment %d: %v", path, index, err)
	}
	return string(b)
}
