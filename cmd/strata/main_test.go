package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/client"
)

// newTestApp builds an app whose daemon connection always fails, for the
// paths that must be decided before (or without) talking to a daemon.
func newTestApp(prog string) (*app, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	a := &app{prog: prog, stdout: &out, stderr: &errb, columns: 80,
		connect: func(context.Context) (*client.Client, error) {
			return nil, errors.New("connecting to the system bus: no daemon in tests")
		}}
	return a, &out, &errb
}

func TestRunExitCodesAndMessages(t *testing.T) {
	for _, tc := range []struct {
		prog       string
		argv       []string
		code       int
		stdoutHas  string
		stderrLast string // last line of stderr
	}{
		{"strata", []string{"--version"}, 0, "Version: '", ""},
		{"rpm-ostree", []string{"--version"}, 0, "rpm-ostree:\n Version:", ""},
		{"strata", []string{"--help"}, 0, "Builtin Commands:", ""},
		{"strata", []string{"status", "--help"}, 0, "strata status [OPTION…]", ""},
		{"rpm-ostree", []string{"upgrade", "-h"}, 0, "rpm-ostree upgrade [OPTION…]", ""},
		{"strata", nil, 1, "", "error: No command specified"},
		{"strata", []string{"frobnicate"}, 1, "", "error: Unknown command 'frobnicate'"},
		{"strata", []string{"install"}, 1, "", "error: usage error: At least one PACKAGE must be specified"},
		{"strata", []string{"install", "vim"}, 1, "", "error: connecting to the system bus: no daemon in tests"},
		{"strata", []string{"install", "./x.src.rpm"}, 1, "", "error: ./x.src.rpm appears to be a source RPM"},
		{"strata", []string{"install", "--enablerepo", "x", "vim"}, 1, "", "error: --enablerepo currently only works in a container build"},
		{"strata", []string{"uninstall"}, 1, "", "error: usage error: At least one PACKAGE must be specified"},
		{"strata", []string{"override"}, 1, "", `error: No "override" subcommand specified`},
		{"strata", []string{"override", "frob"}, 1, "", `error: Unknown "override" subcommand "frob"`},
		{"strata", []string{"override", "--help"}, 0, `Builtin "override" Commands:`, ""},
		{"rpm-ostree", []string{"override", "remove", "-h"}, 0, "rpm-ostree override remove [OPTION…] PACKAGE", ""},
		{"strata", []string{"override", "reset"}, 1, "", "error: usage error: At least one PACKAGE must be specified"},
		{"strata", []string{"override", "reset", "-a", "foo"}, 1, "", "error: usage error: Cannot specify PACKAGEs with --all"},
		{"strata", []string{"override", "replace", "--freeze", "foo"}, 1, "", "error: Must specify --experimental to use --freeze or --from"},
		{"strata", []string{"refresh-md", "a", "b"}, 1, "", "error: usage error: Too few or too many arguments"},
		{"strata", []string{"db"}, 1, "", `error: No "db" subcommand specified`},
		{"strata", []string{"db", "diff", "a", "b", "c"}, 1, "", `error: usage error: "strata db diff" takes at most 2 arguments`},
		{"strata", []string{"db", "diff", "-F", "yaml"}, 1, "", "error: usage error: Format argument is invalid, pick one of: diff, block, json"},
		{"strata", []string{"db", "diff", "--format=json", "-c"}, 1, "", "error: usage error: json format and --changelogs not supported"},
		{"rpm-ostree", []string{"initramfs", "--enable", "--disable"}, 1, "", `error: usage error: Cannot simultaenously specify --enable and --disable`},
		{"rpm-ostree", []string{"initramfs", "--disable", "--arg=-I"}, 1, "", `error: usage error: Cannot simultaenously specify --disable and --arg`},
		{"rpm-ostree", []string{"initramfs", "--arg=-I"}, 1, "", `error: usage error: --arg must be used with --enable`},
		{"rpm-ostree", []string{"initramfs-etc", "--reboot"}, 1, "", `error: usage error: Cannot use ---reboot without --track, --untrack, --untrack-all, or --force-sync`},
		{"rpm-ostree", []string{"usroverlay"}, 1, "", "error: usroverlay is not supported by strata: /usr stays read-only; layer a package (`rpm-ostree install`) or deploy a new base instead"},
		{"strata", []string{"status", "--frob"}, 1, "", "error: Unknown option --frob"},
		{"rpm-ostree", []string{"install", "caf\xe9"}, 1, "", "error: Argument is invalid UTF-8"},
		{"strata", []string{"cleanup"}, 1, "", "error: cleanup: At least one cleanup option must be specified"},
		{"strata", []string{"status", "--json", "-J", "$"}, 1, "", "error: Cannot specify both --json and --jsonpath"},
		{"strata", []string{"upgrade", "-r", "--check"}, 1, "", "error: Cannot specify both --reboot and --check"},
		{"strata", []string{"upgrade", "-C", "--download-only"}, 1, "", "error: Cannot specify both --cache-only and --download-only"},
		{"strata", []string{"upgrade", "--preview", "--reboot"}, 1, "", "error: Cannot specify both --reboot and --preview"},
		{"strata", []string{"deploy"}, 1, "", "error: usage error: REVISION must be specified"},
		{"strata", []string{"rebase"}, 1, "", "error: usage error: Must specify refspec, or -b branch or -m remote"},
		{"strata", []string{"rebase", "a", "b", "c"}, 1, "", "error: usage error: Too many arguments"},
		{"strata", []string{"rebase", "/srv/repo:ref"}, 1, "", "is not implemented yet"},
		{"strata", []string{"status"}, 1, "", "error: connecting to the system bus: no daemon in tests"},
		{"strata", []string{"cleanup", "-p"}, 1, "", "error: connecting to the system bus: no daemon in tests"},
	} {
		t.Run(tc.prog+" "+strings.Join(tc.argv, " "), func(t *testing.T) {
			a, out, errb := newTestApp(tc.prog)
			code := a.run(context.Background(), tc.argv)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.Contains(out.String(), tc.stdoutHas) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.stdoutHas)
			}
			lines := strings.Split(strings.TrimRight(errb.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.stderrLast) {
				t.Errorf("stderr last line %q, want %q", last, tc.stderrLast)
			}
			if tc.code == 0 && errb.Len() != 0 {
				t.Errorf("unexpected stderr %q", errb.String())
			}
		})
	}
}

