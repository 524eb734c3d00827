package main

import (
	"reflect"
	"testing"
)

func TestParseOptions(t *testing.T) {
	opts := []option{
		{long: "reboot", short: 'r'},
		{long: "booted", short: 'b'},
		{long: "jsonpath", short: 'J', arg: "EXPR"},
		{long: "stateroot", arg: "NAME"},
	}
	for _, tc := range []struct {
		name   string
		argv   []string
		flags  []string
		values map[string]string
		args   []string
		err    string
	}{
		{name: "empty", argv: nil},
		{name: "long flag", argv: []string{"--reboot"}, flags: []string{"reboot"}},
		{name: "short flag", argv: []string{"-r"}, flags: []string{"reboot"}},
		{name: "grouped shorts", argv: []string{"-rb"}, flags: []string{"reboot", "booted"}},
		{name: "value with =", argv: []string{"--stateroot=fedora"}, values: map[string]string{"stateroot": "fedora"}},
		{name: "value separate", argv: []string{"--stateroot", "fedora"}, values: map[string]string{"stateroot": "fedora"}},
		{name: "short value attached", argv: []string{"-J$.a"}, values: map[string]string{"jsonpath": "$.a"}},
		{name: "short value separate", argv: []string{"-J", "$.a"}, values: map[string]string{"jsonpath": "$.a"}},
		{name: "flag then short value", argv: []string{"-rJ", "$"}, flags: []string{"reboot"}, values: map[string]string{"jsonpath": "$"}},
		{name: "last value wins", argv: []string{"--stateroot=a", "--stateroot=b"}, values: map[string]string{"stateroot": "b"}},
		{name: "flags among positionals", argv: []string{"ref", "-r", "rev"}, flags: []string{"reboot"}, args: []string{"ref", "rev"}},
		{name: "double dash", argv: []string{"--", "-r", "x"}, args: []string{"-r", "x"}},
		{name: "lone dash is positional", argv: []string{"-"}, args: []string{"-"}},
		{name: "unknown long", argv: []string{"--frob"}, err: "Unknown option --frob"},
		{name: "unknown short", argv: []string{"-x"}, err: "Unknown option -x"},
		{name: "missing value", argv: []string{"--stateroot"}, err: "Missing argument for --stateroot"},
		{name: "missing short value", argv: []string{"-J"}, err: "Missing argument for -J"},
		{name: "flag with value", argv: []string{"--reboot=yes"}, err: "Unexpected argument for --reboot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseOptions(opts, tc.argv)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("want error %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var flags []string
			for _, o := range opts {
				if p.flag(o.long) {
					flags = append(flags, o.long)
				}
			}
			if !reflect.DeepEqual(flags, tc.flags) {
				t.Errorf("flags = %v, want %v", flags, tc.flags)
			}
			if tc.values == nil {
				tc.values = map[string]string{}
			}
			if !reflect.DeepEqual(p.values, tc.values) {
				t.Errorf("values = %v, want %v", p.values, tc.values)
			}
			if !reflect.DeepEqual(p.args, tc.args) {
				t.Errorf("args = %q, want %q", p.args, tc.args)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		name string
		rest []string
	}{
		{[]string{"status", "-v"}, "status", []string{"-v"}},
		{[]string{"-q", "upgrade", "--check"}, "upgrade", []string{"-q", "--check"}},
		{[]string{"rebase", "fedora:f40", "abc"}, "rebase", []string{"fedora:f40", "abc"}},
		{[]string{"--version"}, "", []string{"--version"}},
		{[]string{"--", "status"}, "", []string{"--", "status"}},
	} {
		name, rest := splitCommand(tc.argv)
		if name != tc.name || !reflect.DeepEqual(rest, tc.rest) {
			t.Errorf("splitCommand(%q) = %q %q, want %q %q", tc.argv, name, rest, tc.name, tc.rest)
		}
	}
}

func TestProgName(t *testing.T) {
	for in, want := range map[string]string{
		"strata":              "strata",
		"/usr/bin/strata":     "strata",
		"rpm-ostree":          "rpm-ostree",
		"/usr/bin/rpm-ostree": "rpm-ostree",
		"./rpm-ostree-wrap":   "strata",
	} {
		if got := progName(in); got != want {
			t.Errorf("progName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"vim":               "vim",
		"fedora:f40/x86_64": "fedora:f40/x86_64",
		"a b":               "'a b'",
		"it's":              `'it'\''s'`,
		"":                  "''",
		"pkg>=1":            "'pkg>=1'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
