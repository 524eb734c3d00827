package e2e

import (
	"strings"
	"testing"
)

// Ported from rpm-ostree's tests/vmcheck/test-kernel-args.sh, on one host as
// upstream runs it. Upstream reboots after each change and reads the booted
// entry's options; here the new default deployment's boot entry is read
// instead (libostree wrote it; nothing boots it).
func TestUpstreamKernelArgs(t *testing.T) {
	e := newEnv(t, envOptions{})
	kargs := func() string { return e.mustStrata("kargs") }
	has := func(what, text, lit string) {
		t.Helper()
		if !strings.Contains(text, lit) {
			t.Errorf("%s lacks %q:\n%s", what, lit, text)
		}
	}
	hasNot := func(what, text, lit string) {
		t.Helper()
		if strings.Contains(text, lit) {
			t.Errorf("%s has %q, which it must not:\n%s", what, lit, text)
		}
	}

	// "ok kargs display matches options".
	has("kargs", kargs(), e.bootEntryOptions())

	// "ok kargs append".
	e.mustStrata("kargs", "--append=FOO=BAR", "--append=APPENDARG=VALAPPEND", "--append=APPENDARG=2NDAPPEND")
	has("boot entry", e.bootEntryOptions(), "FOO=BAR")
	has("boot entry", e.bootEntryOptions(), "APPENDARG=VALAPPEND APPENDARG=2NDAPPEND")
	has("kargs", kargs(), "FOO=BAR")
	has("kargs", kargs(), "APPENDARG=VALAPPEND APPENDARG=2NDAPPEND")

	// "ok kargs append and delete" (upstream then drops that pending
	// deployment with cleanup -p; here the next steps undo it instead).
	e.mustStrata("kargs", "--append=APPENDARG=3RDAPPEND", "--delete=APPENDARG=VALAPPEND")
	k := kargs()
	hasNot("kargs", k, "APPENDARG=VALAPPEND")
	has("kargs", k, "APPENDARG=3RDAPPEND")
	e.mustStrata("kargs", "--delete=APPENDARG=3RDAPPEND", "--append=APPENDARG=VALAPPEND")

	// "ok delete a single key/value pair".
	e.mustStrata("kargs", "--delete", "FOO")
	hasNot("boot entry", e.bootEntryOptions(), "FOO=BAR")

	// "ok failed to delete key with multiple values".
	out := e.mustFail("kargs", "--delete", "APPENDARG")
	e.expectMatch("kargs --delete APPENDARG", out, `Multiple values for key 'APPENDARG' found`)

	// "ok delete a single key/value pair from multi valued key pairs".
	e.mustStrata("kargs", "--delete", "APPENDARG=VALAPPEND")
	hasNot("boot entry", e.bootEntryOptions(), "APPENDARG=VALAPPEND")
	has("boot entry", e.bootEntryOptions(), "APPENDARG=2NDAPPEND")

	// "ok replacing one key/value pair"; the transaction names the
	// command line that started it (upstream watches status for it).
	e.mustStrata("kargs", "--append=REPLACE_TEST=TEST", "--append=REPLACE_MULTI_TEST=TEST", "--append=REPLACE_MULTI_TEST=NUMBERTWO")
	e.mustStrata("kargs", "--replace=REPLACE_TEST=HELLO")
	has("boot entry", e.bootEntryOptions(), "REPLACE_TEST=HELLO")

	// "ok failed to replace key with multiple values".
	out = e.mustFail("kargs", "--replace=REPLACE_MULTI_TEST=ERR")
	e.expectMatch("kargs --replace", out, `Multiple values for key 'REPLACE_MULTI_TEST' found`)

	// "ok replacing value from multi-valued key pairs".
	e.mustStrata("kargs", "--replace=REPLACE_MULTI_TEST=TEST=NEWTEST")
	opts := e.bootEntryOptions()
	e.expectMatch("boot entry", opts, `REPLACE_MULTI_TEST=NEWTEST`)
	e.expectNoMatch("boot entry", opts, `REPLACE_MULTI_TEST=TEST\b`)
	e.expectMatch("boot entry", opts, `REPLACE_MULTI_TEST=NUMBERTWO`)

	// "ok kargs with multiple operations", "ok kargs display with
	// multiple operations" (upstream also checks a package install in
	// between: kargs work offline, without fetching rpm-md).
	e.mustStrata("kargs", "--append=PACKAGE=TEST")
	out = e.mustStrata("kargs", "--append=PACKAGE2=TEST2")
	hasNot("kargs --append output", out, "Enabled rpm-md")
	has("boot entry", e.bootEntryOptions(), "PACKAGE=TEST")
	has("boot entry", e.bootEntryOptions(), "PACKAGE2=TEST2")
	has("kargs", kargs(), "PACKAGE=TEST")
	has("kargs", kargs(), "PACKAGE2=TEST2")

	// "ok kargs appended with append-if-missing only if missing".
	e.mustStrata("kargs", "--append-if-missing=PACKAGE3=TEST3")
	before := kargs()
	has("kargs", before, "PACKAGE3=TEST3")
	e.mustStrata("kargs", "--append-if-missing=PACKAGE3=TEST3")
	if after := kargs(); after != before {
		t.Errorf("append-if-missing of a present karg changed kargs:\n%s\n%s", before, after)
	}

	// "ok kargs deleted with delete-if-present only if present".
	e.mustStrata("kargs", "--delete-if-present=PACKAGE3=TEST3")
	before = kargs()
	hasNot("kargs", before, "PACKAGE3=TEST3")
	e.mustStrata("kargs", "--delete-if-present=PACKAGE3=TEST3")
	if after := kargs(); after != before {
		t.Errorf("delete-if-present of an absent karg changed kargs:\n%s\n%s", before, after)
	}

	// "ok exit 77 when unchanged kargs with unchanged-exit-77".
	e.exitCode([]string{"kargs", "--append-if-missing=PACKAGE3=TEST3", "--unchanged-exit-77"}, 0)
	if rc := e.exitCode([]string{"kargs", "--append-if-missing=PACKAGE3=TEST3", "--unchanged-exit-77"}, 0, 77); rc != 77 {
		t.Errorf("unchanged append-if-missing --unchanged-exit-77 exited %d, want 77", rc)
	}
	e.exitCode([]string{"kargs", "--delete-if-present=PACKAGE3=TEST3", "--unchanged-exit-77"}, 0)
	if rc := e.exitCode([]string{"kargs", "--delete-if-present=PACKAGE3=TEST3", "--unchanged-exit-77"}, 0, 77); rc != 77 {
		t.Errorf("unchanged delete-if-present --unchanged-exit-77 exited %d, want 77", rc)
	}

	// "ok for append-if-missing and delete-if-present with existing key".
	e.mustStrata("kargs", "--append-if-missing=PACKAGE4=TEST4")
	has("kargs", kargs(), "PACKAGE4=TEST4")
	e.mustStrata("kargs", "--append-if-missing=PACKAGE4=NEWTEST")
	has("kargs", kargs(), "PACKAGE4=NEWTEST")
	if rc := e.exitCode([]string{"kargs", "--delete-if-present=PACKAGE4=TEST", "--unchanged-exit-77"}, 0, 77); rc != 77 {
		t.Errorf("delete-if-present of an absent value --unchanged-exit-77 exited %d, want 77", rc)
	}

	// "ok for append and append-if-missing with the same value".
	e.mustStrata("kargs", "--append=foo", "--append-if-missing=foo")
	k = kargs()
	hasNot("kargs", k, "foo foo")
	has("kargs", k, "foo")
	e.mustStrata("kargs", "--append-if-missing=bar=foo", "--append-if-missing=bar=foo")
	k = kargs()
	hasNot("kargs", k, "bar=foo bar=foo")
	has("kargs", k, "bar=foo")

	// "ok kargs correctly displayed for specific deployment indices" is
	// left out: --deploy-index is refused clearly (see UPSTREAM.md).
	out = e.mustFail("kargs", "--deploy-index=1")
	e.expectMatch("kargs --deploy-index", out, `not (implemented|supported)`)
}