func TestUnknownCommandListsKnownOnes(t *testing.T) {
	a, _, errb := newTestApp("strata")
	a.run(context.Background(), []string{"frob"})
	for _, c := range []string{"status", "upgrade", "rebase", "deploy", "rollback", "cleanup", "cancel", "reload"} {
		if !strings.Contains(errb.String(), "\n  "+c+" ") {
			t.Errorf("command list lacks %s:\n%s", c, errb.String())
		}
	}
}

func TestErrorMessage(t *testing.T) {
	daemonErr := dbus.Error{Name: "org.projectatomic.rpmostreed.Error.Failed", Body: []any{"Transaction in progress: upgrade"}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("calling Upgrade: %w", daemonErr), "Transaction in progress: upgrade"},
		{dbus.Error{Name: "org.projectatomic.rpmostreed.Error.Failed"}, "org.projectatomic.rpmostreed.Error.Failed"},
		{fmt.Errorf("registering client: %w", dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown", Body: []any{"no such name"}}),
			"registering client: no such name"},
		{&client.FailedError{Message: "No such branch"}, "No such branch"},
		{fmt.Errorf("starting transaction: %w", context.Canceled), "Cancelled"},
		{fmt.Errorf("connecting: %w", errors.New("refused")), "connecting: refused"},
	} {
		if got := errorMessage(tc.err); got != tc.want {
			t.Errorf("errorMessage(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestCleanupElements(t *testing.T) {
	p, err := parseOptions(lookupCommand("cleanup").opts, []string{"-rpm", "--base"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cleanupElements(p), ",")
	if want := "base,pending-deploy,rollback-deploy,repomd"; got != want {
		t.Fatalf("elements %q, want %q", got, want)
	}
}

func TestNewDefault(t *testing.T) {
	a := &client.Deployment{ID: "fedora-a.0"}
	b := &client.Deployment{ID: "fedora-b.0"}
	if newDefault(a, a) || !newDefault(a, b) || !newDefault(nil, a) || newDefault(a, nil) {
		t.Fatal("newDefault misjudges a change of default deployment")
	}
}
