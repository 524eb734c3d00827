package e2e

import (
	"os"
	"path/filepath"
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

	// "ok kargs correctly displayed for specific deployment indices": after
	// a rollback the deployment at index 1 is the one just written.
	e.mustStrata("rollback")
	k = e.mustStrata("kargs", "--deploy-index=1")
	e.expectMatch("kargs --deploy-index=1", k, `REPLACE_MULTI_TEST=NUMBERTWO`)
	e.expectMatch("kargs --deploy-index=1", k, `APPENDARG=2NDAPPEND`)
	// Going back (upstream reboots into it): the default is that one again.
	e.mustStrata("rollback")
	e.expectMatch("kargs", kargs(), `REPLACE_MULTI_TEST=NEWTEST`)

	// "ok import kargs from current deployment". Upstream compares with
	// /proc/cmdline of the booted VM; this host is not booted from its
	// sysroot, so the deployment it would boot (the default one's entry)
	// stands for it.
	entry := e.bootEntryOptions()
	for _, arg := range strings.Fields(e.mustStrata("kargs", "--import-proc-cmdline")) {
		if strings.HasPrefix(arg, "ostree=") {
			continue // upstream skips it too: the boot version may differ
		}
		has("boot entry", entry, arg)
	}
	out = e.mustFail("kargs", "--import-proc-cmdline", "--deploy-index=0")
	has("kargs --import-proc-cmdline --deploy-index", out, "Cannot specify both --import-from-proc-cmdline and --deploy-index")

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

	out = e.mustFail("kargs", "--deploy-index=9")
	has("kargs --deploy-index=9", out, "Out of range deployment index 9")
}

// rpm-ostree's `kargs --editor` (no upstream test case: it opens $EDITOR on
// a temporary file); here EDITOR is a script that edits the file.
func TestKargsEditor(t *testing.T) {
	e := newEnv(t, envOptions{})
	dir := t.TempDir()
	script := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	before := e.mustStrata("kargs")

	// The file holds the arguments (without ostree=) after '#' comments;
	// the script appends one argument to that line.
	t.Setenv("EDITOR", script("append.sh", `grep -q '^#' "$1" && sed -i '$ s/$/ EDITED=yes/' "$1"`))
	e.mustStrata("kargs", "--editor")
	entry := e.bootEntryOptions()
	if !strings.Contains(entry, "EDITED=yes") {
		t.Errorf("boot entry lacks EDITED=yes:\n%s", entry)
	}
	for _, arg := range strings.Fields(before) {
		if !strings.HasPrefix(arg, "ostree=") && !strings.Contains(entry, arg) {
			t.Errorf("boot entry lost %q:\n%s", arg, entry)
		}
	}

	// An editor that changes nothing, or empties the file, changes nothing.
	t.Setenv("EDITOR", "true")
	out := e.mustFail("kargs", "--editor")
	e.expectMatch("kargs --editor (unchanged)", out, `The kernel arguments remained the same`)
	t.Setenv("EDITOR", script("empty.sh", `: > "$1"`))
	out = e.mustFail("kargs", "--editor")
	e.expectMatch("kargs --editor (emptied)", out, `The kernel arguments can not be empty`)
	out = e.mustFail("kargs", "--editor", "--append=X=1")
	e.expectMatch("kargs --editor --append", out, `Cannot specify --editor with`)
	if after := e.bootEntryOptions(); after != entry {
		t.Errorf("a refused edit changed the boot entry:\n%s\n%s", entry, after)
	}
}
